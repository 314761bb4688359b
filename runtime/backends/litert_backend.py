"""LiteRT (TFLite) engine for `.tflite` and `*_edgetpu.tflite` artifacts: ai-edge-litert's interpreter with its
default XNNPACK CPU delegate (tensorflow's tf.lite as a fallback), the Edge TPU delegate for `_edgetpu` files.

The backend owns the format's quirks: NCHW float in -> NHWC (and int8 with the input's scale/zero point for
full-integer models) -> outputs dequantised, 4-D outputs back to NCHW, and named by the graph's output order
(onnx2tf names them `Identity`, `Identity_1`, ... or `PartitionedCall:0`, ... in that order)."""
from __future__ import annotations

import importlib.util
import os
import re
import threading

import numpy as np

from ..errors import ModelFormatError, NotAvailableError, UsageError
from ..layouts import OUTPUT_NAMES
from .base import Artifact, Backend, BackendOptions, TensorSpec

EDGETPU_LIBRARY = "libedgetpu.so.1"


def _interpreter_module():
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert import interpreter

        return interpreter
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        return tf.lite
    raise NotAvailableError("no TFLite runtime: pip install 'edgeseg[tflite]' (ai-edge-litert)")


def _output_index(name: str) -> int:
    """Position in the source graph's outputs, from onnx2tf's tensor names."""
    match = re.search(r"(?:_|:)(\d+)$", name)
    return int(match.group(1)) if match else 0


class LiteRTBackend(Backend):
    engine = "litert"
    formats = ("tflite", "edgetpu")

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("ai_edge_litert") is None and importlib.util.find_spec("tensorflow") is None:
            return False, "ai-edge-litert is not installed (pip install 'edgeseg[tflite]')"
        return True, ""

    def __init__(self, artifact: Artifact, options: BackendOptions):
        if options.exec_precision not in (None, "fp32"):
            raise UsageError(f"litert runs the precision stored in the file; --exec-precision {options.exec_precision} "
                             f"is not supported")
        module = _interpreter_module()
        delegates = [self._edgetpu(module)] if artifact.format == "edgetpu" else None
        try:
            self.interpreter = module.Interpreter(model_path=str(artifact.path), experimental_delegates=delegates,
                                                  num_threads=int(options.threads or os.cpu_count() or 1))
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ModelFormatError(f"{artifact.path}: LiteRT cannot load this model ({str(err).splitlines()[0][:200]})") from None
        meta = artifact.metadata
        if meta is None:
            raise ModelFormatError(f"{artifact.path}: .tflite models need their .edgeseg.json sidecar (export with edgeseg)")
        self.input_detail = self.interpreter.get_input_details()[0]
        details = sorted(self.interpreter.get_output_details(), key=lambda d: _output_index(d["name"]))
        names = OUTPUT_NAMES[meta.layout]
        if len(details) != len(names):
            raise ModelFormatError(f"{artifact.path}: {len(details)} outputs, but layout {meta.layout} has {len(names)}")
        self.output_details = list(zip(names, details))
        self.inputs = [TensorSpec("images", tuple(int(d) for d in self.input_detail["shape"]))]
        self.outputs = [TensorSpec(n, tuple(int(d) for d in self._nchw_shape(d["shape"]))) for n, d in self.output_details]
        self.exec_precision = "fp32"
        self._lock = threading.Lock()  # one interpreter: invoke is not reentrant

    @staticmethod
    def _edgetpu(module):
        try:
            return module.load_delegate(EDGETPU_LIBRARY)
        except (ValueError, OSError) as err:
            raise NotAvailableError(f"the Edge TPU delegate ({EDGETPU_LIBRARY}) cannot be loaded: install libedgetpu "
                                    f"from Coral's apt repository on a host with the Edge TPU attached ({err})") from None

    @staticmethod
    def _nchw_shape(shape) -> tuple:
        return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        outs = [self._run_one(img[None]) for img in batch]
        return {name: np.concatenate([o[name] for o in outs]) for name, _ in self.output_details}

    def _run_one(self, nchw: np.ndarray) -> dict[str, np.ndarray]:
        x = nchw.transpose(0, 2, 3, 1)
        detail = self.input_detail
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            x = np.clip(np.rint(x / scale + zero), info.min, info.max)
        with self._lock:
            self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(x, dtype=detail["dtype"]))
            self.interpreter.invoke()
            raw = {name: self.interpreter.get_tensor(d["index"]).copy() for name, d in self.output_details}
        out = {}
        for name, d in self.output_details:
            value = raw[name].astype(np.float32)
            if d["dtype"] != np.float32:
                scale, zero = d["quantization"]
                value = (value - zero) * scale
            out[name] = value.transpose(0, 3, 1, 2) if value.ndim == 4 else value
        return out
