"""Device profiles: TOML data checked against a typed schema (unknown keys, wrong types and unknown format or engine
names are errors). Code reads the profile's fields; it never branches on a device's name, and every key in the
schema is read by some code (the export target, predict --profile, or `edgeseg devices`)."""
from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from edgeseg.runtime.checks import Range, check_number, strict_fields
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.formats import FORMATS

PRECISIONS = ("fp32", "fp16", "int8")
LAYOUTS = ("edgeseg", "edgeseg-raw", "ultralytics")


@dataclass(frozen=True)
class Calibration:
    """INT8 calibration: `images` is the calibration set size when the target builds one from --data."""

    images: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Build:
    """A build step that runs on (or for) the device: the export writes a bundle with a script running `command`
    (and `int8_command` when a calibration set is given) instead of the device model itself."""

    command: str | None = None
    int8_command: str | None = None
    where: str = ""  # where the script must run
    runtime: str = ""  # what to install on the device to run the model
    note: str = ""


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    formats: tuple[str, ...]  # artifact formats to produce, first is the primary one
    precision: str
    imgsz: int
    batch: int
    engines: tuple[str, ...]  # runtime engine preference on the device (predict --profile)
    dynamic: bool = False
    layout: str = "edgeseg"  # output layout the device needs (edgeseg-raw: the graph ends before the DFL)
    calibration: Calibration = field(default_factory=Calibration)
    build: Build = field(default_factory=Build)


_TYPES = {"name": str, "description": str, "formats": list, "precision": str, "imgsz": int, "batch": int,
          "engines": list, "dynamic": bool, "layout": str, "calibration": dict, "build": dict}
_SECTION_TYPES = {"images": int, "note": str, "command": str, "int8_command": str, "where": str, "runtime": str}


def _section(cls, data: dict, origin: str):
    kwargs = strict_fields(cls, data, origin, "keys")
    for key, value in kwargs.items():
        if not isinstance(value, _SECTION_TYPES[key]) or isinstance(value, bool):
            raise UsageError(f"{origin}: '{key}' must be {_SECTION_TYPES[key].__name__}, got {value!r:.80}")
    return cls(**kwargs)


def _check_names(data: dict, origin: str) -> None:
    engines = {engine for spec in FORMATS.values() for engine in spec.engines}
    if not data["formats"] or not data["engines"] or not all(isinstance(x, str) for x in data["formats"] + data["engines"]):
        raise UsageError(f"{origin}: 'formats' and 'engines' must be non-empty lists of names")
    unknown = [f for f in data["formats"] if f not in FORMATS] + [e for e in data["engines"] if e not in engines]
    if unknown:
        raise UsageError(f"{origin}: unknown format or engine names {unknown} (formats: {', '.join(FORMATS)}; "
                         f"engines: {', '.join(sorted(engines))})")


def parse_profile(data: dict, origin: str) -> DeviceProfile:
    data = strict_fields(DeviceProfile, data, origin, "keys")
    required = [f.name for f in fields(DeviceProfile) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in data]
    if missing:
        raise UsageError(f"{origin}: missing keys {missing}")
    for key, value in data.items():
        if not isinstance(value, _TYPES[key]) or (_TYPES[key] is int and isinstance(value, bool)):
            raise UsageError(f"{origin}: '{key}' must be {_TYPES[key].__name__}, got {value!r:.80}")
    if data["precision"] not in PRECISIONS:
        raise UsageError(f"{origin}: precision must be one of {PRECISIONS}, got {data['precision']!r}")
    if data["imgsz"] <= 0 or data["imgsz"] % 32 or data["batch"] < 1:
        raise UsageError(f"{origin}: imgsz must be a positive multiple of 32 and batch >= 1")
    if data.get("layout", "edgeseg") not in LAYOUTS:
        raise UsageError(f"{origin}: layout must be one of {LAYOUTS}, got {data['layout']!r:.40}")
    _check_names(data, origin)
    calibration = _section(Calibration, data.get("calibration", {}), f"{origin} [calibration]")
    if calibration.images is not None:
        check_number(calibration.images, "calibration.images", Range(1, 100_000, integer=True), origin)
    return DeviceProfile(**{**data, "formats": tuple(data["formats"]), "engines": tuple(data["engines"]),
                            "calibration": calibration, "build": _section(Build, data.get("build", {}), f"{origin} [build]")})


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
