"""Head-output conversions in numpy: DFL box decoding (for graphs that end before the DFL) and layout adapters.

The canonical raw layout every backend hands to post-processing is a dict of batched arrays:
``boxes`` (B,N,4) xyxy input pixels, ``scores`` (B,N,nc) probabilities, ``mask_coeffs`` (B,N,nm),
``protos`` (B,nm,H/4,W/4).
"""
from __future__ import annotations

import numpy as np

REG_MAX = 16
STRIDES = (8, 16, 32)
RAW_KEYS = ("boxes", "scores", "mask_coeffs", "protos")


def make_anchors(input_hw: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (N,2) in grid units (+0.5) and their strides (N,), level by level, row-major."""
    points, stride_col = [], []
    for s in strides:
        h, w = int(np.ceil(input_hw[0] / s)), int(np.ceil(input_hw[1] / s))
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32) + 0.5, np.arange(w, dtype=np.float32) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        stride_col.append(np.full(h * w, s, dtype=np.float32))
    return np.concatenate(points), np.concatenate(stride_col)


def dfl_decode(box_logits: np.ndarray, input_hw: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """(B,4*reg,N) box outputs -> (B,N,4) xyxy boxes in input pixels: the softmax expectation over reg bins
    (YOLOv8/11, reg 16), or the distances themselves for direct regression (YOLO26, reg 1)."""
    b, c, n = box_logits.shape
    reg = c // 4
    if reg == 1:
        dist = box_logits.reshape(b, 4, n).astype(np.float32)
    else:
        logits = box_logits.reshape(b, 4, reg, n).astype(np.float32)
        logits = logits - logits.max(axis=2, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=2, keepdims=True)
        dist = np.einsum("bkrn,r->bkn", prob, np.arange(reg, dtype=np.float32))  # (B,4,N) ltrb in grid units
    anchors, stride = make_anchors(input_hw, strides)
    if anchors.shape[0] != n:
        raise ValueError(f"box logits have {n} anchors but input {input_hw} with strides {strides} gives {anchors.shape[0]}")
    x1y1 = anchors.T[None] - dist[:, :2]
    x2y2 = anchors.T[None] + dist[:, 2:]
    return (np.concatenate([x1y1, x2y2], axis=1) * stride[None, None]).transpose(0, 2, 1)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    out = np.empty_like(xywh)
    half = xywh[..., 2:4] / 2
    out[..., :2] = xywh[..., :2] - half
    out[..., 2:4] = xywh[..., :2] + half
    return out


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    out = np.empty_like(xyxy)
    out[..., :2] = (xyxy[..., :2] + xyxy[..., 2:4]) / 2
    out[..., 2:4] = xyxy[..., 2:4] - xyxy[..., :2]
    return out


def from_ultralytics_layout(output0: np.ndarray, output1: np.ndarray) -> dict[str, np.ndarray]:
    """The reference's two outputs -> canonical dict.

    output0 is (B, 4+nc+nm, N): xywh input pixels, class probabilities, mask coefficients; output1 the protos.
    """
    if output0.ndim != 3 or output1.ndim != 4:
        raise ValueError(f"expected output0 (B,C,N) and output1 (B,nm,h,w), got {output0.shape} and {output1.shape}")
    num_masks = output1.shape[1]
    nc = output0.shape[1] - 4 - num_masks
    if nc <= 0:
        raise ValueError(f"output0 has {output0.shape[1]} channels: too few for 4 box + classes + {num_masks} coefficients")
    pred = output0.transpose(0, 2, 1)
    return {
        "boxes": xywh_to_xyxy(pred[..., :4]),
        "scores": pred[..., 4 : 4 + nc],
        "mask_coeffs": pred[..., 4 + nc :],
        "protos": output1,
    }


def from_end2end_layout(output0: np.ndarray, output1: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """Final detections (B, K, 6+nm) = x1, y1, x2, y2, score, class, coefficients -> canonical dict.

    Each row becomes one candidate whose score vector holds its score at its class (zeros elsewhere), so the
    one post-processing path applies conf, classes and max_det unchanged; it runs no NMS on them (the layout
    says they are final) unless asked to.
    """
    if output0.ndim != 3 or output1.ndim != 4 or output0.shape[2] != 6 + output1.shape[1]:
        raise ValueError(f"expected end-to-end output0 (B,K,6+nm) and output1 (B,nm,h,w), got {output0.shape} and "
                         f"{output1.shape}")
    classes = np.rint(output0[..., 5]).astype(np.int64)
    if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
        raise ValueError(f"end-to-end output names class {int(classes.max())} (or {int(classes.min())}) but the model "
                         f"has {num_classes} classes")
    scores = np.zeros(output0.shape[:2] + (num_classes,), dtype=np.float32)
    np.put_along_axis(scores, classes[..., None], output0[..., 4:5].astype(np.float32), axis=2)
    return {"boxes": output0[..., :4], "scores": scores, "mask_coeffs": output0[..., 6:], "protos": output1}


def to_ultralytics_layout(raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Canonical dict -> the reference's (output0, output1) for consumers written against it."""
    pred = np.concatenate([xyxy_to_xywh(raw["boxes"]), raw["scores"], raw["mask_coeffs"]], axis=-1)
    return pred.transpose(0, 2, 1), raw["protos"]
