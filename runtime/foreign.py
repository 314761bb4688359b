"""Metadata written by the reference tool (Ultralytics exports), so its users can switch runtimes without
re-exporting.

Where it lives: ONNX `metadata_props` and TFLite's appended `metadata.json` hold Python reprs ("{0: 'person'}",
"[640, 640]", "True"); OpenVINO/ncnn/Paddle `metadata.yaml` hold YAML; TorchScript's `extra/config.txt` JSON.
One reader serves all of them. It is lenient and checked: the keys edgeseg needs are parsed (literal_eval only,
never eval) and range-checked, with an error naming the file and the key; every other key, including those a
later release adds, is kept as plain-text information and never makes a file unusable.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ModelFormatError, UsageError
from .metadata import ModelMetadata, parse_names, parse_positive_int
from .safe_yaml import read_yaml

# A mapping is the reference's metadata when it has these keys (every version since 8.0 writes them).
ULTRALYTICS_KEYS = {"names", "stride", "imgsz"}
NEEDED_KEYS = ("task", "names", "imgsz", "stride", "batch", "channels", "end2end", "args", "version")
ARGS_FLAGS = ("half", "int8", "dynamic", "nms")
MAX_INFO_CHARS = 200
CHANNELS_SUPPORTED = 3


def is_ultralytics_metadata(data: Any) -> bool:
    return isinstance(data, Mapping) and ULTRALYTICS_KEYS <= set(data)


def _value(data: Mapping[str, Any], key: str, origin: str) -> Any:
    """A needed key's value: reprs are parsed with literal_eval; anything unparsable is an error naming it."""
    value = data[key]
    if not isinstance(value, str) or key in ("task", "version"):
        return value
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ModelFormatError(f"{origin}: Ultralytics metadata '{key}' is not a valid value: {value[:80]!r}") from None


def _flag(value: Any, key: str, origin: str) -> bool:
    if value is None:
        return False
    if isinstance(value, str) and value in ("True", "False", "true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ModelFormatError(f"{origin}: Ultralytics metadata '{key}' must be true or false, got {str(value)[:80]!r}")
    return value


def _imgsz(value: Any, origin: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ModelFormatError(f"{origin}: Ultralytics metadata 'imgsz' must be an integer or [h, w], got {str(value)[:80]!r}")
    return parse_positive_int(value[0], "imgsz", origin), parse_positive_int(value[1], "imgsz", origin)


def _args(parsed: dict[str, Any], origin: str) -> dict[str, Any]:
    """The export arguments the reference records (`args`): the flags edgeseg needs, checked."""
    args = parsed.get("args")
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise ModelFormatError(f"{origin}: Ultralytics metadata 'args' must be a mapping, got {str(args)[:80]!r}")
    out = {flag: _flag(args.get(flag), f"args.{flag}", origin) for flag in ARGS_FLAGS}
    quantize = args.get("quantize")  # 8.4+: 8 (INT8), 16 (FP16), 32/None (FP32), "w8a16" (int8 weights) ...
    if quantize is not None and (isinstance(quantize, bool) or not isinstance(quantize, (int, str))):
        raise ModelFormatError(f"{origin}: Ultralytics metadata 'args.quantize' must be a number or a name, "
                               f"got {str(quantize)[:80]!r}")
    out["int8"] = out["int8"] or quantize in (8, "int8", "w8a16")
    out["half"] = out["half"] or quantize in (16, "fp16")
    return out


def _info(data: Mapping[str, Any]) -> dict[str, str]:
    """Keys edgeseg does not interpret, as plain text (cut to MAX_INFO_CHARS), for `info` and reports."""
    return {str(k)[:MAX_INFO_CHARS]: str(v)[:MAX_INFO_CHARS] for k, v in data.items() if k not in NEEDED_KEYS}


def from_ultralytics(data: Mapping[str, Any], origin: str) -> ModelMetadata:
    """The reference's export metadata -> ours; a needed key with a bad value is an error naming file and key."""
    parsed = {key: _value(data, key, origin) for key in NEEDED_KEYS if key in data}
    task = parsed.get("task", "segment")
    if task != "segment":
        raise ModelFormatError(f"{origin}: an Ultralytics '{str(task)[:40]}' model; edgeseg runs segmentation models only")
    stride = parse_positive_int(parsed["stride"], "stride", origin)
    channels = parse_positive_int(parsed.get("channels", CHANNELS_SUPPORTED), "channels", origin)
    if channels != CHANNELS_SUPPORTED:
        raise ModelFormatError(f"{origin}: Ultralytics metadata 'channels' is {channels}; edgeseg runs 3-channel (RGB) models")
    args = _args(parsed, origin)
    end2end = _flag(parsed.get("end2end"), "end2end", origin)
    return ModelMetadata(
        names=parse_names(parsed["names"], origin),
        imgsz=_imgsz(parsed["imgsz"], origin),
        stride=stride,
        batch=parse_positive_int(parsed.get("batch", 1), "batch", origin),
        channels=channels,
        dynamic=args.get("dynamic", False),
        layout="end2end" if end2end or args.get("nms") else "ultralytics",
        end2end=end2end or args.get("nms", False),
        precision="int8" if args.get("int8") else "fp16" if args.get("half") else "fp32",
        edgeseg_version=f"ultralytics {str(parsed.get('version', '?'))[:40]}",
        extra=_info(data),
    )


FOREIGN_METADATA_FILE = "metadata.yaml"  # what the reference writes inside (or beside) its directory exports
MAX_METADATA_BYTES = 1 << 20


def read_metadata_yaml(path: Path) -> ModelMetadata:
    """The reference's `metadata.yaml`: safe YAML without aliases (they only serve to blow up memory here)."""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ModelFormatError(f"{path}: {path.stat().st_size} bytes is too large for a metadata file")
        data = read_yaml(path, max_aliases=0)  # the reference never writes aliases; they only serve to blow up memory
    except UsageError as err:
        raise ModelFormatError(f"unreadable metadata: {err}") from None
    except OSError as err:
        raise ModelFormatError(f"{path}: unreadable metadata ({str(err).splitlines()[0][:160]})") from None
    if not is_ultralytics_metadata(data):
        raise ModelFormatError(f"{path}: not Ultralytics metadata (needs {', '.join(sorted(ULTRALYTICS_KEYS))})")
    return from_ultralytics(data, str(path))


def find_foreign_metadata(artifact: str | Path) -> ModelMetadata | None:
    """The reference's metadata.yaml inside a directory export (`*_model/`), given the directory or a file in it."""
    artifact = Path(artifact)
    folder = artifact if artifact.is_dir() else artifact.parent
    candidate = folder / FOREIGN_METADATA_FILE
    if not candidate.is_file() or not (artifact.is_dir() or folder.name.endswith("_model")):
        return None
    return read_metadata_yaml(candidate)
