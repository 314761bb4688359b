"""Deterministic greedy NMS in numpy: stable score ordering, no wall-clock limit, class-aware by default."""
from __future__ import annotations

import numpy as np

MAX_WH = 7680  # class offset for class-aware NMS; larger than any input side


def box_iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box against (N,4) boxes, in float64 to stay exact under class offsets."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_det: int | None = None) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first; ties keep input order (stable sort).

    A box is suppressed when its IoU with a kept box is strictly greater than `iou_threshold`.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    boxes = np.asarray(boxes, dtype=np.float64)
    limit = len(order) if max_det is None else max_det
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        if not rest.size:
            break
        order = rest[box_iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    max_det: int | None = None,
    agnostic: bool = False,
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other (unless agnostic)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if not agnostic and len(boxes):
        boxes = boxes + (np.asarray(class_ids, dtype=np.float64) * MAX_WH)[:, None]
    return nms(boxes, scores, iou_threshold, max_det)
