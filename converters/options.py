"""Export options: one frozen object, validated up front, so no exporter silently changes what was asked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeseg.runtime.errors import UsageError

LAYOUTS = ("edgeseg", "ultralytics", "edgeseg-raw")
MIN_OPSET = 17


@dataclass(frozen=True)
class ExportOptions:
    """What to export. `imgsz` is (h, w); `dynamic` makes batch and spatial size symbolic."""

    format: str
    imgsz: tuple[int, int] = (640, 640)
    batch: int = 1
    dynamic: bool = False
    half: bool = False
    opset: int | None = None
    simplify: bool = True
    layout: str = "edgeseg"
    output: Path | None = None  # final artifact path; default: next to the checkpoint
    verify: bool = True
    int8: bool = False
    calib: Path | None = None  # a calibration set directory (edgeseg calib build)
    data: str | None = None  # data.yaml: calibration from its train split when no --calib, val split for --max-drop
    calib_n: int = 300
    calib_method: str = "auto"
    max_drop: float | None = 0.5  # INT8 mask mAP50-95 budget in points vs the FP32 artifact (needs data)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.imgsz
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise UsageError(f"--imgsz must be positive multiples of 32 (the model stride), got {h}x{w}")
        if self.batch < 1:
            raise UsageError(f"--batch must be >= 1, got {self.batch}")
        if self.layout not in LAYOUTS:
            raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}, got '{self.layout}'")
        if self.opset is not None and self.opset < MIN_OPSET:
            raise UsageError(f"--opset {self.opset} is too old: edgeseg exports opset {MIN_OPSET} or newer")
        if self.int8 and self.half:
            raise UsageError("--int8 and --half exclude each other: pick one precision")
        if self.int8 and self.dynamic:
            raise UsageError("INT8 exports are static-shape (calibrated at one input size); drop --dynamic")
        if self.max_drop is not None and self.max_drop < 0:
            raise UsageError(f"--max-drop must be >= 0 mAP points, got {self.max_drop}")
        if self.dynamic and self.batch != 1:
            raise UsageError("--dynamic already makes the batch size variable; do not combine it with --batch")

    @property
    def precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.half else "fp32"


def parse_imgsz(value: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """640, '640', '480,640' or (480, 640) -> (h, w)."""
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"--imgsz must be an integer or 'h,w', got '{value}'") from None
        value = nums[0] if len(nums) == 1 else nums
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise UsageError(f"--imgsz must be one or two integers, got {value}")
    return int(value[0]), int(value[1])
