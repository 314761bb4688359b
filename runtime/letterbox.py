"""Letterbox resize with an exact inverse: the one preprocessing geometry every backend and the trainer share."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How an original image was placed into the network input; enough to map coordinates both ways.

    Per-axis scales (resized / original) are kept, not a single gain, so the inverse is exact even when
    rounding makes the resized width and height scale slightly differently.
    """

    orig_shape: tuple[int, int]  # (h, w) of the original image
    input_shape: tuple[int, int]  # (h, w) of the network input
    scale: tuple[float, float]  # (sx, sy) = resized size / original size
    pad: tuple[int, int]  # (left, top) padding in input pixels

    def to_original(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Map boxes (N,4) from input pixels back to original pixels."""
        out = np.asarray(xyxy, dtype=np.float32).copy()
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad[0]) / self.scale[0]
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad[1]) / self.scale[1]
        if clip:
            h, w = self.orig_shape
            out[..., [0, 2]] = out[..., [0, 2]].clip(0, w)
            out[..., [1, 3]] = out[..., [1, 3]].clip(0, h)
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes (N,4) from original pixels into input pixels (the forward transform)."""
        out = np.asarray(xyxy, dtype=np.float32).copy()
        out[..., [0, 2]] = out[..., [0, 2]] * self.scale[0] + self.pad[0]
        out[..., [1, 3]] = out[..., [1, 3]] * self.scale[1] + self.pad[1]
        return out


def _as_hw(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def letterbox_geometry(
    orig_shape: tuple[int, int], imgsz: int | tuple[int, int], stride: int = 32, rect: bool = False
) -> LetterboxInfo:
    """Compute where an image of `orig_shape` lands in the input.

    rect=True pads only up to the next multiple of `stride` (for dynamic-shape models), so a 640x480
    photo at imgsz 640 runs as 480x640 instead of 640x640.
    """
    h, w = orig_shape
    if h <= 0 or w <= 0:
        raise ValueError(f"image has an empty shape {orig_shape}")
    th, tw = _as_hw(imgsz)
    r = min(th / h, tw / w)
    new_w, new_h = max(1, int(round(w * r))), max(1, int(round(h * r)))
    if rect:
        th = int(np.ceil(new_h / stride) * stride)
        tw = int(np.ceil(new_w / stride) * stride)
    dw, dh = (tw - new_w) / 2, (th - new_h) / 2
    left, top = int(round(dw - 0.1)), int(round(dh - 0.1))
    return LetterboxInfo((h, w), (th, tw), (new_w / w, new_h / h), (left, top))


def letterbox(
    image: np.ndarray, imgsz: int | tuple[int, int], stride: int = 32, rect: bool = False
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping aspect ratio (bilinear) and pad with gray 114 into the input canvas (HWC, same dtype)."""
    info = letterbox_geometry(image.shape[:2], imgsz, stride, rect)
    th, tw = info.input_shape
    new_w = int(round(info.scale[0] * info.orig_shape[1]))
    new_h = int(round(info.scale[1] * info.orig_shape[0]))
    resized = image if (new_w, new_h) == (image.shape[1], image.shape[0]) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    canvas = np.full((th, tw) + image.shape[2:], PAD_VALUE, dtype=image.dtype)
    left, top = info.pad
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, info


def to_input_tensor(images_bgr: list[np.ndarray]) -> np.ndarray:
    """Stack letterboxed BGR uint8 images into the network's float32 NCHW RGB [0,1] batch."""
    batch = np.stack(images_bgr)[..., ::-1]  # BGR -> RGB
    batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) * np.float32(1 / 255)
