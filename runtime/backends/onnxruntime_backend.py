"""ONNX Runtime engine for .onnx artifacts: CPU by default, CUDA / TensorRT execution providers on request."""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, NotAvailableError, UsageError
from ..foreign import from_ultralytics, is_ultralytics_metadata
from ..metadata import ModelMetadata, metadata_from_json
from .base import Artifact, Backend, BackendOptions, TensorSpec

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def _dims(shape) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


def _providers(device: str) -> list:
    kind, _, index = (device or "cpu").lower().partition(":")
    if kind not in PROVIDERS:
        raise UsageError(f"onnxruntime: unknown device '{device}' (use cpu, cuda[:N] or tensorrt[:N])")
    import onnxruntime as ort

    wanted = PROVIDERS[kind]
    if wanted not in ort.get_available_providers():
        raise NotAvailableError(
            f"onnxruntime: device '{device}' needs {wanted}, which this onnxruntime build lacks "
            f"(available: {', '.join(ort.get_available_providers())}; install onnxruntime-gpu on an NVIDIA host)")
    if kind == "cpu":
        return [wanted]
    return [(wanted, {"device_id": int(index or 0)}), "CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    engine = "onnxruntime"
    requires = ("onnxruntime", "pip install 'edgeseg[onnx]'")

    def __init__(self, artifact: Artifact, options: BackendOptions):
        import onnxruntime as ort

        if options.exec_precision not in (None, "fp32"):
            raise UsageError(f"onnxruntime runs the precision stored in the file; --exec-precision "
                             f"{options.exec_precision} is not supported (export with --half for fp16)")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.threads:
            opts.intra_op_num_threads = int(options.threads)  # else ORT's default: one per physical core
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(artifact.path), opts, providers=_providers(options.device))
        except (NotAvailableError, UsageError):
            raise
        except Exception as err:
            raise ModelFormatError(f"{artifact.path}: onnxruntime cannot load this model ({str(err).splitlines()[0][:300]})") from None
        self.inputs = [TensorSpec(i.name, _dims(i.shape), i.type) for i in self.session.get_inputs()]
        self.outputs = [TensorSpec(o.name, _dims(o.shape), o.type) for o in self.session.get_outputs()]
        self.input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32
        self.embedded_metadata = self._embedded(str(artifact.path))
        self.exec_precision = "fp32"

    def _embedded(self, origin: str) -> ModelMetadata | None:
        props = self.session.get_modelmeta().custom_metadata_map
        if "edgeseg" in props:
            return metadata_from_json(props["edgeseg"], origin)
        if is_ultralytics_metadata(props):
            return from_ultralytics(props, origin)
        return None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(v, dtype=self.input_dtype) for k, v in feeds.items()}
        values = self.session.run(None, feeds)  # InferenceSession.run is thread-safe
        return {spec.name: np.asarray(v, dtype=np.float32) for spec, v in zip(self.outputs, values)}
