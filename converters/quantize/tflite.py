"""TFLite full-integer INT8: int8 weights (per channel) and activations, int8 input and outputs (scale 1/255 for
the image), calibrated by onnx2tf/TFLite on our calibration set. Full-integer means no float islands, so the
float-tail list cannot be honoured; the separate outputs (or the raw layout, which ends before the DFL and
leaves the box decode to the host) are what keep boxes, scores, coefficients and protos on their own scales."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgeseg.calibration.dataset import CalibrationSet

from ..tflite_convert import run_onnx2tf
from .base import QuantizeResult, Quantizer


OUTLIER_FACTOR = 10.0  # an image whose FP32 output peaks this far above the set's median peak
MAX_OUTLIER_SHARE = 0.1  # more of them than this is the set's distribution, not isolated outliers: all are kept


def isolated_outliers(fp32_onnx: Path, calib: CalibrationSet) -> dict[int, float]:
    """Calibration images (index -> peak ratio) whose FP32 outputs peak more than OUTLIER_FACTOR times above the
    set's median per-image peak, when they are at most MAX_OUTLIER_SHARE of the set. TFLite calibrates by min/max,
    so one such image sets the scale of every tensor on its path: on a YOLO11n-seg trained on coco200-person-seg,
    3 of 51 images drove P5 anchors in letterbox padding to |coefficient| 18-127 (the others peak at 0.9), the
    coefficient output's int8 step became 0.97 and mask agreement with FP32 fell to 0.66. Outputs bounded to [0, 1]
    (scores) are not looked at: their int8 scale is fixed."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(fp32_onnx), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    peaks, bounded = [], None  # per image and output: |peak|, and whether every value so far lies in [0, 1]
    for i in range(len(calib)):  # one image's outputs at a time: a large set's outputs never sit in memory together
        outs = session.run(None, {name: calib.nchw(i)})
        peaks.append([float(np.abs(out).max()) for out in outs])
        in_unit = [bool(out.min() >= 0 and out.max() <= 1) for out in outs]
        bounded = in_unit if bounded is None else [b and u for b, u in zip(bounded, in_unit)]
    peaks = np.array(peaks).reshape(len(calib), -1)
    peaks = peaks[:, [not b for b in (bounded or [])]]
    if not peaks.size:
        return {}
    ratio = (peaks / np.maximum(np.median(peaks, axis=0), 1e-9)).max(axis=1)
    found = {int(i): round(float(ratio[i]), 1) for i in np.flatnonzero(ratio > OUTLIER_FACTOR)}
    return found if len(found) <= MAX_OUTLIER_SHARE * len(calib) else {}


def _without(calib: CalibrationSet, drop: dict[int, float]) -> CalibrationSet:
    keep = [i for i in range(len(calib)) if i not in drop]
    return CalibrationSet(calib.images[keep], calib.manifest, calib.manifest_sha256, calib.directory)


def _image_name(calib: CalibrationSet, index: int) -> str:
    """The image's file as the manifest records it (a subset of a set has no names: its index then)."""
    images = calib.manifest.get("images", [])
    return str(images[index].get("file", index)) if len(images) == len(calib) else f"image {index}"


def _outlier_note(calib: CalibrationSet, drop: dict[int, float]) -> str:
    files = [Path(_image_name(calib, i)).name for i in drop]
    return (f"TFLite calibration leaves out {len(drop)} of {len(calib)} images whose FP32 outputs peak "
            f"{min(drop.values()):.0f}-{max(drop.values()):.0f}x above the set's median ({', '.join(files)}): "
            f"min/max calibration would spend the int8 range on them")


class TfliteQuantizer(Quantizer):
    engine = "litert"
    requires = ("onnx2tf", "tensorflow", "ai_edge_litert", "onnxruntime")  # onnxruntime: isolated_outliers
    layouts = ("edgeseg", "edgeseg-raw")
    keeps_float = False
    drop_budget_floor = 1.5  # full-integer (the INT8 issue's target; Hailo-8 loses 0.6, TFLite users report 1-2)
    preferred_layout = "edgeseg-raw"  # the DFL softmax and box decode in int8 cost box precision; the host does them
    reference_engine = "onnxruntime"  # the FP32 graph it was converted from, run exactly

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        outliers = isolated_outliers(fp32_onnx, calib)
        files = run_onnx2tf(fp32_onnx, _without(calib, outliers))
        out = workdir / "model_int8.tflite"
        shutil.copy(files["int8"], out)
        details = {"engine": self.engine, "scheme": "TFLite full-integer: int8 per-channel weights, int8 per-tensor "
                   "activations, int8 I/O", "method": "tflite-default (min/max over the set)",
                   "calibration_images": len(calib) - len(outliers)}
        if outliers:
            details["calibration_outliers"] = {_image_name(calib, i): r for i, r in outliers.items()}
            details["note"] = _outlier_note(calib, outliers)
        return QuantizeResult(out, details)


class EdgeTpuQuantizer(TfliteQuantizer):
    """The same full-integer graph; Edge TPU graphs must end before the DFL (edgeseg-raw)."""

    layouts = ("edgeseg-raw",)
