"""The one post-processing path: raw head outputs -> filtered, NMS'd detections -> Results with masks."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .checks import NON_NEGATIVE_INT, PROBABILITY, Range, check_number
from .decode import RAW_KEYS
from .letterbox import LetterboxInfo
from .masks import assemble_masks
from .nms import batched_nms
from .results import Results


@dataclass(frozen=True)
class PostprocessConfig:
    """Defaults follow the reference's predict settings (val uses conf 0.001 and multi_label)."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    mask_threshold: float = 0.5
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    multi_label: bool = False
    max_nms: int = 30000
    drop_empty: bool = True  # a detection whose mask is empty inside its box is dropped, as the reference does
    nms: bool | None = None  # None: the model's own (no NMS on an end-to-end model's final detections)

    def __post_init__(self) -> None:
        check_number(self.conf, "conf", PROBABILITY)
        check_number(self.iou, "iou", PROBABILITY)
        check_number(self.max_det, "max_det", Range(1, 100_000, integer=True))
        check_number(self.mask_threshold, "mask_threshold", Range(0, 1, lo_open=True, hi_open=True))
        check_number(self.max_nms, "max_nms", Range(1, 10_000_000, integer=True))
        if self.classes is not None:
            for c in self.classes:
                check_number(c, "classes", NON_NEGATIVE_INT)


PREDICT_CONFIG = PostprocessConfig()
VAL_CONFIG = PostprocessConfig(conf=0.001, multi_label=True)  # COCO evaluation scores the low-confidence tail too


def configure(base: PostprocessConfig | None = None, **overrides) -> PostprocessConfig:
    """`base` (predict's defaults when None) with the given fields changed; checked once, here."""
    from dataclasses import replace

    return replace(base or PREDICT_CONFIG, **overrides)


def check_raw_outputs(raw: dict[str, np.ndarray], num_classes: int | None = None) -> None:
    """Fail with a clear message when a backend's outputs do not have the canonical layout."""
    missing = [k for k in RAW_KEYS if k not in raw]
    if missing:
        raise ValueError(f"model outputs lack {missing}; got {sorted(raw)}")
    b, n, _ = raw["boxes"].shape
    for key in ("scores", "mask_coeffs"):
        if raw[key].shape[:2] != (b, n):
            raise ValueError(f"output {key} has shape {raw[key].shape}, expected ({b}, {n}, ...)")
    if raw["protos"].shape[:2] != (b, raw["mask_coeffs"].shape[2]):
        raise ValueError(f"protos {raw['protos'].shape} do not match {raw['mask_coeffs'].shape[2]} mask coefficients")
    if num_classes is not None and raw["scores"].shape[2] != num_classes:
        raise ValueError(
            f"the model outputs {raw['scores'].shape[2]} class scores but its metadata names {num_classes} classes"
        )


def select_candidates(scores: np.ndarray, cfg: PostprocessConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(anchor index, class id, confidence) of every candidate above conf, best max_nms kept."""
    if cfg.multi_label:
        anchor, cls = np.nonzero(scores > cfg.conf)
        conf = scores[anchor, cls]
    else:
        anchor = np.flatnonzero(scores.max(axis=1) > cfg.conf)  # one pass over all anchors, argmax only on survivors
        cls = scores[anchor].argmax(axis=1)
        conf = scores[anchor, cls]
    if cfg.classes is not None:
        keep = np.isin(cls, cfg.classes)
        anchor, cls, conf = anchor[keep], cls[keep], conf[keep]
    if len(conf) > cfg.max_nms:
        top = np.argsort(-conf, kind="stable")[: cfg.max_nms]
        top.sort()
        anchor, cls, conf = anchor[top], cls[top], conf[top]
    return anchor, cls, conf


def postprocess_one(
    raw: dict[str, np.ndarray], index: int, info: LetterboxInfo, names: dict[int, str], cfg: PostprocessConfig
) -> Results:
    """Detections of batch item `index` as Results in original-image coordinates."""
    scores = raw["scores"][index]
    anchor, cls, conf = select_candidates(scores, cfg)
    boxes_in = raw["boxes"][index][anchor]
    if cfg.nms is False:  # final detections: best first, capped at max_det
        keep = np.argsort(-conf, kind="stable")[: cfg.max_det]
    else:
        keep = batched_nms(boxes_in, conf, cls, cfg.iou, cfg.max_det, cfg.agnostic)
    anchor, cls, conf = anchor[keep], cls[keep], conf[keep]
    boxes = info.to_original(boxes_in[keep])
    coeffs = raw["mask_coeffs"][index][anchor]
    protos = np.asarray(raw["protos"][index], dtype=np.float32)
    masks, nonempty = assemble_masks(protos, coeffs, boxes, info, cfg.mask_threshold)
    if cfg.drop_empty and not nonempty.all():
        boxes, conf, cls, masks = boxes[nonempty], conf[nonempty], cls[nonempty], masks.select(nonempty)
    return Results(
        boxes=boxes.astype(np.float32),
        scores=conf.astype(np.float32),
        class_ids=cls.astype(np.int64),
        instance_masks=masks,
        names=names,
        orig_shape=info.orig_shape,
    )


def postprocess(
    raw: dict[str, np.ndarray],
    infos: list[LetterboxInfo],
    names: dict[int, str],
    cfg: PostprocessConfig | None = None,
) -> list[Results]:
    """Batched raw outputs -> one Results per image, with the post-processing time recorded on each."""
    cfg = cfg or PostprocessConfig()
    check_raw_outputs(raw, len(names) if names else None)
    out = []
    for i, info in enumerate(infos):
        start = time.perf_counter()
        result = postprocess_one(raw, i, info, names, cfg)
        result.speed["postprocess"] = (time.perf_counter() - start) * 1000
        out.append(result)
    return out
