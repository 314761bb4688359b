"""Export options: one frozen object, validated up front, so no exporter silently changes what was asked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeseg.runtime.checks import Range, check_number, parse_imgsz
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
    end2end: bool = False  # export the one-to-one head (YOLO26): final detections, no NMS in the runtime
    output: Path | None = None  # final artifact path; default: next to the checkpoint
    check_outputs: bool = True  # compare the artifact with the source model before writing it (not the CLI's --verify gate)
    int8: bool = False
    calib: Path | None = None  # a calibration set directory (edgeseg calib build)
    data: str | None = None  # data.yaml: calibration from its train split when no --calib, val split for --max-drop
    calib_n: int | None = None  # None: up to 300, all of the train split when it has fewer
    calib_method: str = "auto"
    max_drop: float | None = 0.5  # INT8 mask mAP50-95 budget in points vs the FP32 artifact (needs data)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_imgsz(self.imgsz)
        check_number(self.batch, "--batch", Range(1, 1024, integer=True))
        if self.calib_n is not None:
            check_number(self.calib_n, "--calib-n", Range(1, 100_000, integer=True))
        if self.max_drop is not None:
            check_number(self.max_drop, "--max-drop", Range(0, 100))
        if self.opset is not None:
            check_number(self.opset, "--opset", Range(1, 100, integer=True))
        if self.layout not in LAYOUTS:
            raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}, got '{self.layout}'")
        if self.opset is not None and self.opset < MIN_OPSET:
            raise UsageError(f"--opset {self.opset} is too old: edgeseg exports opset {MIN_OPSET} or newer")
        if self.int8 and self.half:
            raise UsageError("--int8 and --half exclude each other: pick one precision")
        if self.dynamic and self.batch != 1:
            raise UsageError("--dynamic already makes the batch size variable; do not combine it with --batch")

    @property
    def precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.half else "fp32"



