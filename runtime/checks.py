"""Numbers from outside (options, metadata, checkpoints) checked where they enter: one range check and one input-size
parser, used by every command, so a bad value is one clear line naming the option or file, never a traceback,
a ZeroDivisionError or a silent clamp."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import OptionError, UsageError
from .text import plain

STRIDE = 32  # every model family edgeseg runs downsamples by 32 at its coarsest level
MAX_IMGSZ = 8192  # larger inputs are almost certainly typos (and would need tens of GB)


@dataclass(frozen=True)
class Range:
    """An allowed interval: lo/hi bounds (None = unbounded), open or closed, integers only or any real."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return f"{kind} {' and '.join(parts)}".strip()

    def contains(self, value: float) -> bool:
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))


PROBABILITY = Range(0, 1)
POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
COUNT = Range(1, integer=True)
NON_NEGATIVE_INT = Range(0, integer=True)


def check_number(value: Any, name: str, allowed: Range, origin: str | None = None) -> float | int:
    """`value` if it is a number inside `allowed`; else a UsageError naming the option (or file and key)."""
    where = f"{origin}: '{name}'" if origin else name
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (isinstance(value, float) and not math.isfinite(value)) or \
            (allowed.integer and not float(value).is_integer()) or not allowed.contains(float(value)):
        raise OptionError(f"{where} must be {allowed.describe()}, got {plain(repr(value), 80)}")
    return int(value) if allowed.integer else value


def parse_imgsz(value: Any, name: str = "--imgsz", stride: int = STRIDE, origin: str | None = None) -> tuple[int, int]:
    """640, '640', '480,640', '480x640' or (480, 640) -> (h, w): positive multiples of the stride, at most MAX_IMGSZ."""
    where = f"{origin}: '{name}'" if origin else name
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("x", ",").split(",")]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"{where} must be an integer or 'h,w', got {plain(repr(value), 80)}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) not in (1, 2):
        raise UsageError(f"{where} must be one or two integers, got {plain(repr(value), 80)}")
    if len(value) == 1:
        value = [value[0], value[0]]
    size = Range(stride, MAX_IMGSZ, integer=True)
    h, w = (check_number(v, name, size, origin) for v in value)
    if h % stride or w % stride:
        raise UsageError(f"{where} must be multiples of the model stride {stride}, got {h}x{w}")
    return int(h), int(w)


def strict_fields(cls, data: Any, origin: str, what: str = "keys") -> dict[str, Any]:
    """`data` as keyword arguments for dataclass `cls`: a mapping whose keys are all fields of `cls` (unknown keys
    are an error naming them and the allowed ones, never ignored)."""
    from dataclasses import fields

    if not isinstance(data, dict):
        raise UsageError(f"{origin}: expected a mapping of {what}, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise UsageError(f"{origin}: unknown {what} {plain(unknown, 160)} (allowed: {', '.join(sorted(known))})")
    return dict(data)
