"""Procedural scenes for the bundled demo model: textured objects that occlude each other, clutter that is not an
object, uneven lighting, shadows and blur, at many scales. Labels are the *visible* part of each object (what a
segmentation model must find), so occlusion makes instances with holes bitten out of them or split in parts.

Hard enough that mask mAP is not trivially 1.0 and deterministic per seed, so the demo model can be rebuilt and
judged on images it has never seen (a new seed). numpy + OpenCV only: the runtime's tests and the demo use it
without torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from .coco import merge_parts
from .synthetic import Instance, _background, yolo_label_lines

SCENE_CLASSES = ("circle", "rectangle", "triangle", "ellipse", "star")
MIN_VISIBLE = 0.5  # an object hidden beyond this fraction is not placed (what is left would not say what it is)
MIN_AREA_PX = 48  # visible parts smaller than this are not labelled


def shape_polygon(rng: np.random.Generator, class_id: int, cx: float, cy: float, size: float) -> np.ndarray:
    """The outline of one object of a class, `size` its radius in pixels, randomly rotated and proportioned."""
    angle = float(rng.uniform(0, 2 * np.pi))
    if class_id == 0:  # circle
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        r = np.full_like(t, size)
    elif class_id == 1:  # rectangle, aspect 0.5-1
        half = np.array([size, size * rng.uniform(0.5, 1.0)])
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return (corners @ rot.T + [cx, cy]).astype(np.float32)
    elif class_id == 2:  # triangle
        t = angle + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.3, 0.3, 3)
        r = np.full(3, size)
    elif class_id == 3:  # ellipse, clearly flatter than a circle
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        a, b = size, size * rng.uniform(0.35, 0.6)
        pts = np.stack([a * np.cos(t), b * np.sin(t)], 1)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return (pts @ rot.T + [cx, cy]).astype(np.float32)
    else:  # five-pointed star
        t = angle + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, size, size * rng.uniform(0.4, 0.5))
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.float32)


@dataclass(frozen=True)
class SceneConfig:
    """What varies between scenes; the defaults are the demo model's recipe."""

    max_objects: int = 6
    size_range: tuple[float, float] = (0.07, 0.3)  # object radius as a fraction of the shorter side
    clutter: int = 6  # unlabelled distractors (blobs, strokes) per scene, at most
    shadow_p: float = 0.5
    blur_p: float = 0.3


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An object's surface: flat, a colour ramp, stripes or a checkerboard, in two related colours."""
    base = rng.integers(0, 256, 3).astype(np.float32)
    other = np.clip(base + rng.normal(0, 70, 3), 0, 255).astype(np.float32)
    kind = int(rng.integers(0, 4))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        t = np.zeros((h, w), np.float32)
    elif kind == 1:
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy) / max(h, w)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 2:
        period = rng.uniform(6, 24)
        t = ((xx * np.cos(rng.uniform(0, np.pi)) + yy * np.sin(rng.uniform(0, np.pi))) // period % 2).astype(np.float32)
    else:
        cell = rng.uniform(6, 20)
        t = ((xx // cell + yy // cell) % 2).astype(np.float32)
    return base * (1 - t[..., None]) + other * t[..., None]


def _lighting(rng: np.random.Generator, image: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """Uneven illumination, an optional soft shadow, noise and blur over the whole scene."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    falloff = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / np.hypot(h, w)
    gain = rng.uniform(0.55, 1.25) * (1 - rng.uniform(0.0, 0.6) * falloff)
    out = image.astype(np.float32) * gain[..., None]
    if rng.random() < cfg.shadow_p:
        shadow = np.zeros((h, w), np.float32)
        poly = shape_polygon(rng, int(rng.integers(0, len(SCENE_CLASSES))), rng.uniform(0, w), rng.uniform(0, h),
                              rng.uniform(0.15, 0.4) * min(h, w))
        cv2.fillPoly(shadow, [np.round(poly).astype(np.int32)], 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(4, 12))
        out *= (1 - rng.uniform(0.3, 0.6) * shadow)[..., None]
    out += rng.normal(0, rng.uniform(2, 10), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < cfg.blur_p:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return out


def _clutter(rng: np.random.Generator, image: np.ndarray, count: int, blobs: bool) -> None:
    """Distractors that are not objects: irregular blobs (behind the objects only) and strokes."""
    h, w = image.shape[:2]
    for _ in range(int(rng.integers(0, count + 1))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if blobs and rng.random() < 0.6:
            centre = rng.uniform([0, 0], [w, h])
            radius = rng.uniform(0.02, 0.12) * min(h, w)
            t = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(7, 14))))
            r = radius * rng.uniform(0.4, 1.0, len(t))
            pts = np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], 1)
            cv2.fillPoly(image, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
        else:
            p = rng.uniform([0, 0, 0, 0], [w, h, w, h]).astype(int)
            thickness = int(rng.integers(2, 8)) if blobs else int(rng.integers(1, 3))
            cv2.line(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, thickness, cv2.LINE_AA)


def _visible_polygon(mask: np.ndarray) -> np.ndarray | None:
    """One polygon (pixel coordinates) tracing a visible mask; parts joined by zero-area bridges."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = [c.reshape(-1, 2).astype(np.float32) for c in contours if cv2.contourArea(c) >= MIN_AREA_PX]
    if not parts:
        return None
    parts.sort(key=lambda p: -cv2.contourArea(p))
    return merge_parts(parts).astype(np.float32)


def _has_hole(mask: np.ndarray) -> bool:
    """A visible region with a hole cannot be one filled polygon: such a placement is rejected."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def _place_objects(rng: np.random.Generator, h: int, w: int, cfg: SceneConfig) -> list[tuple[int, np.ndarray]]:
    """(class id, full mask) in painting order; each new object may cover earlier ones, but never hides more than
    1 - MIN_VISIBLE of any of them nor punches a hole in one."""
    placed: list[tuple[int, np.ndarray]] = []
    wanted = int(rng.integers(1, cfg.max_objects + 1))
    for _ in range(cfg.max_objects * 5):
        if len(placed) >= wanted:
            break
        class_id = int(rng.integers(0, len(SCENE_CLASSES)))
        size = float(rng.uniform(*cfg.size_range) * min(h, w))
        cx, cy = float(rng.uniform(0.5 * size, w - 0.5 * size)), float(rng.uniform(0.5 * size, h - 0.5 * size))
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(shape_polygon(rng, class_id, cx, cy, size)).astype(np.int32)], 1)
        if mask.sum() < MIN_AREA_PX * 2:
            continue
        trial = placed + [(class_id, mask)]
        visible = _visible_masks([m for _, m in trial])
        if all(v.sum() >= MIN_VISIBLE * m.sum() and not _has_hole(v) for v, (_, m) in zip(visible, trial)):
            placed = trial
    return placed


def _visible_masks(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Painter's order: what remains of each mask once every later one is drawn over it."""
    covered = np.zeros_like(masks[0]) if masks else None
    out = []
    for mask in reversed(masks):
        out.append((mask & (1 - covered)).astype(np.uint8))
        covered = covered | mask
    return out[::-1]


def make_scene(rng: np.random.Generator, h: int, w: int, cfg: SceneConfig = SceneConfig()
               ) -> tuple[np.ndarray, list[Instance]]:
    """One scene and the visible polygon of each object in it."""
    image = _background(rng, h, w)
    _clutter(rng, image, cfg.clutter, blobs=True)
    placed = _place_objects(rng, h, w, cfg)
    for class_id, mask in placed:
        texture = _texture(rng, h, w).astype(np.uint8)
        image[mask.astype(bool)] = texture[mask.astype(bool)]
        if rng.random() < 0.3:  # an outline, as drawn objects often have
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(image, contours, -1, tuple(int(c) for c in rng.integers(0, 256, 3)), 1)
    _clutter(rng, image, cfg.clutter // 2, blobs=False)  # thin strokes across objects: not part of any label
    image = _lighting(rng, image, cfg)
    instances = []
    for (class_id, _), visible in zip(placed, _visible_masks([m for _, m in placed]) if placed else []):
        poly = _visible_polygon(visible)
        if poly is not None:
            instances.append(Instance(class_id, poly))
    return image, instances


SCENE_SIZES = ((480, 640), (640, 480), (512, 512), (384, 640))


def generate_scenes(root: str | Path, n_train: int, n_val: int, seed: int, cfg: SceneConfig = SceneConfig(),
                    sizes: tuple[tuple[int, int], ...] = SCENE_SIZES) -> Path:
    """Write a YOLO-seg dataset of scenes (images/{train,val}, labels/{train,val}, data.yaml); returns data.yaml.
    The same seed gives byte-identical files; a different seed gives scenes the model has never seen."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            h, w = sizes[int(rng.integers(0, len(sizes)))]
            image, instances = make_scene(rng, h, w, cfg)
            stem = f"{split}_{i:05d}"
            if not cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92]):
                raise OSError(f"cannot write {root / 'images' / split / stem}.jpg")
            (root / "labels" / split / f"{stem}.txt").write_text("\n".join(yolo_label_lines(instances, h, w)) + "\n")
    data = {"path": ".", "train": "images/train", "val": "images/val", "nc": len(SCENE_CLASSES),
            "names": dict(enumerate(SCENE_CLASSES))}
    data_yaml = root / "data.yaml"
    data_yaml.write_text(f"# edgeseg procedural scenes (seed {seed}; regenerate with the same seed for the same files)\n"
                         + yaml.safe_dump(data, sort_keys=False))
    return data_yaml
