"""ONNX Runtime INT8: static QDQ with uint8 activations and int8 per-channel weights (the int8/int8 form leaves
most convs in float on x86 and runs slower than FP32), activations per tensor, the float tail excluded.

The calibration method (MinMax, Percentile, Entropy) is chosen by measurement: each candidate calibrates on
part of the set and is scored on held-out calibration images by how closely its raw outputs follow FP32.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np

from edgeseg.calibration.adapters import ort_data_reader
from edgeseg.calibration.dataset import CalibrationSet
from edgeseg.runtime.decode import RAW_KEYS
from edgeseg.runtime.errors import UsageError

from .base import QuantizeResult, Quantizer

METHODS = ("minmax", "percentile", "entropy")
SELECTION_IMAGES = 24  # images each candidate calibrates on while choosing the method
HOLDOUT_IMAGES = 8


def _method_enum(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[name]


def quantize_qdq(fp32_onnx: Path, out: Path, calib: CalibrationSet, keep_float: list[str], method: str) -> Path:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    extra = {"CalibPercentile": 99.999} if method == "percentile" else {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        logging.getLogger("root").setLevel(logging.ERROR)
        quantize_static(str(fp32_onnx), str(out), ort_data_reader(calib), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=_method_enum(method), nodes_to_exclude=list(keep_float),
                        extra_options={"ActivationSymmetric": False, **extra})
    return out


def raw_outputs(model_path: Path, feeds: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [dict(zip(RAW_KEYS, session.run(list(RAW_KEYS), {name: x}))) for x in feeds]


def output_error(ref: list[dict[str, np.ndarray]], got: list[dict[str, np.ndarray]]) -> float:
    """Mean over outputs and images of 1 - cosine similarity (0 = identical to FP32)."""
    errs = []
    for r, g in zip(ref, got):
        for key in RAW_KEYS:
            a, b = r[key].ravel().astype(np.float64), g[key].ravel().astype(np.float64)
            denom = np.linalg.norm(a) * np.linalg.norm(b)
            errs.append(1.0 - (float(a @ b / denom) if denom else 1.0))
    return float(np.mean(errs))


def choose_method(fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path) -> tuple[str, dict]:
    part, held = calib.split(HOLDOUT_IMAGES)
    part.images = part.images[:SELECTION_IMAGES]
    feeds = [held.nchw(i) for i in range(len(held))]
    ref = raw_outputs(fp32_onnx, feeds)
    scores = {}
    for method in METHODS:
        candidate = quantize_qdq(fp32_onnx, workdir / f"select_{method}.onnx", part, keep_float, method)
        scores[method] = output_error(ref, raw_outputs(candidate, feeds))
    return min(scores, key=scores.get), scores


class OrtQuantizer(Quantizer):
    engine = "onnxruntime"
    requires = ("onnxruntime", "onnx")

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        if method not in ("auto", *METHODS):
            raise UsageError(f"--calib-method must be auto or one of {', '.join(METHODS)}, got '{method}'")
        scores = {}
        if method == "auto":
            method, scores = choose_method(fp32_onnx, calib, keep_float, workdir)
        out = quantize_qdq(fp32_onnx, workdir / "model_int8.onnx", calib, keep_float, method)
        details = {"engine": self.engine, "scheme": "QDQ u8 activations per-tensor, s8 weights per-channel",
                   "method": method, "method_scores": {k: round(v, 6) for k, v in scores.items()},
                   "calibration_images": len(calib)}
        return QuantizeResult(out, details)
