"""TFLite full-integer INT8: int8 weights (per channel) and activations, int8 input and outputs (scale 1/255 for
the image), calibrated by onnx2tf/TFLite on our calibration set. Full-integer means no float islands, so the
float-tail list cannot be honoured; the separate outputs (or the raw layout, which ends before the DFL and
leaves the box decode to the host) are what keep boxes, scores, coefficients and protos on their own scales."""
from __future__ import annotations

import shutil
from pathlib import Path

from edgeseg.calibration.dataset import CalibrationSet

from ..tflite_convert import run_onnx2tf
from .base import QuantizeResult, Quantizer


class TfliteQuantizer(Quantizer):
    engine = "litert"
    requires = ("onnx2tf", "tensorflow", "ai_edge_litert")
    layouts = ("edgeseg", "edgeseg-raw")
    keeps_float = False
    drop_budget_floor = 1.5  # full-integer (the INT8 issue's target; Hailo-8 loses 0.6, TFLite users report 1-2)
    preferred_layout = "edgeseg-raw"  # the DFL softmax and box decode in int8 cost box precision; the host does them
    reference_engine = "onnxruntime"  # the FP32 graph it was converted from, run exactly

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        files = run_onnx2tf(fp32_onnx, calib)
        out = workdir / "model_int8.tflite"
        shutil.copy(files["int8"], out)
        details = {"engine": self.engine, "scheme": "TFLite full-integer: int8 per-channel weights, int8 per-tensor "
                   "activations, int8 I/O", "method": "tflite-default (min/max over the set)",
                   "calibration_images": len(calib)}
        return QuantizeResult(out, details)


class EdgeTpuQuantizer(TfliteQuantizer):
    """The same full-integer graph; Edge TPU graphs must end before the DFL (edgeseg-raw)."""

    layouts = ("edgeseg-raw",)
