"""Device profiles: TOML data checked against a schema (unknown keys and wrong types are errors). Code reads the
profile's fields; it never branches on a device's name."""
from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from edgeseg.runtime.errors import UsageError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    formats: tuple[str, ...]  # artifact formats to produce, first is the primary one
    precision: str
    imgsz: int
    batch: int
    engines: tuple[str, ...]  # runtime engine preference on the device
    dynamic: bool = False
    calibration: dict[str, Any] = field(default_factory=dict)  # e.g. {required = true, images = 300}
    constraints: dict[str, Any] = field(default_factory=dict)  # e.g. {static_shapes = true, op_set = "edgetpu"}
    build: dict[str, Any] = field(default_factory=dict)  # how to build/run on the device (commands, notes)


_TYPES = {"name": str, "description": str, "formats": list, "precision": str, "imgsz": int, "batch": int,
          "engines": list, "dynamic": bool, "calibration": dict, "constraints": dict, "build": dict}


def parse_profile(data: dict, origin: str) -> DeviceProfile:
    known = {f.name for f in fields(DeviceProfile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{origin}: unknown keys {unknown} (allowed: {sorted(known)})")
    required = [f.name for f in fields(DeviceProfile) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in data]
    if missing:
        raise UsageError(f"{origin}: missing keys {missing}")
    for key, value in data.items():
        if not isinstance(value, _TYPES[key]) or (_TYPES[key] is int and isinstance(value, bool)):
            raise UsageError(f"{origin}: '{key}' must be {_TYPES[key].__name__}, got {value!r}")
    if data["precision"] not in PRECISIONS:
        raise UsageError(f"{origin}: precision must be one of {PRECISIONS}, got {data['precision']!r}")
    if data["imgsz"] <= 0 or data["imgsz"] % 32 or data["batch"] < 1:
        raise UsageError(f"{origin}: imgsz must be a positive multiple of 32 and batch >= 1")
    if not data["formats"] or not data["engines"] or not all(isinstance(x, str) for x in data["formats"] + data["engines"]):
        raise UsageError(f"{origin}: 'formats' and 'engines' must be non-empty lists of names")
    return DeviceProfile(**{**data, "formats": tuple(data["formats"]), "engines": tuple(data["engines"])})


def _profile_files() -> dict[str, Any]:
    return {p.name[:-5]: p for p in resources.files("edgeseg.devices").iterdir() if p.name.endswith(".toml")}


def profile_names() -> list[str]:
    return sorted(_profile_files())


def load_profile(name_or_path: str) -> DeviceProfile:
    """A bundled profile by name, or a TOML file of the same schema."""
    files = _profile_files()
    path = Path(name_or_path)
    if name_or_path in files:
        text, origin = files[name_or_path].read_text(encoding="utf-8"), f"devices/{name_or_path}.toml"
    elif path.suffix == ".toml" and path.is_file():
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        raise UsageError(f"unknown device profile '{name_or_path}' (available: {', '.join(sorted(files))})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{origin}: invalid TOML ({err})") from None
    profile = parse_profile(data, origin)
    if profile.name != Path(origin).stem and name_or_path in files:
        raise UsageError(f"{origin}: 'name' is {profile.name!r} but the file is {Path(origin).stem}.toml")
    return profile
