"""COCO-exact detection/segmentation evaluation in numpy (the algorithm of pycocotools' COCOeval: greedy
score-ordered matching per IoU threshold, crowd and area-range ignores, 101-point interpolated precision),
shared by the trainer's validation and runtime `val` so every format is scored by the same code."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .instance_masks import InstanceMasks

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETS = 100


@dataclass
class ImageEval:
    """Matching outcome of one (image, class, area range): what accumulate() needs."""

    scores: np.ndarray  # (D,)
    matched: np.ndarray  # (T, D) bool
    ignored: np.ndarray  # (T, D) bool
    num_gt: int


def match_image(ious: np.ndarray, dt_scores: np.ndarray, dt_area: np.ndarray, gt_area: np.ndarray,
                gt_crowd: np.ndarray, area: tuple[float, float], max_det: int = MAX_DETS) -> ImageEval:
    """pycocotools evaluateImg for one image/class/area range. ious: (D, G) in the original dt/gt order."""
    lo, hi = area
    gt_ignore = gt_crowd | (gt_area < lo) | (gt_area > hi)
    g_order = np.argsort(gt_ignore, kind="mergesort")
    gt_ignore, crowd = gt_ignore[g_order], gt_crowd[g_order]
    d_order = np.argsort(-dt_scores, kind="mergesort")[:max_det]
    ious = ious[d_order][:, g_order] if ious.size else np.zeros((len(d_order), len(g_order)))
    t_count, d_count = len(IOU_THRESHOLDS), len(d_order)
    matched = np.zeros((t_count, d_count), bool)
    ignored = np.zeros((t_count, d_count), bool)
    if len(g_order):
        taken = np.zeros((t_count, len(g_order)), bool)
        rev = slice(None, None, -1)  # ties go to the last gt, as in pycocotools' loop
        # thresholds above a detection's best IoU cannot match it whatever is taken: skipped (most of a weak
        # model's 100 detections overlap nothing, and this loop was 40% of a validation's time)
        reachable = np.searchsorted(np.minimum(IOU_THRESHOLDS, 1 - 1e-10), ious.max(1), side="right")
        for d in range(d_count):
            row = ious[d]
            for t in range(int(reachable[d])):
                ok = (row >= min(IOU_THRESHOLDS[t], 1 - 1e-10)) & (~taken[t] | crowd)
                for pool in (ok & ~gt_ignore, ok & gt_ignore):
                    if pool.any():
                        cand = np.where(pool, row, -1.0)[rev]
                        g = len(row) - 1 - int(cand.argmax())
                        matched[t, d], ignored[t, d] = True, gt_ignore[g]
                        taken[t, g] = True
                        break
    outside = (dt_area[d_order] < lo) | (dt_area[d_order] > hi)
    ignored |= ~matched & outside[None]
    return ImageEval(dt_scores[d_order], matched, ignored, int((~gt_ignore).sum()))


def accumulate(evals: list[ImageEval]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Precision (T, R) and recall (T,) for one class and area range over all images; -1 where no ground truth.
    Also returns the IoU-0.5 score/precision/recall curves for P/R-at-best-F1 reporting."""
    t_count = len(IOU_THRESHOLDS)
    num_gt = sum(e.num_gt for e in evals)
    precision = -np.ones((t_count, len(RECALL_THRESHOLDS)))
    recall = -np.ones(t_count)
    if num_gt == 0:
        return precision, recall, {}
    scores = np.concatenate([e.scores for e in evals]) if evals else np.zeros(0)
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([e.matched for e in evals], axis=1)[:, order]
    ignored = np.concatenate([e.ignored for e in evals], axis=1)[:, order]
    tps = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
    fps = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
    curves = {}
    for t in range(t_count):
        tp, fp = tps[t], fps[t]
        rc = tp / num_gt
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if len(rc) else 0.0
        q = np.zeros(len(RECALL_THRESHOLDS))
        if len(pr):
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
            valid = idx < len(pr)
            q[valid] = pr[idx[valid]]
        precision[t] = q
        if t == 0:
            keep = ~ignored[0]
            curves = {"scores": scores[order][keep], "tp": tps[0][keep], "fp": fps[0][keep], "num_gt": num_gt}
    return precision, recall, curves


def box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """COCO box IoU (xyxy in, areas w*h); for crowd gts the union is the detection's area."""
    if not len(dt) or not len(gt):
        return np.zeros((len(dt), len(gt)))
    dt, gt = dt.astype(np.float64), gt.astype(np.float64)
    iw = np.clip(np.minimum(dt[:, None, 2], gt[None, :, 2]) - np.maximum(dt[:, None, 0], gt[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(dt[:, None, 3], gt[None, :, 3]) - np.maximum(dt[:, None, 1], gt[None, :, 1]), 0, None)
    inter = iw * ih
    a_dt = ((dt[:, 2] - dt[:, 0]) * (dt[:, 3] - dt[:, 1]))[:, None]
    a_gt = ((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]))[None, :]
    union = np.where(crowd[None, :], a_dt, a_dt + a_gt - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def mask_iou(dt: InstanceMasks, gt: InstanceMasks, crowd: np.ndarray, dt_area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    """Exact pixel IoU of two mask sets, computed only where their windows overlap."""
    ious = np.zeros((len(dt), len(gt)))
    for d in range(len(dt)):
        for g in range(len(gt)):
            inter = dt.intersection(d, gt, g)
            if inter:
                union = dt_area[d] if crowd[g] else dt_area[d] + gt_area[g] - inter
                ious[d, g] = inter / union
    return ious


@dataclass
class KindResult:
    """Per IoU type: precision (T,R,K,A) and recall (T,K,A) as COCOeval.eval holds them, plus P/R curves."""

    precision: np.ndarray
    recall: np.ndarray
    curves: list[dict] = field(default_factory=list)
