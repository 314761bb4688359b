"""Training arguments: the reference's names and defaults, one frozen-by-convention dataclass saved as args.yaml."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

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
    workers: int = 2
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
    amp: bool = True
    val: bool = True
    rect: bool = False  # rectangular validation batches (default: the exported models' square letterbox)
    plots: bool = True
    max_batches: int | None = None  # stop each epoch after this many batches (smoke tests)
    sync_bn: bool = False
    clip_grad: float = 10.0
    ema_decay: float = 0.9999

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or self.imgsz < 32 or self.imgsz % 32:
            raise UsageError(f"epochs and batch must be >= 1 and imgsz a multiple of 32 (got {self.epochs}, {self.batch}, {self.imgsz})")
        if self.workers < 0 or self.patience < 0:
            raise UsageError("workers and patience must be >= 0")
        if self.optimizer not in ("auto", "SGD", "Adam", "AdamW"):
            raise UsageError(f"optimizer must be auto, SGD, Adam or AdamW, got {self.optimizer}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainArgs":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown training arguments: {', '.join(unknown)}")
        return cls(**data)
