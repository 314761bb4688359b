"""Metadata written by the reference tool (Ultralytics exports), so its users can switch runtimes without
re-exporting. Its values are Python reprs ("{0: 'person', ...}", "[640, 640]"), parsed with literal_eval only."""
from __future__ import annotations

import ast
from typing import Any

from .errors import ModelFormatError
from .metadata import ModelMetadata, parse_names

ULTRALYTICS_KEYS = {"names", "stride", "imgsz"}


def _literal(value: Any, key: str, origin: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        if key in ("task", "description", "author", "version", "date", "license", "docs"):
            return value
        raise ModelFormatError(f"{origin}: cannot parse Ultralytics metadata '{key}': {value[:80]!r}") from None


def is_ultralytics_metadata(data: dict[str, Any]) -> bool:
    return ULTRALYTICS_KEYS <= set(data)


def from_ultralytics(data: dict[str, Any], origin: str) -> ModelMetadata:
    """Ultralytics export metadata (ONNX metadata_props, OpenVINO/ncnn metadata.yaml, TFLite metadata) -> ours."""
    parsed = {k: _literal(v, k, origin) for k, v in data.items()}
    task = parsed.get("task", "segment")
    if task != "segment":
        raise ModelFormatError(f"{origin}: an Ultralytics '{task}' model; edgeseg runs segmentation models only")
    imgsz = parsed.get("imgsz", [640, 640])
    if isinstance(imgsz, int):
        imgsz = [imgsz, imgsz]
    args = parsed.get("args") if isinstance(parsed.get("args"), dict) else {}
    return ModelMetadata(
        names=parse_names(parsed["names"], origin),
        imgsz=(int(imgsz[0]), int(imgsz[1])),
        stride=int(parsed.get("stride", 32)),
        batch=int(parsed.get("batch", 1)),
        dynamic=bool(args.get("dynamic", False)),
        layout="ultralytics",
        precision="fp16" if args.get("half") else ("int8" if args.get("int8") or args.get("quantize") else "fp32"),
        edgeseg_version=f"ultralytics {parsed.get('version', '?')}",
    )
