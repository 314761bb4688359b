"""PyTorch engine for the runtime's backend interface: .pt checkpoints (any we can load) and TorchScript files.
It lives outside runtime/ because it needs torch, and plugs in through the `edgeseg.backends` entry point."""
from __future__ import annotations

import copy
import json
import threading

import numpy as np

from edgeseg.runtime.backends.base import Artifact, Backend, BackendOptions, TensorSpec
from edgeseg.runtime.errors import ModelFormatError, UsageError
from edgeseg.runtime.foreign import from_ultralytics, is_ultralytics_metadata
from edgeseg.runtime.layouts import OUTPUT_NAMES
from edgeseg.runtime.metadata import ModelMetadata, metadata_from_json

_THREADS_LOCK = threading.Lock()
TORCHSCRIPT_METADATA = "edgeseg.json"
ULTRALYTICS_TORCHSCRIPT_METADATA = "config.txt"  # where the reference keeps its metadata (JSON)


def _device(options: BackendOptions):
    import torch

    if options.device not in ("cpu", "") and not options.device.startswith("cuda"):
        raise UsageError(f"torch backend: unknown device '{options.device}' (use cpu or cuda[:N])")
    if options.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"torch backend: device '{options.device}' requested but CUDA is not available here")
    if options.exec_precision not in (None, "fp32"):
        raise UsageError(f"torch backend runs fp32 only here; --exec-precision {options.exec_precision} is not supported")
    if options.threads:
        with _THREADS_LOCK:
            torch.set_num_threads(int(options.threads))
    return torch.device(options.device or "cpu")


def _torchscript_metadata(extra: dict, origin: str) -> ModelMetadata | None:
    """Ours (`edgeseg.json`) or the reference's (`config.txt`, JSON) from the archive's extra files."""
    text = {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in extra.items()}
    if text[TORCHSCRIPT_METADATA]:
        return metadata_from_json(text[TORCHSCRIPT_METADATA], origin)
    if not text[ULTRALYTICS_TORCHSCRIPT_METADATA]:
        return None
    try:
        data = json.loads(text[ULTRALYTICS_TORCHSCRIPT_METADATA])
    except json.JSONDecodeError as err:
        raise ModelFormatError(f"{origin}: its config.txt metadata is not valid JSON ({err})") from None
    return from_ultralytics(data, f"{origin} (config.txt)") if is_ultralytics_metadata(data) else None


class TorchBackend(Backend):
    """Runs an in-memory SegmentationModel (name, description file, .pt checkpoint) or a TorchScript file."""

    engine = "torch"
    requires = ("torch", "pip install 'edgeseg[train]'")

    def __init__(self, module, metadata: ModelMetadata | None, options: BackendOptions, scripted: bool = False):
        self.device = _device(options)
        self.scripted = scripted
        self.module = module if scripted else copy.deepcopy(module).float().eval().fuse()
        self.module = self.module.to(self.device)
        self.metadata = metadata
        self.embedded_metadata = metadata
        self.inputs = [TensorSpec("images", (None, 3, None, None))]
        layout = metadata.layout if metadata else "edgeseg"
        self.outputs = [TensorSpec(name, ()) for name in OUTPUT_NAMES[layout]]


    @classmethod
    def load(cls, artifact: Artifact, options: BackendOptions) -> "TorchBackend":
        if artifact.format == "torchscript":
            return cls._load_torchscript(artifact, options)
        from .checkpoint import load_checkpoint

        loaded = load_checkpoint(artifact.path)
        return cls(loaded.model, loaded.metadata, options)

    @classmethod
    def _load_torchscript(cls, artifact: Artifact, options: BackendOptions) -> "TorchBackend":
        import torch

        extra = {TORCHSCRIPT_METADATA: "", ULTRALYTICS_TORCHSCRIPT_METADATA: ""}
        try:
            module = torch.jit.load(str(artifact.path), map_location="cpu", _extra_files=extra)
        except Exception as err:
            raise ModelFormatError(f"{artifact.path}: not a loadable TorchScript file ({str(err).splitlines()[0][:200]})") from None
        return cls(module.eval(), _torchscript_metadata(extra, str(artifact.path)) or artifact.metadata, options,
                   scripted=True)

    @classmethod
    def from_model(cls, model, metadata: ModelMetadata, options: BackendOptions | None = None) -> "TorchBackend":
        return cls(model, metadata, options or BackendOptions())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        (x,) = feeds.values()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device))
        if isinstance(out, dict):
            return {k: v.float().cpu().numpy() for k, v in out.items()}
        return {spec.name: v.float().cpu().numpy() for spec, v in zip(self.outputs, out)}
