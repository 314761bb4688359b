"""Training augmentations on (image, polygons, classes), the YOLOv8 recipe: mosaic, random affine/perspective,
HSV jitter, horizontal flip, letterbox, optional mixup and copy-paste. Polygons are resampled densely before any
geometry and moved with the image, so masks rasterised afterwards stay exact."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgeseg.runtime.letterbox import PAD_VALUE, letterbox

RESAMPLE_POINTS = 1000


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (the YOLOv8 defaults); TrainArgs takes its defaults from here."""

    mosaic: float = 1.0
    mixup: float = 0.0
    copy_paste: float = 0.0
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    perspective: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5


@dataclass
class Sample:
    """An image with its instances: polygons in pixel coordinates of that image."""

    image: np.ndarray  # HxWx3 uint8 BGR
    polygons: list[np.ndarray]  # each (P,2) float32
    classes: np.ndarray  # (n,) int64


def resample(polygon: np.ndarray, n: int = RESAMPLE_POINTS) -> np.ndarray:
    """`n` points evenly spaced along the closed polygon (so a perspective warp bends edges correctly)."""
    closed = np.concatenate([polygon, polygon[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0], np.cumsum(seg)])
    if cum[-1] <= 0:
        return np.repeat(polygon[:1], n, axis=0).astype(np.float32)
    t = np.linspace(0, cum[-1], n, endpoint=False)
    return np.stack([np.interp(t, cum, closed[:, 0]), np.interp(t, cum, closed[:, 1])], 1).astype(np.float32)


def load_resized(sample: Sample, imgsz: int) -> Sample:
    """Resize so the long side is imgsz (aspect kept), scaling the polygons with it."""
    h, w = sample.image.shape[:2]
    r = imgsz / max(h, w)
    if r == 1:
        return sample
    size = (max(1, round(w * r)), max(1, round(h * r)))
    image = cv2.resize(sample.image, size, interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
    sx, sy = size[0] / w, size[1] / h
    return Sample(image, [p * [sx, sy] for p in sample.polygons], sample.classes)


def mosaic4(samples: list[Sample], imgsz: int, rng: np.random.Generator) -> Sample:
    """Four images around a random centre on a 2*imgsz canvas (cropped to imgsz later by the affine step)."""
    s = imgsz
    xc, yc = (int(rng.uniform(s * 0.5, s * 1.5)) for _ in range(2))
    canvas = np.full((2 * s, 2 * s, 3), PAD_VALUE, np.uint8)
    polygons, classes = [], []
    for i, sample in enumerate(samples):
        img = sample.image
        h, w = img.shape[:2]
        if i == 0:
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif i == 1:
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif i == 2:
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        shift = np.array([x1a - x1b, y1a - y1b], np.float32)
        # the part of an image beyond the canvas edge is not pasted: its instances end at the edge (clamping the
        # coordinates is an exact half-plane clip for filling), else the affine step can bring grey padding into frame
        # inside their masks and boxes
        polygons += [(p + shift).clip(0, 2 * s) for p in sample.polygons]
        classes.append(sample.classes)
    return Sample(canvas, polygons, np.concatenate(classes) if classes else np.zeros(0, np.int64))


def _affine_matrix(rng, shape_in, size_out, degrees, translate, scale, shear, perspective) -> tuple[np.ndarray, float]:
    h, w = shape_in
    out_w, out_h = size_out
    center = np.eye(3)
    center[0, 2], center[1, 2] = -w / 2, -h / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-perspective, perspective), rng.uniform(-perspective, perspective)
    rot = np.eye(3)
    s = rng.uniform(1 - scale, 1 + scale)
    rot[:2] = cv2.getRotationMatrix2D(angle=rng.uniform(-degrees, degrees), center=(0, 0), scale=s)
    sh = np.eye(3)
    sh[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
    sh[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    tr = np.eye(3)
    tr[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_w
    tr[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_h
    return tr @ sh @ rot @ persp @ center, s


def random_perspective(sample: Sample, out_size: int, rng: np.random.Generator, degrees=0.0, translate=0.1,
                       scale=0.5, shear=0.0, perspective=0.0, min_area_ratio=0.01) -> Sample:
    """Warp image and polygons into an out_size square; drop instances that (nearly) left the frame: under 1% of
    their scaled box area still inside (the reference's threshold for segment labels; 10% dropped 4.5% of the
    instances mosaic keeps, those cut at the border)."""
    m, s = _affine_matrix(rng, sample.image.shape[:2], (out_size, out_size), degrees, translate, scale, shear, perspective)
    border = (PAD_VALUE,) * 3
    if perspective:
        image = cv2.warpPerspective(sample.image, m, (out_size, out_size), borderValue=border)
    else:
        image = cv2.warpAffine(sample.image, m[:2], (out_size, out_size), borderValue=border)
    if not sample.polygons:
        return Sample(image, [], np.zeros(0, np.int64))
    lengths = [len(p) for p in sample.polygons]
    points = np.concatenate(sample.polygons).astype(np.float64)
    pts = np.concatenate([points, np.ones((len(points), 1))], 1) @ m.T  # every polygon in one product
    pts = pts[:, :2] / pts[:, 2:3] if perspective else pts[:, :2]
    parts = [clip_to_visible(p, out_size) for p in np.split(pts, np.cumsum(lengths)[:-1])]
    before = _box_sizes(points, lengths) * s
    after = _box_sizes(np.concatenate(parts), lengths)
    area_ratio = after.prod(1) / (before.prod(1) + 1e-16)
    aspect = np.maximum(after[:, 0] / (after[:, 1] + 1e-16), after[:, 1] / (after[:, 0] + 1e-16))
    keep = np.flatnonzero((after[:, 0] > 2) & (after[:, 1] > 2) & (area_ratio > min_area_ratio) & (aspect < 100))
    return Sample(image, [parts[i] for i in keep], sample.classes[keep] if len(keep) else np.zeros(0, np.int64))


def clip_to_visible(points: np.ndarray, size: int) -> np.ndarray:
    """A warped polygon cut to the frame, as the reference cuts it: its box is that of its (densely resampled) points
    inside the frame, and every point is clamped into that box. Clamping to the frame alone kept outside points
    projected along the border: boxes of instances cut at the border grew by what lies outside (a sliver in a
    corner got the box of the whole border run), and such slivers passed the 2-pixel size filter. An instance over
    three or more borders (it may cover the frame with no point inside) is clamped to the frame first."""
    x, y = points[:, 0], points[:, 1]
    if int(x.min() < 0) + int(y.min() < 0) + int(x.max() > size) + int(y.max() > size) >= 3:
        x, y = x.clip(0, size), y.clip(0, size)
    inside = (x >= 0) & (y >= 0) & (x <= size) & (y <= size)
    if not inside.any():
        return np.zeros_like(points, np.float32)  # a 0x0 box: dropped by the size filter
    xs, ys = x[inside], y[inside]
    return np.stack([x.clip(xs.min(), xs.max()), y.clip(ys.min(), ys.max())], 1).astype(np.float32)


def _box_sizes(points: np.ndarray, lengths: list[int]) -> np.ndarray:
    """(n,2) width and height of each polygon stored back to back in points; empty polygons are 0x0."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    sizes = np.zeros((len(lengths), 2), np.float64)
    filled = np.asarray(lengths) > 0
    if filled.any():
        idx = starts[filled]
        sizes[filled] = np.maximum.reduceat(points, idx, axis=0) - np.minimum.reduceat(points, idx, axis=0)
    return sizes


def hsv_jitter(image: np.ndarray, rng: np.random.Generator, hgain=0.015, sgain=0.7, vgain=0.4) -> np.ndarray:
    if not (hgain or sgain or vgain):
        return image
    r = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float64)
    lut_h = ((x * r[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    merged = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(merged, cv2.COLOR_HSV2BGR)


def flip_lr(sample: Sample) -> Sample:
    w = sample.image.shape[1]
    return Sample(np.ascontiguousarray(sample.image[:, ::-1]), [np.stack([w - p[:, 0], p[:, 1]], 1) for p in sample.polygons],
                  sample.classes)


def letterbox_sample(sample: Sample, imgsz: int) -> Sample:
    """The runtime's own letterbox (no augmentation), for validation-style inputs and close_mosaic epochs."""
    image, info = letterbox(sample.image, imgsz)
    shift = np.array(info.pad, np.float32)
    scale = np.array(info.scale, np.float32)
    return Sample(image, [p * scale + shift for p in sample.polygons], sample.classes)


def mixup(a: Sample, b: Sample, rng: np.random.Generator) -> Sample:
    ratio = rng.beta(32.0, 32.0)
    image = (a.image * ratio + b.image * (1 - ratio)).astype(np.uint8)
    return Sample(image, a.polygons + b.polygons, np.concatenate([a.classes, b.classes]))


def copy_paste(sample: Sample, rng: np.random.Generator, p: float) -> Sample:
    """Paste horizontally flipped copies of instances that do not overlap existing ones much (Ghiasi et al.)."""
    if p <= 0 or not sample.polygons:
        return sample
    h, w = sample.image.shape[:2]
    image, polygons, classes = sample.image.copy(), list(sample.polygons), list(sample.classes)
    occupied = np.zeros((h, w), np.uint8)
    for poly in sample.polygons:
        cv2.fillPoly(occupied, [np.round(poly).astype(np.int32)], 1)
    flipped = flip_lr(sample)
    for k in np.flatnonzero(rng.random(len(sample.polygons)) < p):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(flipped.polygons[k]).astype(np.int32)], 1)
        area = mask.sum()
        if area and (mask & occupied).sum() / area < 0.3:
            image[mask.astype(bool)] = flipped.image[mask.astype(bool)]
            occupied |= mask
            polygons.append(flipped.polygons[k])
            classes.append(sample.classes[k])
    return Sample(image, polygons, np.array(classes, np.int64))
