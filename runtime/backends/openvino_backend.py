"""OpenVINO engine for IR directories/files and .onnx files; device names (CPU, GPU, NPU, AUTO) pass through.

Precision is explicit: an FP32 artifact runs in f32 unless bf16/fp16 execution is asked for. (OpenVINO's own
default on CPUs with AVX512-BF16, like this one, is bf16, which moves boxes by ~2 px without saying so.)

A graph with a symbolic height/width runs slower in OpenVINO's CPU plugin than the same graph reshaped to a static
size, and pays again each time the input shape changes (person yolov8n-seg, bf16 execution, the 58 val photos of
coco200-person-seg at 320 in their order: 10.5 ms per photo symbolic, 7.5 with the same inputs sorted by shape, 6.7
for a static 320x320 compile; same shape repeated: symbolic/static 1.10-1.18 in bf16, 1.01-1.10 in f32; INT8 10.5
vs 7.2 ms). A static compile costs a few hundred ms per shape, which a short run over photos of many shapes never
earns back (58 photos at 640 from a fresh load, compiling every shape: 64.9 ms per photo against 26.5 static).
So each shape is bought the way a ski rental is: a shape runs on the symbolic compile until LOSS_SHARE of the time
it has spent there reaches what compiling the graph cost at load, then gets its own static compile (up to
STATIC_SHAPES of them). A camera stream (one shape) switches after a second or two; a folder of one-off shapes
pays nothing. INT8 exports stay static by default.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from ..errors import ModelFormatError, NotAvailableError, UsageError
from ..foreign import from_ultralytics, is_ultralytics_metadata
from ..metadata import ModelMetadata, metadata_from_json
from .base import Artifact, Backend, BackendOptions, TensorSpec

RT_INFO_KEY = "edgeseg_metadata"
PRECISION_HINTS = {None: "f32", "fp32": "f32", "bf16": "bf16", "fp16": "f16"}
STATIC_SHAPES = 8  # per-shape compiles kept for a graph with symbolic height/width
LOSS_SHARE = 0.3  # share of a symbolic run's time a static compile saves (module docstring: 0.1-0.45 measured)


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
        start = time.perf_counter()
        self.compiled = core.compile_model(model, device, config)
        compile_ms = (time.perf_counter() - start) * 1000
        self._per_shape = ShapeCompiler(core, model, device, config, compile_ms) if _spatially_symbolic(model) else None
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
        static = self._per_shape.get(x.shape) if self._per_shape else None
        compiled = static or self.compiled
        start = time.perf_counter()
        result = self._request(compiled).infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        if self._per_shape and static is None:
            self._per_shape.ran_symbolic(x.shape, (time.perf_counter() - start) * 1000)
        return {spec.name: np.asarray(result[port], dtype=np.float32)
                for spec, port in zip(self.outputs, compiled.outputs)}

    def _request(self, compiled):
        """This thread's infer request on `compiled`: requests are not thread-safe, compiled models are."""
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(id(compiled))
        if request is None:
            request = requests[id(compiled)] = compiled.create_infer_request()
        return request


def _spatially_symbolic(model) -> bool:
    """True when the (single, NCHW) input's height or width is symbolic."""
    if len(model.inputs) != 1:
        return False
    shape = model.inputs[0].get_partial_shape()
    return shape.rank.is_static and shape.rank.get_length() == 4 and not (shape[2].is_static and shape[3].is_static)


class ShapeCompiler:
    """Static compiles of a symbolic graph, one per input shape, each bought once running that shape symbolically
    has cost about as much as compiling (module docstring: why)."""

    def __init__(self, core, model, device: str, config: dict, compile_ms: float):
        self.core, self.model, self.device, self.config = core, model, device, config
        self.compile_ms = compile_ms  # what the symbolic compile cost: the price of one more compile
        self.compiled: dict[tuple[int, ...], object] = {}
        self.spent: dict[tuple[int, ...], float] = {}  # ms each shape has run on the symbolic compile
        self.lock = threading.Lock()

    def ran_symbolic(self, shape: tuple[int, ...], ms: float) -> None:
        key = tuple(int(d) for d in shape)
        self.spent[key] = self.spent.get(key, 0.0) + ms

    def get(self, shape: tuple[int, ...]):
        """The static compile for `shape`: made now if the shape has earned it, else None (the symbolic compile runs)."""
        key = tuple(int(d) for d in shape)
        found = self.compiled.get(key)
        if found is not None or len(self.compiled) >= STATIC_SHAPES:
            return found
        if self.spent.get(key, 0.0) * LOSS_SHARE < self.compile_ms:
            return None
        with self.lock:
            if key not in self.compiled and len(self.compiled) < STATIC_SHAPES:
                import openvino as ov

                fixed = self.model.clone()
                fixed.reshape({fixed.inputs[0]: ov.PartialShape(list(key))})
                self.compiled[key] = self.core.compile_model(fixed, self.device, self.config)
            return self.compiled.get(key)
