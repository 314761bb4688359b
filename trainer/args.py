"""Training arguments: the reference's names and defaults, one frozen-by-convention dataclass saved as args.yaml."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from edgeseg.runtime.checks import (COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, PROBABILITY, Range, check_number,
                                   strict_fields)
from edgeseg.runtime.errors import UsageError

from .data.augment import AugmentConfig

_AUG = AugmentConfig()  # one place for the augmentation defaults


@dataclass
class TrainArgs:
    data: str = ""
    model: str = "yolov8n-seg"
    pretrained: str | None = None  # checkpoint to start from (edgeseg or Ultralytics); class-count changes reset the head
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    device: str = "cpu"
    workers: int | None = None  # loader processes; None: 0 on CPU (the training threads use every core), 8 on GPUs
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    resume: str | None = None
    patience: int = 100
    seed: int = 0
    deterministic: bool = True
    optimizer: str = "auto"
    lr0: float = 0.01
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 0.0005
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    cos_lr: bool = False
    nbs: int = 64
    close_mosaic: int = 10
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    mosaic: float = _AUG.mosaic
    mixup: float = _AUG.mixup
    copy_paste: float = _AUG.copy_paste
    degrees: float = _AUG.degrees
    translate: float = _AUG.translate
    scale: float = _AUG.scale
    shear: float = _AUG.shear
    perspective: float = _AUG.perspective
    hsv_h: float = _AUG.hsv_h
    hsv_s: float = _AUG.hsv_s
    hsv_v: float = _AUG.hsv_v
    fliplr: float = _AUG.fliplr
    mask_ratio: int = 4
    overlap_mask: bool = True  # overlapping instances: each pixel is the target of the smallest only (the reference's)
    amp: bool = True
    val: bool = True
    rect: bool = False  # rectangular validation batches (default: the exported models' square letterbox)
    plots: bool = True
    max_batches: int | None = None  # stop each epoch after this many batches (smoke tests)
    sync_bn: bool = False
    clip_grad: float = 10.0
    ema_decay: float = 0.9999

    def __post_init__(self) -> None:
        for name, allowed in RANGES.items():
            value = getattr(self, name)
            if value is not None or name not in OPTIONAL:
                check_number(value, f"--{name.replace('_', '-')}", allowed)
        if self.imgsz % 32:
            raise UsageError(f"--imgsz must be a multiple of the model stride 32, got {self.imgsz}")
        if self.optimizer not in ("auto", "SGD", "Adam", "AdamW"):
            raise UsageError(f"--optimizer must be auto, SGD, Adam or AdamW, got {self.optimizer!r:.80}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "training arguments") -> "TrainArgs":
        return cls(**strict_fields(cls, data, origin, "training arguments"))


# Every numeric training option and what it may be: checked where it enters (CLI, args.yaml, a checkpoint to resume).
RANGES: dict[str, Range] = {
    "epochs": Range(1, 100_000, integer=True), "imgsz": Range(32, 8192, integer=True), "batch": Range(1, 4096, integer=True),
    "workers": Range(0, 64, integer=True), "patience": NON_NEGATIVE_INT, "seed": NON_NEGATIVE_INT,
    "lr0": Range(0, 10, lo_open=True), "lrf": Range(0, 1, lo_open=True), "momentum": Range(0, 1, hi_open=True),
    "weight_decay": Range(0, 1), "warmup_epochs": Range(0, 1000), "warmup_momentum": Range(0, 1, hi_open=True),
    "warmup_bias_lr": Range(0, 10), "nbs": COUNT, "close_mosaic": NON_NEGATIVE_INT,
    "box": NON_NEGATIVE, "cls": NON_NEGATIVE, "dfl": NON_NEGATIVE,
    "mosaic": PROBABILITY, "mixup": PROBABILITY, "copy_paste": PROBABILITY, "fliplr": PROBABILITY,
    "degrees": Range(-180, 180), "translate": Range(0, 0.9), "scale": Range(0, 0.95), "shear": Range(-90, 90),
    "perspective": Range(0, 0.001), "hsv_h": PROBABILITY, "hsv_s": PROBABILITY, "hsv_v": PROBABILITY,
    "mask_ratio": Range(1, 32, integer=True), "max_batches": COUNT, "clip_grad": POSITIVE, "ema_decay": Range(0, 1, hi_open=True),
}
OPTIONAL = {"max_batches", "workers"}


def bool_options() -> set[str]:
    """The CLI spellings of every true/false training option (--plots, --no-plots, ...)."""
    names = {f.name.replace("_", "-") for f in fields(TrainArgs) if f.type in ("bool", bool)}
    return {f"--{n}" for n in names} | {f"--no-{n}" for n in names}
