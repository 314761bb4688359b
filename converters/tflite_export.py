"""TFLite / LiteRT export (FP32, FP16 weights; INT8 full-integer through the calibrated INT8 path), NHWC input.

The artifact is one `.tflite` file plus its `<file>.edgeseg.json` sidecar (the metadata; TFLite files get no
edgeseg metadata of their own). Outputs keep the ONNX graph's names and order (see tflite_convert.py for why the
conversion goes through ONNX).
"""
from __future__ import annotations

import shutil
from pathlib import Path


from .base import ExportContext, Exporter, ExportToolError
from .tflite_convert import run_onnx2tf


class TFLiteExporter(Exporter):
    single_image = True
    format = "tflite"
    source = "onnx"
    supports_dynamic = False
    input_layout = "NHWC"
    requires = ("onnx2tf", "tensorflow", "ai_edge_litert", "onnx", "onnxscript")


    def export(self, ctx: ExportContext) -> Path:
        files = run_onnx2tf(ctx.onnx_path)
        key = ctx.options.precision
        if key not in files:
            raise ExportToolError(f"onnx2tf wrote no {key} model (wrote {sorted(files)})")
        path = ctx.workdir / f"model{self.artifact_suffix}"
        shutil.copy(files[key], path)
        return path
