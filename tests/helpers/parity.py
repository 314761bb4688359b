"""Instance-level comparison of two prediction sets (e.g. PyTorch vs an exported artifact)."""
from __future__ import annotations

import numpy as np


def compare(ref, got, box_tol: float, mask_iou_min: float, min_rate: float = 1.0) -> dict:
    """For each reference instance, its partner is the same-class instance of `got` with the nearest box
    (max abs corner difference). An instance agrees when that partner's box is within `box_tol` px and the
    masks' IoU is >= `mask_iou_min`. Asserts that at least `min_rate` of reference instances agree (1.0 for
    FP32: the same post-processing on near-identical raw outputs must give the same instances)."""
    agree, total, worst_box, worst_iou = 0, 0, 0.0, 1.0
    for r, g in zip(ref, got):
        total += len(r)
        if not len(r) or not len(g):
            continue
        dist = np.abs(r.boxes[:, None, :] - g.boxes[None, :, :]).max(-1)
        dist[r.class_ids[:, None] != g.class_ids[None, :]] = np.inf
        for i in range(len(r)):
            j = int(dist[i].argmin())
            union = (r.masks[i] | g.masks[j]).sum()
            iou = float((r.masks[i] & g.masks[j]).sum() / union) if union else 1.0
            if dist[i, j] <= box_tol and iou >= mask_iou_min:
                agree += 1
                worst_box, worst_iou = max(worst_box, float(dist[i, j])), min(worst_iou, iou)
    stats = {"reference": total, "predicted": sum(len(g) for g in got), "agree": agree,
             "max_box_px_agreeing": worst_box, "min_mask_iou_agreeing": worst_iou}
    assert total > 0, "nothing to compare: the reference predictions are empty"
    assert agree >= min_rate * total, stats
    return stats
