"""ONNX Runtime INT8: static QDQ with uint8 activations and int8 per-channel weights (the int8/int8 form leaves
most convs in float on x86 and runs slower than FP32), activations per tensor, the float tail excluded.

Weights use 7 of their 8 bits (ONNX Runtime's reduce_range). On x86 CPUs without VNNI (AVX2 only: AMD Zen 1-3,
many Intel Atom/Celeron/Core before Ice Lake) ONNX Runtime multiplies u8 x s8 with an instruction that saturates
pairs of products at 16 bits; full-range weights then clip. Measured on the person model trained on real photos
(AMD EPYC Zen 3, 320): agreement mAP with FP32 at conf 0.05 on the val split 0.754 (8-bit) vs 0.851 (7-bit), same
speed (26.3 vs 27.2 ms; FP32 33.7 ms); u8 weights avoid it too (0.95) but run slower than FP32 (36.8 ms). An
artifact does not know which CPU it will meet, so the scheme that is right on every x86 CPU is the default.

The calibration method (MinMax, Percentile, Entropy) is chosen by measurement: each candidate calibrates on
part of the set and is scored on held-out calibration images by agreement mAP with the FP32 graph (its boxes and
masks scored against FP32's through the shared post-processing and metrics), raw-output cosine breaking ties.
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
from .rewrite import conv_transpose_as_pixel_shuffle, dfl_without_transpose

METHODS = ("minmax", "percentile", "entropy")
SELECTION_IMAGES = 48  # images each candidate calibrates on while choosing the method
HOLDOUT_IMAGES = 16


def _method_enum(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[name]


def quantize_qdq(fp32_onnx: Path, out: Path, calib: CalibrationSet, keep_float: list[str], method: str,
                 reduce_range: bool = True) -> Path:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    extra = {"CalibPercentile": 99.999} if method == "percentile" else {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        logging.getLogger("root").setLevel(logging.ERROR)
        quantize_static(str(fp32_onnx), str(out), ort_data_reader(calib), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=reduce_range, calibrate_method=_method_enum(method), nodes_to_exclude=list(keep_float),
                        extra_options={"ActivationSymmetric": False, **extra})
    return out


def raw_outputs(model_path: Path, feeds: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [dict(zip(RAW_KEYS, session.run(list(RAW_KEYS), {name: x}))) for x in feeds]


def output_error(ref: list[dict[str, np.ndarray]], got: list[dict[str, np.ndarray]]) -> float:
    """Mean over outputs and images of 1 - cosine similarity (0 = identical to FP32)."""
    from edgeseg.converters.verify import cosine  # the export check's own measure

    return float(np.mean([1.0 - cosine(r[key], g[key]) for r, g in zip(ref, got) for key in RAW_KEYS]))


def predictions(raw: list[dict[str, np.ndarray]], calib: CalibrationSet) -> dict[str, tuple]:
    """Validation-style predictions on letterboxed calibration images (their own pixels are the original)."""
    from edgeseg.converters.gate import letterboxed_detections

    out = {}
    for i, outputs in enumerate(raw):
        names = {c: str(c) for c in range(outputs["scores"].shape[-1])}
        out[str(i)] = letterboxed_detections(outputs, calib.images[i].shape[:2], names)
    return out


def choose_method(fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                  reduce_range: bool = True) -> tuple[str, dict, dict]:
    """The method whose INT8 graph agrees best with FP32 (mask agreement, then box, then raw cosine); also the
    methods that could not calibrate this model, with why (they are skipped, not fatal)."""
    from edgeseg.converters.gate import agreement_of

    part, held = calib.split(HOLDOUT_IMAGES)
    part.images = part.images[:SELECTION_IMAGES]
    feeds = [held.nchw(i) for i in range(len(held))]
    ref_raw = raw_outputs(fp32_onnx, feeds)
    ref = predictions(ref_raw, held)
    names = {c: str(c) for c in range(ref_raw[0]["scores"].shape[-1])}
    scores, failed = {}, {}
    for method in METHODS:
        try:
            candidate = quantize_qdq(fp32_onnx, workdir / f"select_{method}.onnx", part, keep_float, method,
                                     reduce_range)
        except ValueError as err:  # e.g. histogram methods on a constant activation: "Too many bins for data range"
            failed[method] = str(err).splitlines()[0][:200]
            continue
        got_raw = raw_outputs(candidate, feeds)
        agree_box, agree_mask = agreement_of(ref, predictions(got_raw, held), names)
        scores[method] = (round(agree_mask, 4), round(agree_box, 4), -round(output_error(ref_raw, got_raw), 6))
    if not scores:
        from edgeseg.converters.base import ExportToolError

        raise ExportToolError(f"{fp32_onnx.name}: every calibration method failed in ONNX Runtime's quantiser "
                              f"({'; '.join(f'{k}: {v}' for k, v in failed.items())})")
    return max(scores, key=scores.get), scores, failed


class OrtQuantizer(Quantizer):
    engine = "onnxruntime"
    requires = ("onnxruntime", "onnx")
    dynamic_shapes = True  # QDQ scales are per tensor, not per shape
    # static unless --dynamic: calibrated at 320x320 and run at 256x320 the person model's val agreement with FP32 at
    # conf 0.05 was 0.848 / 0.850 (box / mask) against 0.852 / 0.853 static, at the edge of the 0.85 the tests hold
    dynamic_by_default = False
    reduce_range = True  # 7-bit weights: no u8 x s8 saturation on x86 CPUs without VNNI (module docstring)
    # The final head convs stay in float: in INT8 they save ~0.6 ms of ~9.8 at 320 but the person model's val-split
    # agreement with FP32 at conf 0.05 falls from 0.852/0.853 to 0.829/0.828 (box/mask)
    float_head_convs = True
    graph_rewrites = (dfl_without_transpose, conv_transpose_as_pixel_shuffle)

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        if method not in ("auto", *METHODS):
            raise UsageError(f"--calib-method must be auto or one of {', '.join(METHODS)}, got '{method}'")
        scores, failed = {}, {}
        if method == "auto":
            method, scores, failed = choose_method(fp32_onnx, calib, keep_float, workdir, self.reduce_range)
        out = quantize_qdq(fp32_onnx, workdir / "model_int8.onnx", calib, keep_float, method, self.reduce_range)
        details = {"engine": self.engine, "scheme": "QDQ u8 activations per-tensor, s8 weights per-channel"
                   + (" (7-bit range)" if self.reduce_range else ""),
                   "method": method, "method_scores": {k: {"agree_mask": v[0], "agree_box": v[1], "raw_error": -v[2]}
                                     for k, v in scores.items()},
                   "calibration_images": len(calib)}
        if failed:
            details["method_failures"] = failed
        return QuantizeResult(out, details)
