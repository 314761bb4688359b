"""Box utilities for training (torch): CIoU and distance <-> box conversions for the DFL head."""
from __future__ import annotations

import math

import torch


def bbox_iou(box1: torch.Tensor, box2: torch.Tensor, ciou: bool = False, eps: float = 1e-7) -> torch.Tensor:
    """IoU (or Complete-IoU) of xyxy boxes, broadcasting over leading dims; returns (..., 1)."""
    b1_x1, b1_y1, b1_x2, b1_y2 = box1.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = box2.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
    w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if not ciou:
        return iou
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def bbox2dist(anchors: torch.Tensor, boxes: torch.Tensor, reg_max: float) -> torch.Tensor:
    """xyxy boxes -> ltrb distances from anchors, clamped into the DFL range [0, reg_max)."""
    lt, rb = boxes.chunk(2, -1)
    return torch.cat((anchors - lt, rb - anchors), -1).clamp_(0, reg_max - 0.01)


def dist2bbox(distance: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    lt, rb = distance.chunk(2, -1)
    return torch.cat((anchors - lt, anchors + rb), -1)
