"""Box and mask mAP for a dataset, COCO-exact (runtime/coco_eval.py), with a metrics object shaped like the
reference's (`metrics.box.map`, `.map50`, `.map75`, `.maps`, `.mp`, `.mr`; the same under `metrics.seg`)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .instance_masks import InstanceMasks
from .coco_eval import AREA_RANGES, IOU_THRESHOLDS, ImageEval, KindResult, accumulate, box_iou, mask_iou, match_image


@dataclass
class GroundTruth:
    """One image's annotations in original pixels."""

    boxes: np.ndarray  # (M,4) xyxy
    class_ids: np.ndarray  # (M,)
    masks: InstanceMasks
    areas: np.ndarray  # (M,) the annotation area COCO filters area ranges by (mask area)
    crowd: np.ndarray  # (M,) bool


@dataclass
class DetMetrics:
    """One IoU type's summary. Attribute names follow the reference so existing scripts keep working."""

    map: float = 0.0  # mAP50-95
    map50: float = 0.0
    map75: float = 0.0
    maps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per class mAP50-95 (0 where no gt)
    map_small: float = -1.0
    map_medium: float = -1.0
    map_large: float = -1.0
    mp: float = 0.0  # mean precision at the confidence of best mean F1 (IoU 0.5)
    mr: float = 0.0  # mean recall at that confidence
    ap_class_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # classes with ground truth
    pr_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))  # mean precision at 101 recall points, IoU 0.5

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/precision": self.mp, f"{prefix}/recall": self.mr, f"{prefix}/mAP50": self.map50,
                f"{prefix}/mAP75": self.map75, f"{prefix}/mAP50-95": self.map}


@dataclass
class SegmentMetrics:
    box: DetMetrics
    seg: DetMetrics
    names: dict[int, str]
    speed: dict[str, float] = field(default_factory=dict)
    images: int = 0
    instances: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) left out or adjusted

    @property
    def results_dict(self) -> dict[str, float]:
        return {**self.box.as_dict("metrics/box"), **self.seg.as_dict("metrics/seg"), "fitness": self.fitness}

    @property
    def fitness(self) -> float:
        """Model selection score (what best.pt and patience go by): box + mask mAP50-95, the reference's rule for
        segmentation, so the same run keeps the same epoch."""
        return self.box.map + self.seg.map


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else -1.0


def _best_f1(curves: list[dict]) -> tuple[float, float]:
    """Mean precision and recall over classes at the confidence maximising mean F1 (IoU 0.5)."""
    grid = np.linspace(0, 1, 1000)
    ps, rs = [], []
    for c in curves:
        if not c or not len(c["scores"]):
            continue
        rec = c["tp"] / c["num_gt"]
        prec = c["tp"] / (c["tp"] + c["fp"])
        rs.append(np.interp(-grid, -c["scores"], rec, left=0))
        ps.append(np.interp(-grid, -c["scores"], prec, left=1))
    if not ps:
        return 0.0, 0.0
    p, r = np.array(ps), np.array(rs)
    f1 = (2 * p * r / (p + r + 1e-16)).mean(0)
    i = int(f1.argmax())
    return float(p[:, i].mean()), float(r[:, i].mean())


def summarize(result: KindResult, num_classes: int) -> DetMetrics:
    prec = result.precision  # (T, R, K, A)
    all_area = prec[..., 0]
    per_class = np.array([_mean_valid(all_area[:, :, k]) for k in range(num_classes)])
    t50, t75 = int(np.argmin(abs(IOU_THRESHOLDS - 0.5))), int(np.argmin(abs(IOU_THRESHOLDS - 0.75)))
    mp, mr = _best_f1(result.curves)
    has_gt = np.flatnonzero(per_class > -1)
    pr = all_area[t50][:, has_gt].mean(1) if len(has_gt) else np.zeros(all_area.shape[1])
    return DetMetrics(
        pr_curve=pr,
        map=max(_mean_valid(all_area), 0.0), map50=max(_mean_valid(all_area[t50]), 0.0),
        map75=max(_mean_valid(all_area[t75]), 0.0), maps=np.where(per_class > -1, per_class, 0.0),
        map_small=_mean_valid(prec[..., 1]), map_medium=_mean_valid(prec[..., 2]), map_large=_mean_valid(prec[..., 3]),
        mp=mp, mr=mr, ap_class_index=has_gt,
    )


class Evaluator:
    """Feed (ground truth, predictions) image by image; `result()` gives box and mask metrics."""

    def __init__(self, names: dict[int, str]):
        self.names = names
        self.evals = {kind: defaultdict(list) for kind in ("bbox", "segm")}  # (class, area) -> [ImageEval]
        self.images = 0
        self.instances = 0

    def add(self, gt: GroundTruth, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
            masks: InstanceMasks) -> None:
        self.images += 1
        self.instances += int((~gt.crowd).sum())
        dt_mask_area = masks.areas()
        dt_box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
        gt_mask_area = gt.masks.areas()
        for cls in np.union1d(np.unique(class_ids), np.unique(gt.class_ids)).astype(int):
            d, g = class_ids == cls, gt.class_ids == cls
            crowd = gt.crowd[g]
            ious = {"bbox": box_iou(boxes[d], gt.boxes[g], crowd),
                    "segm": mask_iou(masks.select(d), gt.masks.select(g), crowd, dt_mask_area[d], gt_mask_area[g])}
            # as pycocotools' loadRes does for results that carry a bbox (all standard ones): a detection's area,
            # which decides its area range, is its box area for segm too
            dt_area = {"bbox": dt_box_area[d], "segm": dt_box_area[d]}
            for kind in ("bbox", "segm"):
                for a, rng in enumerate(AREA_RANGES.values()):
                    ev = match_image(ious[kind], scores[d], dt_area[kind], gt.areas[g], crowd, rng)
                    self.evals[kind][(int(cls), a)].append(ev)

    def kind_result(self, kind: str) -> KindResult:
        k_count, a_count = len(self.names), len(AREA_RANGES)
        precision = -np.ones((len(IOU_THRESHOLDS), 101, k_count, a_count))
        recall = -np.ones((len(IOU_THRESHOLDS), k_count, a_count))
        curves = []
        for k in range(k_count):
            for a in range(a_count):
                evals: list[ImageEval] = self.evals[kind].get((k, a), [])
                p, r, c = accumulate(evals)
                precision[:, :, k, a], recall[:, k, a] = p, r
                if a == 0:
                    curves.append(c)
        return KindResult(precision, recall, curves)

    def result(self) -> SegmentMetrics:
        box = summarize(self.kind_result("bbox"), len(self.names))
        seg = summarize(self.kind_result("segm"), len(self.names))
        return SegmentMetrics(box, seg, self.names, images=self.images, instances=self.instances)
