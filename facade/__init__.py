"""edgeseg: YOLOv8-seg instance segmentation from training to edge devices.

`edgeseg.Model(...)` mirrors the reference's facade; `edgeseg.runtime` is the torch-free device runtime.
Attributes are resolved lazily so `import edgeseg` stays cheap and never imports torch.
"""
from ._version import __version__

__all__ = ["__version__", "Model", "load"]


def __getattr__(name: str):
    if name in ("Model", "load"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")
