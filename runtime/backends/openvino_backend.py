"""OpenVINO engine for IR directories/files and .onnx files; device names (CPU, GPU, NPU, AUTO) pass through.

Precision is explicit: an FP32 artifact runs in f32 unless bf16/fp16 execution is asked for. (OpenVINO's own
default on CPUs with AVX512-BF16, like this one, is bf16, which moves boxes by ~2 px without saying so.)
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ..errors import ModelFormatError, NotAvailableError, UsageError
from ..foreign import from_ultralytics, is_ultralytics_metadata
from ..metadata import ModelMetadata, metadata_from_json
from .base import Artifact, Backend, BackendOptions, TensorSpec

RT_INFO_KEY = "edgeseg_metadata"
PRECISION_HINTS = {None: "f32", "fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def model_file(path: Path) -> Path:
    """The .xml (or .onnx) to read, given an IR directory or a file."""
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if len(xmls) != 1:
            raise ModelFormatError(f"{path}: an OpenVINO model directory must hold exactly one .xml (found {len(xmls)})")
        return xmls[0]
    return path


def _dims(partial_shape) -> tuple[int | None, ...]:
    return tuple(d.get_length() if d.is_static else None for d in partial_shape)


def _port_name(port, index: int, fallback: str) -> str:
    """A port's tensor name; IRs converted without names (the reference's) get the graph-order name."""
    names = port.get_names()
    return sorted(names)[0] if len(names) == 1 else (port.get_any_name() if names else fallback)


class OpenVinoBackend(Backend):
    engine = "openvino"
    requires = ("openvino", "pip install 'edgeseg[openvino]'")

    def __init__(self, artifact: Artifact, options: BackendOptions):
        import openvino as ov

        if options.exec_precision not in PRECISION_HINTS:
            raise UsageError(f"openvino: --exec-precision must be fp32, bf16 or fp16, got {options.exec_precision}")
        core = ov.Core()
        device = (options.device or "CPU").upper()
        present = core.available_devices
        if device.split(".")[0] not in ("AUTO", "MULTI", "HETERO") and device.split(".")[0] not in {d.split(".")[0] for d in present}:
            raise NotAvailableError(f"openvino: device '{device}' is not present here (available: {', '.join(present)})")
        path = model_file(Path(artifact.path))
        try:
            model = core.read_model(str(path))
        except Exception as err:
            raise ModelFormatError(f"{path}: OpenVINO cannot read this model ({str(err).splitlines()[0][:300]})") from None
        self.embedded_metadata = self._embedded(model, path)
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if device.startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[options.exec_precision]
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = int(options.threads)
        self.compiled = core.compile_model(model, device, config)
        self.exec_precision = options.exec_precision or "fp32"
        self.inputs = [TensorSpec(_port_name(p, i, "images"), _dims(p.get_partial_shape())) for i, p in enumerate(model.inputs)]
        self.outputs = [TensorSpec(_port_name(p, i, f"output{i}"), _dims(p.get_partial_shape()))
                        for i, p in enumerate(model.outputs)]
        self._local = threading.local()

    @classmethod
    def reduced_precisions(cls, options: BackendOptions) -> tuple[str, ...]:
        """bf16 / fp16 where the device computes in them natively (OPTIMIZATION_CAPABILITIES)."""
        import openvino as ov

        device = (options.device or "CPU").upper()
        try:
            caps = set(ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))
        except Exception:  # a device without the property offers nothing beyond f32
            return ()
        return tuple(p for p, cap in (("bf16", "BF16"), ("fp16", "FP16")) if cap in caps)

    @staticmethod
    def _embedded(model, path: Path) -> ModelMetadata | None:
        if model.has_rt_info(RT_INFO_KEY):
            return metadata_from_json(model.get_rt_info(RT_INFO_KEY).astype(str), str(path))
        if model.has_rt_info(["framework"]):  # an ONNX file read by OpenVINO: its metadata_props land here
            keys = list(model.get_rt_info(["framework"]).value)
            props = {str(k): model.get_rt_info(["framework", str(k)]).astype(str) for k in keys}
            if is_ultralytics_metadata(props):
                return from_ultralytics(props, str(path))
            if "edgeseg" in props:
                return metadata_from_json(props["edgeseg"], str(path))
        return None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:  # one infer request per thread: requests are not thread-safe, the compiled model is
            request = self._local.request = self.compiled.create_infer_request()
        (x,) = feeds.values()
        result = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return {spec.name: np.asarray(result[port], dtype=np.float32)
                for spec, port in zip(self.outputs, self.compiled.outputs)}
