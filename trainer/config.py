"""Model descriptions: the YOLOv8-seg scales by name, or custom depth/width/nc from a YAML or TOML file."""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.safe_yaml import read_yaml
from edgeseg.runtime.text import plain

# scale -> (depth multiple, width multiple, max channels), the published YOLOv8 table
SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.33, 0.25, 1024),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.25, 512),
}
NAME_PATTERN = re.compile(r"^yolov8([nsmlx])-seg(?:\.(?:yaml|yml))?$")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that determines the network's shape."""

    depth: float
    width: float
    max_channels: int
    nc: int = 80
    num_masks: int = 32
    proto_channels: int = 256
    reg_max: int = 16
    scale: str | None = None

    def __post_init__(self) -> None:
        if not (0 < self.depth <= 4 and 0 < self.width <= 4):
            raise UsageError(f"model depth/width multiples must be in (0, 4], got {self.depth}/{self.width}")
        if self.nc < 1 or self.num_masks < 1 or self.max_channels < 8:
            raise UsageError(f"invalid model config: nc={self.nc}, num_masks={self.num_masks}, max_channels={self.max_channels}")

    @property
    def name(self) -> str:
        return f"yolov8{self.scale}-seg" if self.scale else "yolov8-seg-custom"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "model config") -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{origin}: unknown model config keys {unknown} (known: {sorted(known)})")
        try:
            return cls(**data)
        except TypeError as err:
            raise UsageError(f"{origin}: {err}") from None


def config_from_name(name: str, nc: int = 80) -> ModelConfig:
    """'yolov8n-seg' (optionally with .yaml) -> its config."""
    match = NAME_PATTERN.match(Path(name).name.lower())
    if not match:
        raise UsageError(f"unknown model name '{name}' (expected yolov8n-seg, yolov8s-seg, yolov8m-seg, yolov8l-seg or yolov8x-seg)")
    scale = match.group(1)
    depth, width, max_ch = SCALES[scale]
    return ModelConfig(depth, width, max_ch, nc=nc, scale=scale)


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
    scale = data.pop("scale", None)
    if scale is not None:
        if scale not in SCALES:
            raise UsageError(f"{path}: unknown scale '{scale}' (expected one of {', '.join(SCALES)})")
        depth, width, max_ch = SCALES[scale]
        data.setdefault("depth", depth)
        data.setdefault("width", width)
        data.setdefault("max_channels", max_ch)
        data["scale"] = scale
    for key in ("depth", "width", "max_channels"):
        if key not in data:
            raise UsageError(f"{path}: missing '{key}' (or give 'scale: n|s|m|l|x')")
    return ModelConfig.from_dict(data, str(path))


def is_model_name(text: str) -> bool:
    return bool(NAME_PATTERN.match(Path(str(text)).name.lower())) and not Path(str(text)).is_file()
