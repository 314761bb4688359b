"""PyTorch engine for the runtime's backend interface (lives outside runtime/ because it needs torch)."""
from __future__ import annotations

import copy
import threading

import numpy as np

from edgeseg.runtime.backends.base import Artifact, Backend, BackendOptions, TensorSpec
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.metadata import ModelMetadata

_THREADS_LOCK = threading.Lock()


class TorchBackend(Backend):
    """Runs an in-memory SegmentationModel (from a name, a model file or any .pt checkpoint) with torch on CPU."""

    engine = "torch"
    formats = ("pytorch",)

    def __init__(self, model, metadata: ModelMetadata, options: BackendOptions):
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
        self.device = torch.device(options.device or "cpu")
        self.model = copy.deepcopy(model).float().eval().fuse().to(self.device)
        self.metadata = metadata
        nc, nm = metadata.num_classes, metadata.num_masks
        self.inputs = [TensorSpec("images", (None, 3, None, None))]
        self.outputs = [
            TensorSpec("boxes", (None, None, 4)), TensorSpec("scores", (None, None, nc)),
            TensorSpec("mask_coeffs", (None, None, nm)), TensorSpec("protos", (None, nm, None, None)),
        ]

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False, "torch is not installed (pip install 'edgeseg[train]')"
        return True, ""

    @classmethod
    def load(cls, artifact: Artifact, options: BackendOptions) -> "TorchBackend":
        from .checkpoint import load_checkpoint

        loaded = load_checkpoint(artifact.path)
        return cls(loaded.model, loaded.metadata, options)

    @classmethod
    def from_model(cls, model, metadata: ModelMetadata, options: BackendOptions | None = None) -> "TorchBackend":
        return cls(model, metadata, options or BackendOptions())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        (x,) = feeds.values()
        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device))
        return {k: v.float().cpu().numpy() for k, v in out.items()}
