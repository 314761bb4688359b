"""Deterministic synthetic instance-segmentation data: filled shapes with exact per-instance polygons on
textured backgrounds, written in the YOLO-seg layout with a data.yaml, so demos and tests need no download."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

CLASS_NAMES = ("circle", "rectangle", "triangle", "ellipse", "hexagon")


@dataclass(frozen=True)
class Instance:
    class_id: int
    polygon: np.ndarray  # (P,2) float32 pixel coordinates


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour field + grain + a few lines: enough texture that shapes are not trivially separable."""
    coarse = rng.uniform(40, 215, size=(4, 5, 3)).astype(np.float32)
    image = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 8, size=(h, w, 3)).astype(np.float32)
    for _ in range(int(rng.integers(2, 6))):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.line(image, p1, p2, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return np.clip(image, 0, 255).astype(np.uint8)


def _shape_polygon(rng: np.random.Generator, class_id: int, cx: float, cy: float, size: float) -> np.ndarray:
    angle = float(rng.uniform(0, 360))
    if class_id == 0:
        pts = cv2.ellipse2Poly((int(cx), int(cy)), (int(size), int(size)), 0, 0, 360, 6)
    elif class_id == 1:
        pts = cv2.boxPoints(((cx, cy), (2 * size, float(rng.uniform(0.6, 1.4)) * size), angle))
    elif class_id == 2:
        t = np.deg2rad(angle + np.array([0, 120, 240]) + rng.uniform(-20, 20, 3))
        pts = np.stack([cx + size * np.cos(t), cy + size * np.sin(t)], 1)
    elif class_id == 3:
        axes = (int(size), int(size * rng.uniform(0.45, 0.7)))
        pts = cv2.ellipse2Poly((int(cx), int(cy)), axes, int(angle), 0, 360, 6)
    else:
        t = np.deg2rad(angle + np.arange(6) * 60)
        pts = np.stack([cx + size * np.cos(t), cy + size * np.sin(t)], 1)
    return np.asarray(pts, dtype=np.float32).reshape(-1, 2)


def _overlaps(box: np.ndarray, boxes: list[np.ndarray], margin: float = 4) -> bool:
    return any(
        not (box[2] + margin < b[0] or b[2] + margin < box[0] or box[3] + margin < b[1] or b[3] + margin < box[1])
        for b in boxes
    )


def make_image(rng: np.random.Generator, h: int, w: int, max_instances: int = 6) -> tuple[np.ndarray, list[Instance]]:
    """One image and its non-overlapping instances (polygons are exactly what was drawn)."""
    image = _background(rng, h, w)
    instances: list[Instance] = []
    boxes: list[np.ndarray] = []
    wanted = int(rng.integers(1, max_instances + 1))
    for _ in range(max_instances * 4):
        if len(instances) >= wanted:
            break
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        size = float(rng.uniform(0.06, 0.2) * min(h, w))
        cx, cy = float(rng.uniform(size, w - size)), float(rng.uniform(size, h - size))
        poly = _shape_polygon(rng, class_id, cx, cy, size)
        poly[:, 0] = poly[:, 0].clip(0, w - 1)
        poly[:, 1] = poly[:, 1].clip(0, h - 1)
        box = np.array([*poly.min(0), *poly.max(0)])
        if _overlaps(box, boxes):
            continue
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.fillPoly(image, [np.round(poly).astype(np.int32)], colour, cv2.LINE_8)
        instances.append(Instance(class_id, poly))
        boxes.append(box)
    return image, instances


def yolo_label_lines(instances: list[Instance], h: int, w: int) -> list[str]:
    lines = []
    for inst in instances:
        norm = (inst.polygon / np.array([w, h], dtype=np.float32)).clip(0, 1).ravel()
        lines.append(" ".join([str(inst.class_id)] + [f"{v:.6f}" for v in norm]))
    return lines


def generate_dataset(root: str | Path, n_train: int = 32, n_val: int = 8, seed: int = 0,
                     sizes: tuple[tuple[int, int], ...] = ((480, 640), (640, 480), (512, 512))) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml under `root`; returns the data.yaml path.

    Same seed -> byte-identical files.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            h, w = sizes[int(rng.integers(0, len(sizes)))]
            image, instances = make_image(rng, h, w)
            stem = f"{split}_{i:04d}"
            if not cv2.imwrite(str(root / "images" / split / f"{stem}.png"), image):
                raise OSError(f"cannot write {root / 'images' / split / stem}.png")
            (root / "labels" / split / f"{stem}.txt").write_text("\n".join(yolo_label_lines(instances, h, w)) + "\n")
    data = {"path": ".", "train": "images/train", "val": "images/val", "nc": len(CLASS_NAMES),
            "names": dict(enumerate(CLASS_NAMES))}
    data_yaml = root / "data.yaml"
    data_yaml.write_text("# synthetic shapes, generated by edgeseg (deterministic, seed %d)\n" % seed
                         + yaml.safe_dump(data, sort_keys=False))
    return data_yaml
