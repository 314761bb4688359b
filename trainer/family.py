"""Model families as data: one description per family (trainer/families/*.yaml: layer rows, repeats, channels, the
n/s/m/l/x scale table, the head's kind), read by one builder (trainer/model.py). Adding a family is one more
description file here (or in a directory named by EDGESEG_MODEL_FAMILIES); nothing in the runtime, the exporters
or the CLI changes."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from edgeseg.runtime.checks import strict_fields
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.safe_yaml import read_yaml

FAMILIES_ENV = "EDGESEG_MODEL_FAMILIES"  # extra directories of family descriptions (os.pathsep-separated)
DEFAULT_FAMILY = "yolov8-seg"


@dataclass(frozen=True)
class HeadSpec:
    reg_max: int = 16
    depthwise_cls: bool = False
    end2end: bool = False
    proto26: bool = False


@dataclass(frozen=True)
class Family:
    name: str
    prefix: str  # model names are <prefix><scale>-seg
    scales: dict[str, tuple[float, float, int]]
    layers: tuple[tuple[Any, int, str, tuple], ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    c3k_scales: tuple[str, ...] = ()
    origin: str = ""

    def model_name(self, scale: str | None) -> str:
        return f"{self.prefix}{scale}-seg" if scale else f"{self.prefix}-seg-custom"


def _parse(data: Any, origin: str) -> Family:
    raw = strict_fields(Family, data, origin, "family keys")
    for key in ("name", "prefix", "scales", "layers"):
        if key not in raw:
            raise UsageError(f"{origin}: a model family needs '{key}'")
    scales = {str(k): (float(v[0]), float(v[1]), int(v[2])) for k, v in raw["scales"].items()}
    layers = []
    for i, row in enumerate(raw["layers"]):
        if not isinstance(row, list) or len(row) != 4 or not isinstance(row[2], str):
            raise UsageError(f"{origin}: layer {i} must be [from, repeats, block, args], got {str(row)[:80]}")
        src = row[0] if isinstance(row[0], int) else tuple(row[0])
        layers.append((src, int(row[1]), row[2], tuple(row[3] or ())))
    head = HeadSpec(**strict_fields(HeadSpec, raw.get("head", {}), f"{origin} head", "head keys"))
    return Family(str(raw["name"]), str(raw["prefix"]), scales, tuple(layers), head,
                  tuple(raw.get("c3k_scales", ())), origin)


def _description_files() -> list[Path]:
    files = [Path(str(p)) for p in resources.files("edgeseg.trainer.families").iterdir() if p.name.endswith(".yaml")]
    for folder in filter(None, os.environ.get(FAMILIES_ENV, "").split(os.pathsep)):
        files += sorted(Path(folder).glob("*.yaml"))
    return files


@lru_cache(maxsize=8)
def _load(paths: tuple[Path, ...]) -> dict[str, Family]:
    found: dict[str, Family] = {}
    for path in paths:
        family = _parse(read_yaml(path), str(path))
        found.setdefault(family.name, family)
    return found


def families() -> dict[str, Family]:
    """Every known family by name (bundled first, then EDGESEG_MODEL_FAMILIES)."""
    return _load(tuple(sorted(_description_files(), key=lambda p: (p.parent.name != "families", str(p)))))


def get_family(name: str) -> Family:
    known = families()
    if name not in known:
        raise UsageError(f"unknown model family '{name}' (known: {', '.join(known)})")
    return known[name]


def parse_model_name(name: str) -> tuple[Family, str] | None:
    """'yolo11n-seg' (optionally with .yaml/.yml) -> (its family, 'n'); None when no family has that name."""
    base = Path(name).name.lower()
    for family in families().values():
        match = re.match(rf"^{re.escape(family.prefix)}([a-z])-seg(?:\.ya?ml)?$", base)
        if match and match.group(1) in family.scales:
            return family, match.group(1)
    return None


def model_names() -> list[str]:
    return [family.model_name(scale) for family in families().values() for scale in family.scales]
