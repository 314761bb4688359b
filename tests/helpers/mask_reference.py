"""A straightforward full-frame version of the reference tool's mask geometry (numpy, no windows), for checking
the runtime's windowed assembly: protos upsampled f times (f = 1, 2 or 4, the smallest that puts the letterbox
padding on whole pixels), the content part cropped on whole pixels and resized to the original image (bilinear,
half-pixel centres, edges replicated), pixels j with x1 <= j < x2 kept. tests/test_reference_parity.py holds
this geometry to the reference's own output on its exports."""
from __future__ import annotations

import math

import numpy as np


def _resample_axis(values: np.ndarray, src: np.ndarray, axis: int) -> np.ndarray:
    n = values.shape[axis]
    src = np.clip(src, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    shape = [1] * values.ndim
    shape[axis] = len(src)
    frac = frac.reshape(shape)
    return np.take(values, lo, axis=axis) * (1 - frac) + np.take(values, hi, axis=axis) * frac


def _resize(values: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    in_h, in_w = values.shape
    rows = _resample_axis(values, (np.arange(out_h) + 0.5) * in_h / out_h - 0.5, 0)
    return _resample_axis(rows, (np.arange(out_w) + 0.5) * in_w / out_w - 0.5, 1)


def full_logits(logits: np.ndarray, info) -> np.ndarray:
    """Proto-resolution logits (ph, pw) -> logits at every original pixel (h, w)."""
    ph, pw = logits.shape
    h, w = info.orig_shape
    in_h, in_w = info.input_shape
    gain = min(in_h / h, in_w / w)
    pad = (in_h - max(round(h * gain), 1)) | (in_w - max(round(w * gain), 1))
    f = 4 // math.gcd(4, pad | pad // 2)
    grid = _resize(logits.astype(np.float64), ph * f, pw * f)
    g = min(ph * f / h, pw * f / w)
    size_h, size_w = max(round(h * g), 1), max(round(w * g), 1)
    top, left = round((ph * f - size_h) / 2 - 0.1), round((pw * f - size_w) / 2 - 0.1)
    return _resize(grid[top:top + size_h, left:left + size_w], h, w)


def reference_mask(protos: np.ndarray, coef: np.ndarray, box, info, threshold: float = 0.5):
    """(mask, |logit - cut| per pixel): the mask the reference tool gives for one instance."""
    h, w = info.orig_shape
    logits = full_logits(np.tensordot(coef, protos, 1), info)
    cols, rows = np.arange(w), np.arange(h)
    inside = ((cols >= box[0]) & (cols < box[2]))[None, :] & ((rows >= box[1]) & (rows < box[3]))[:, None]
    cut = math.log(threshold / (1 - threshold))
    return (logits > cut) & inside, np.abs(logits - cut)
