"""Artifact format detection from the file/directory layout (metadata can refine it once read)."""
from __future__ import annotations

from pathlib import Path

from .errors import UsageError

# suffix or directory-name ending -> format name; checked in order, so longer patterns come first.
SUFFIX_FORMATS: tuple[tuple[str, str], ...] = (
    ("_edgetpu.tflite", "edgetpu"),
    ("_openvino_model", "openvino"),
    ("_ncnn_model", "ncnn"),
    ("_saved_model", "saved_model"),
    ("_web_model", "tfjs"),
    ("_paddle_model", "paddle"),
    (".torchscript", "torchscript"),
    (".pt", "pytorch"),
    (".pth", "pytorch"),
    (".onnx", "onnx"),
    (".xml", "openvino"),
    (".tflite", "tflite"),
    (".mlpackage", "coreml"),
    (".mlmodel", "coreml"),
    (".engine", "engine"),
    (".pb", "graphdef"),
)


def detect_format(path: str | Path) -> str:
    """Format name of an artifact path; a missing path or an unknown suffix is a usage error."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such model file or directory")
    name = path.name.lower()
    for ending, fmt in SUFFIX_FORMATS:
        if name.endswith(ending):
            return fmt
    known = ", ".join(sorted({e for e, _ in SUFFIX_FORMATS}))
    raise UsageError(f"{path}: unknown model format (expected a model name like yolov8n-seg or a file ending in {known})")


def is_exported_artifact(path: str | Path) -> bool:
    """An existing file or directory of an exported format (not a checkpoint or a model name)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        return detect_format(path) != "pytorch"
    except UsageError:
        return False
