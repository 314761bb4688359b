"""OpenVINO engine for IR directories/files and .onnx files; device names (CPU, GPU, NPU, AUTO) pass through.

Precision is explicit: an FP32 artifact runs in f32 unless bf16/fp16 execution is asked for. (OpenVINO's own
default on CPUs with AVX512-BF16, like this one, is bf16, which moves boxes by ~2 px without saying so.)

A graph with a symbolic height/width is compiled once per input shape it meets (up to STATIC_SHAPES of them, then
the symbolic compile serves the rest): OpenVINO's CPU plugin runs a quantised graph with symbolic sizes ~25% slower
than the same graph reshaped to the input's static size (person yolov8n-seg INT8: 10.5 ms per 256x320 photo
symbolic, 7.2 ms reshaped to 256x320, 8.1 ms for a static 320x320 export). Only quantised graphs get this (FP32
shows no gap). Each compile costs a few hundred ms the first time a shape is met, which dominates a short run over
photos of many shapes (58 val photos at 640 from a fresh load: 64.9 ms per photo against 26.5 for the static
export), so INT8 exports stay static by default and this serves `--int8 --dynamic` deployments (a camera stream
has one shape).
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
STATIC_SHAPES = 8  # per-shape compiles kept for a graph with symbolic height/width


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
        self._per_shape = (ShapeCompiler(core, model, device, config)
                           if _spatially_symbolic(model) and _quantised(model) else None)
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
        (x,) = feeds.values()
        compiled = (self._per_shape.get(x.shape) if self._per_shape else None) or self.compiled
        requests = getattr(self._local, "requests", None)
        if requests is None:  # one infer request per thread: requests are not thread-safe, compiled models are
            requests = self._local.requests = {}
        request = requests.get(id(compiled))
        if request is None:
            request = requests[id(compiled)] = compiled.create_infer_request()
        result = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return {spec.name: np.asarray(result[port], dtype=np.float32)
                for spec, port in zip(self.outputs, compiled.outputs)}


def _spatially_symbolic(model) -> bool:
    """True when the (single, NCHW) input's height or width is symbolic."""
    if len(model.inputs) != 1:
        return False
    shape = model.inputs[0].get_partial_shape()
    return shape.rank.is_static and shape.rank.get_length() == 4 and not (shape[2].is_static and shape[3].is_static)


def _quantised(model) -> bool:
    """FakeQuantize nodes present: only quantised graphs run slower with a symbolic size (FP32: 27.4 ms symbolic vs
    26.9 ms static at 480x640), so only they are worth a compile per shape."""
    return any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


class ShapeCompiler:
    """Static compiles of a symbolic graph, one per input shape, made on first use (module docstring: why)."""

    def __init__(self, core, model, device: str, config: dict):
        self.core, self.model, self.device, self.config = core, model, device, config
        self.compiled: dict[tuple[int, ...], object] = {}
        self.lock = threading.Lock()

    def get(self, shape: tuple[int, ...]):
        """The compile for `shape`, or None once STATIC_SHAPES shapes are held (the symbolic compile then runs)."""
        key = tuple(int(d) for d in shape)
        found = self.compiled.get(key)
        if found is not None or len(self.compiled) >= STATIC_SHAPES:
            return found
        with self.lock:
            if key not in self.compiled and len(self.compiled) < STATIC_SHAPES:
                import openvino as ov

                fixed = self.model.clone()
                fixed.reshape({fixed.inputs[0]: ov.PartialShape(list(key))})
                self.compiled[key] = self.core.compile_model(fixed, self.device, self.config)
            return self.compiled.get(key)
