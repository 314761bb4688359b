"""LiteRT (TFLite) engine for `.tflite` and `*_edgetpu.tflite` artifacts: ai-edge-litert's interpreter with its
default XNNPACK CPU delegate (tensorflow's tf.lite as a fallback), the Edge TPU delegate for `_edgetpu` files.

The backend owns the format's quirks: NCHW float in -> NHWC (and int8 with the input's scale/zero point for
full-integer models) -> outputs dequantised, 4-D outputs back to NCHW, and named by the graph's output order
(onnx2tf names them `Identity`, `Identity_1`, ... or `PartitionedCall:0`, ... in that order)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import threading
import zipfile

import numpy as np

from ..errors import ModelFormatError, NotAvailableError, UsageError
from ..foreign import from_ultralytics, is_ultralytics_metadata
from ..layouts import OUTPUT_NAMES
from ..metadata import ModelMetadata
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
    """Position in the source graph's outputs, from the converters' tensor names: the last number in it
    (onnx2tf: `Identity`, `Identity_1`, `PartitionedCall:1`; litert-torch: `serving_default_output_1_output`)."""
    numbers = re.findall(r"\d+", name)
    return int(numbers[-1]) if numbers else 0


def _reference_metadata(path) -> ModelMetadata | None:
    """The reference appends a zip holding `metadata.json` to its .tflite files."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" not in archive.namelist() or archive.getinfo("metadata.json").file_size > 1 << 20:
                return None
            data = json.loads(archive.read("metadata.json").decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return from_ultralytics(data, f"{path} (metadata.json)") if is_ultralytics_metadata(data) else None


class LiteRTBackend(Backend):
    engine = "litert"

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
        self.input_detail = self.interpreter.get_input_details()[0]
        shape = tuple(int(d) for d in self.input_detail["shape"])
        self.nhwc = len(shape) == 4 and shape[-1] == 3 and shape[1] != 3  # else NCHW (litert-torch keeps it)
        self.embedded_metadata, self.denormalize = self._embedded(artifact.path)
        meta = artifact.metadata or self.embedded_metadata
        self.denormalize = self.denormalize and artifact.metadata is None  # our own exports keep pixels
        if meta is None:
            raise ModelFormatError(f"{artifact.path}: .tflite models need their .edgeseg.json sidecar (export with edgeseg)")
        details = sorted(self.interpreter.get_output_details(), key=lambda d: _output_index(d["name"]))
        names = OUTPUT_NAMES[meta.layout]
        if len(details) != len(names):
            raise ModelFormatError(f"{artifact.path}: {len(details)} outputs, but layout {meta.layout} has {len(names)}")
        self.output_details = list(zip(names, details))
        self.inputs = [TensorSpec("images", shape)]
        self.outputs = [TensorSpec(n, self._nchw_shape(d["shape"])) for n, d in self.output_details]
        self.exec_precision = "fp32"
        self._lock = threading.Lock()  # one interpreter: invoke is not reentrant

    @staticmethod
    def _edgetpu(module):
        try:
            return module.load_delegate(EDGETPU_LIBRARY)
        except (ValueError, OSError) as err:
            raise NotAvailableError(f"the Edge TPU delegate ({EDGETPU_LIBRARY}) cannot be loaded: install libedgetpu "
                                    f"from Coral's apt repository on a host with the Edge TPU attached ({err})") from None

    def _embedded(self, path) -> tuple[ModelMetadata | None, bool]:
        """The reference's metadata, its input layout as the graph has it, and whether its boxes are normalised
        (the reference exports xywh / input size so INT8 keeps score resolution; end-to-end rows stay in pixels)."""
        meta = _reference_metadata(path)
        if meta is None:
            return None, False
        meta = dataclasses.replace(meta, input_layout="NHWC" if self.nhwc else "NCHW")
        return meta, meta.layout == "ultralytics"

    def _nchw_shape(self, shape) -> tuple:
        shape = tuple(int(d) for d in shape)
        return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 and self.nhwc else shape

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        outs = [self._run_one(img[None]) for img in batch]
        return {name: np.concatenate([o[name] for o in outs]) for name, _ in self.output_details}

    def _run_one(self, nchw: np.ndarray) -> dict[str, np.ndarray]:
        x = nchw.transpose(0, 2, 3, 1) if self.nhwc else nchw
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
            out[name] = value.transpose(0, 3, 1, 2) if value.ndim == 4 and self.nhwc else value
        if self.denormalize:
            h, w = nchw.shape[2:]
            out["output0"][:, :4] *= np.array([w, h, w, h], dtype=np.float32)[None, :, None]
        return out
