"""The bundled synthetic datasets are deterministic and exact (the demo itself: tests/test_demo.py)."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import yaml

from edgeseg.runtime.datasets.synthetic import CLASS_NAMES, generate_dataset


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    a = generate_dataset(tmp_path / "a", n_train=3, n_val=2, seed=5).parent
    b = generate_dataset(tmp_path / "b", n_train=3, n_val=2, seed=5).parent
    c = generate_dataset(tmp_path / "c", n_train=3, n_val=2, seed=6).parent
    assert digest(a) == digest(b) != digest(c)


def test_layout_and_labels_are_exact(synthetic_data):
    root = synthetic_data.parent
    data = yaml.safe_load(synthetic_data.read_text())
    assert data["names"] == dict(enumerate(CLASS_NAMES)) and data["nc"] == len(CLASS_NAMES)
    for image_path in sorted((root / "images" / "train").iterdir()):
        image = cv2.imread(str(image_path))
        h, w = image.shape[:2]
        lines = (root / "labels" / "train" / f"{image_path.stem}.txt").read_text().split("\n")
        rows = [list(map(float, ln.split())) for ln in lines if ln.strip()]
        assert rows
        for row in rows:
            assert 0 <= int(row[0]) < len(CLASS_NAMES) and len(row) % 2 == 1 and len(row) >= 7
            pts = np.array(row[1:]).reshape(-1, 2)
            assert (pts >= 0).all() and (pts <= 1).all()
            # the polygon covers a solid-coloured region: the shape really is where the label says
            mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(mask, [np.round(pts * [w, h]).astype(np.int32)], 1)
            inner = cv2.erode(mask, np.ones((5, 5), np.uint8))
            if inner.sum() > 20:
                assert image[inner.astype(bool)].std(axis=0).max() < 1.0


def test_scenes_are_deterministic_and_labels_are_the_visible_parts(tmp_path):
    """Procedural scenes: same seed, same bytes; each label fills the part of its object no later object covers."""
    from edgeseg.runtime.datasets.scenes import SCENE_CLASSES, generate_scenes, make_scene

    a = generate_scenes(tmp_path / "a", 2, 1, seed=3).parent
    b = generate_scenes(tmp_path / "b", 2, 1, seed=3).parent
    assert digest(a) == digest(b)
    rng = np.random.default_rng(11)
    overlapping = 0
    for _ in range(6):
        image, instances = make_scene(rng, 240, 320)
        masks = []
        for inst in instances:
            mask = np.zeros((240, 320), np.uint8)
            cv2.fillPoly(mask, [np.round(inst.polygon).astype(np.int32)], 1)
            masks.append(mask.astype(bool))
            assert mask.sum() >= 48 and 0 <= inst.class_id < len(SCENE_CLASSES)
        for i, m in enumerate(masks):  # visible parts never overlap (up to the polygon's boundary pixels)
            for other in masks[i + 1:]:
                assert (m & other).sum() <= 0.1 * min(m.sum(), other.sum())
        overlapping += sum(1 for inst in instances if len(inst.polygon) > 4) > 1
    assert overlapping
