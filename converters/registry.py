"""Export targets by format name; modules are imported only when their target is asked for."""
from __future__ import annotations

import importlib

from edgeseg.runtime.errors import UsageError

from .base import Exporter

EXPORTERS: dict[str, str] = {
    "torchscript": "edgeseg.converters.torchscript:TorchScriptExporter",
    "onnx": "edgeseg.converters.onnx_export:OnnxExporter",
    "openvino": "edgeseg.converters.openvino_export:OpenVinoExporter",
    "ncnn": "edgeseg.converters.ncnn_export:NcnnExporter",
    "coreml": "edgeseg.converters.coreml_export:CoreMLExporter",
    "tflite": "edgeseg.converters.tflite_export:TFLiteExporter",
    "edgetpu": "edgeseg.converters.edgetpu_export:EdgeTpuExporter",
    "saved_model": "edgeseg.converters.saved_model_export:SavedModelExporter",
    "graphdef": "edgeseg.converters.saved_model_export:GraphDefExporter",
    "tfjs": "edgeseg.converters.tfjs_export:TfjsExporter",
    "paddle": "edgeseg.converters.paddle_export:PaddleExporter",
    "engine": "edgeseg.converters.engine_export:EngineExporter",
}


def export_formats() -> list[str]:
    return list(EXPORTERS)


def get_exporter(fmt: str) -> type[Exporter]:
    if fmt not in EXPORTERS:
        raise UsageError(f"unknown export format '{fmt}' (available: {', '.join(EXPORTERS)})")
    module_name, _, attr = EXPORTERS[fmt].partition(":")
    return getattr(importlib.import_module(module_name), attr)
