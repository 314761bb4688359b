"""Model configs: a family's scale by name (yolov8n-seg, yolo11s-seg, yolo26m-seg, ...), or custom depth/width/nc from
a YAML or TOML file. The families themselves are data (trainer/family.py)."""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edgeseg.runtime.checks import strict_fields
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.safe_yaml import read_yaml
from edgeseg.runtime.text import plain

from .family import DEFAULT_FAMILY, get_family, model_names, parse_model_name


@dataclass(frozen=True)
class ModelConfig:
    """Everything that determines the network's shape."""

    depth: float
    width: float
    max_channels: int
    nc: int = 80
    num_masks: int = 32
    proto_channels: int = 256
    reg_max: int | None = None  # None: the family's (16 for YOLOv8/11, 1 for YOLO26)
    scale: str | None = None
    family: str = DEFAULT_FAMILY

    def __post_init__(self) -> None:
        if not (0 < self.depth <= 4 and 0 < self.width <= 4):
            raise UsageError(f"model depth/width multiples must be in (0, 4], got {self.depth}/{self.width}")
        if self.nc < 1 or self.num_masks < 1 or self.max_channels < 8:
            raise UsageError(f"invalid model config: nc={self.nc}, num_masks={self.num_masks}, max_channels={self.max_channels}")

    @property
    def name(self) -> str:
        return get_family(self.family).model_name(self.scale)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "model config") -> "ModelConfig":
        try:
            return cls(**strict_fields(cls, data, origin, "model config keys"))
        except TypeError as err:
            raise UsageError(f"{origin}: {err}") from None


def config_from_name(name: str, nc: int = 80) -> ModelConfig:
    """'yolov8n-seg', 'yolo11s-seg', 'yolo26m-seg' (optionally with .yaml) -> its config."""
    found = parse_model_name(name)
    if found is None:
        raise UsageError(f"unknown model name {plain(repr(name), 80)} (known: {', '.join(model_names())})")
    family, scale = found
    depth, width, max_ch = family.scales[scale]
    return ModelConfig(depth, width, max_ch, nc=nc, scale=scale, family=family.name)


def config_from_file(path: str | Path) -> ModelConfig:
    """A YAML/TOML file with either `scale: n` or explicit `depth`/`width`/`max_channels`, plus optional nc etc."""
    path = Path(path)
    if path.suffix.lower() != ".toml":
        data = read_yaml(path)
    else:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise UsageError(f"{plain(path)}: cannot read model description ({plain(err)})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a model description must be a mapping")
    data = dict(data)
    family = get_family(str(data.get("family", DEFAULT_FAMILY)))
    scale = data.pop("scale", None)
    if scale is not None:
        if scale not in family.scales:
            raise UsageError(f"{path}: unknown scale '{scale}' (expected one of {', '.join(family.scales)})")
        depth, width, max_ch = family.scales[scale]
        data.setdefault("depth", depth)
        data.setdefault("width", width)
        data.setdefault("max_channels", max_ch)
        data["scale"] = scale
    for key in ("depth", "width", "max_channels"):
        if key not in data:
            raise UsageError(f"{path}: missing '{key}' (or give 'scale: n|s|m|l|x')")
    return ModelConfig.from_dict(data, str(path))


def is_model_name(text: str) -> bool:
    return parse_model_name(str(text)) is not None and not Path(str(text)).is_file()
