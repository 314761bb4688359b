"""Deterministic greedy NMS in numpy: stable score ordering, no wall-clock limit, class-aware by default.

Candidates are visited in score order in chunks: each chunk is checked against the boxes already kept and
against itself with one IoU matrix, so the work stops as soon as `max_det` boxes are kept (validation keeps
300 of up to 30,000 candidates; predict often keeps 20), instead of comparing every candidate with every other.
"""
from __future__ import annotations

import numpy as np

FIRST_CHUNK, MAX_CHUNK = 64, 1024  # chunks grow geometrically: small when few boxes will be kept


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes, float64."""
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None,
    iou_threshold: float,
    max_det: int | None = None,
    agnostic: bool = False,
) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first; ties keep input order (stable sort). A box is suppressed
    when its IoU with a kept box of the same class (any class if agnostic) is strictly greater than the threshold."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    classes = np.zeros(len(boxes), np.int64) if agnostic or class_ids is None else np.asarray(class_ids, np.int64)
    limit = len(order) if max_det is None else max_det
    kept: list[int] = []
    start, chunk = 0, max(FIRST_CHUNK, min(2 * limit, MAX_CHUNK))
    while start < len(order):
        idx = order[start:start + chunk]
        start, chunk = start + chunk, min(2 * chunk, MAX_CHUNK)
        b, c = boxes[idx], classes[idx]
        suppressed = np.zeros(len(idx), dtype=bool)
        if kept:
            k = np.asarray(kept)
            hits = (pairwise_iou(b, boxes[k]) > iou_threshold) & (c[:, None] == classes[k][None, :])
            suppressed = hits.any(1)
        conflicts = (pairwise_iou(b, b) > iou_threshold) & (c[:, None] == c[None, :])
        for i in range(len(idx)):
            if suppressed[i]:
                continue
            kept.append(int(idx[i]))
            if len(kept) >= limit:
                return np.asarray(kept, dtype=np.int64)
            suppressed |= conflicts[i]
    return np.asarray(kept, dtype=np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_det: int | None = None) -> np.ndarray:
    """Class-agnostic greedy NMS (see batched_nms)."""
    return batched_nms(boxes, scores, None, iou_threshold, max_det, agnostic=True)
