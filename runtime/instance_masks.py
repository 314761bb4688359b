"""Per-instance masks stored as box-sized crops: full-frame (N,H,W) arrays are built only when asked for.

Why: with hundreds of detections (validation runs at conf 0.001) full-frame masks cost ~0.3 MB each to
allocate and touch; everything edgeseg itself does with masks (IoU, area, RLE, overlays) works on the crops.
"""
from __future__ import annotations

import numpy as np


class InstanceMasks:
    """K boolean masks of an HxW image; mask k is `crops[k]` placed at window (y0, y1, x0, x1), zero elsewhere."""

    def __init__(self, shape: tuple[int, int], windows: np.ndarray, crops: list[np.ndarray]):
        self.image_shape = (int(shape[0]), int(shape[1]))
        self.windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
        self.crops = crops
        self._full: np.ndarray | None = None

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> "InstanceMasks":
        return cls(shape, np.zeros((0, 4), np.int64), [])

    @classmethod
    def from_full(cls, masks: np.ndarray) -> "InstanceMasks":
        """Compact an (N,H,W) array (tight windows around each mask)."""
        windows, crops = [], []
        for m in masks:
            rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
            w = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if len(rows) else (0, 0, 0, 0)
            windows.append(w)
            crops.append(np.ascontiguousarray(m[w[0]:w[1], w[2]:w[3]], dtype=bool))
        return cls(masks.shape[1:], np.array(windows).reshape(-1, 4), crops)

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self), *self.image_shape)

    def one(self, k: int) -> np.ndarray:
        """Mask k as a full HxW array."""
        out = np.zeros(self.image_shape, dtype=bool)
        y0, y1, x0, x1 = self.windows[k]
        out[y0:y1, x0:x1] = self.crops[k]
        return out

    def full(self) -> np.ndarray:
        """All masks as (K,H,W) bool (built once, then cached)."""
        if self._full is None:
            out = np.zeros(self.shape, dtype=bool)
            for k, (y0, y1, x0, x1) in enumerate(self.windows):
                out[k, y0:y1, x0:x1] = self.crops[k]
            self._full = out
        return self._full

    def areas(self) -> np.ndarray:
        return np.array([np.count_nonzero(c) for c in self.crops], dtype=np.float64)

    def select(self, index) -> "InstanceMasks":
        idx = np.arange(len(self))[index]
        return InstanceMasks(self.image_shape, self.windows[idx], [self.crops[i] for i in idx])

    def intersection(self, k: int, other: "InstanceMasks", j: int) -> int:
        """Pixel count of (mask k) & (other mask j), computed inside the overlap of their windows."""
        a, b = self.windows[k], other.windows[j]
        y0, y1, x0, x1 = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
        if y1 <= y0 or x1 <= x0:
            return 0
        ca = self.crops[k][y0 - a[0]:y1 - a[0], x0 - a[2]:x1 - a[2]]
        cb = other.crops[j][y0 - b[0]:y1 - b[0], x0 - b[2]:x1 - b[2]]
        return int(np.count_nonzero(ca & cb))
