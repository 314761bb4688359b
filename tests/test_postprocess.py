"""Shared numpy post-processing: mask assembly against a straightforward reference, golden outputs, validation."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.mask_reference import reference_mask

from edgeseg.runtime import rle
from edgeseg.runtime.letterbox import letterbox_geometry
from edgeseg.runtime.masks import assemble_masks
from edgeseg.runtime.postprocess import PostprocessConfig, postprocess

GOLDEN = Path(__file__).parent / "golden" / "postprocess_v1.npz"


def reference_masks(protos, coeffs, boxes, info, threshold=0.5):
    """Every original pixel from the full-frame logit map in the reference tool's geometry, then cropped."""
    return np.array([reference_mask(protos, coef, box, info, threshold)[0] for coef, box in zip(coeffs, boxes)])


def smooth_protos(rng, nm, ph, pw):
    noise = rng.normal(0, 1, (nm, ph // 8 + 1, pw // 8 + 1)).astype(np.float32)
    return np.stack([cv2.resize(p, (pw, ph), interpolation=cv2.INTER_CUBIC) for p in noise])


@pytest.mark.parametrize("shape,imgsz,rect", [((480, 640), 640, False), ((480, 640), 640, True), ((375, 500), 320, False)])
def test_mask_assembly_matches_reference(shape, imgsz, rect):
    rng = np.random.default_rng(7)
    info = letterbox_geometry(shape, imgsz, rect=rect)
    ih, iw = info.input_shape
    protos = smooth_protos(rng, 32, ih // 4, iw // 4)
    coeffs = rng.normal(0, 1, (12, 32)).astype(np.float32)
    h, w = shape
    xy = rng.uniform(0, [w * 0.8, h * 0.8], (12, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(8, [w * 0.5, h * 0.5], (12, 2))], 1).clip(0, [w, h, w, h])
    compact, nonempty = assemble_masks(protos, coeffs, boxes, info)
    ours = compact.full()
    np.testing.assert_array_equal(nonempty, ours.reshape(len(ours), -1).any(1))
    ref = reference_masks(protos, coeffs, boxes, info)
    compared = 0
    for a, b in zip(ours, ref):
        union = (a | b).sum()
        if union:
            compared += 1
            assert (a & b).sum() / union >= 0.99
    assert compared >= 10


def synthetic_raw(seed=0, n=2100, nc=80, input_hw=(320, 320)):
    """Deterministic fake head outputs with a few confident, overlapping objects."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(20, 300, (n, 2))
    sizes = rng.uniform(10, 120, (n, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], 1).astype(np.float32)
    scores = rng.uniform(0, 0.05, (n, nc)).astype(np.float32)
    hot = rng.choice(n, 40, replace=False)
    scores[hot, rng.integers(0, nc, 40)] = rng.uniform(0.3, 0.99, 40)
    coeffs = rng.normal(0, 1, (n, 32)).astype(np.float32)
    protos = smooth_protos(rng, 32, input_hw[0] // 4, input_hw[1] // 4)
    return {"boxes": boxes[None], "scores": scores[None], "mask_coeffs": coeffs[None], "protos": protos[None]}


def run_golden_case():
    raw = synthetic_raw()
    info = letterbox_geometry((240, 320), 320)
    (res,) = postprocess(raw, [info], {i: str(i) for i in range(80)}, PostprocessConfig(conf=0.25, iou=0.5))
    return res


def test_golden_outputs():
    res = run_golden_case()
    assert len(res) > 5
    got = {"boxes": res.boxes, "scores": res.scores, "class_ids": res.class_ids,
           "masks": np.array([rle.encode(m)["counts"] for m in res.masks])}
    if os.environ.get("EDGESEG_REGEN_GOLDEN") or not GOLDEN.exists():
        if not os.environ.get("EDGESEG_REGEN_GOLDEN"):
            pytest.fail(f"golden file {GOLDEN} is missing; regenerate with EDGESEG_REGEN_GOLDEN=1")
        GOLDEN.parent.mkdir(exist_ok=True)
        np.savez_compressed(GOLDEN, **got)
    want = np.load(GOLDEN)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-4)
    np.testing.assert_allclose(got["scores"], want["scores"], atol=1e-6)
    np.testing.assert_array_equal(got["class_ids"], want["class_ids"])
    assert list(got["masks"]) == list(want["masks"])


def test_results_are_sorted_clipped_and_class_consistent():
    res = run_golden_case()
    assert (np.diff(res.scores) <= 0).all()
    assert (res.boxes[:, [0, 2]] <= 320).all() and (res.boxes[:, [1, 3]] <= 240).all() and (res.boxes >= 0).all()
    assert res.masks.shape == (len(res), 240, 320) and res.masks.dtype == bool
    for box, mask in zip(res.boxes, res.masks):
        ys, xs = np.nonzero(mask)
        assert xs.min() >= np.floor(box[0]) and xs.max() <= np.ceil(box[2]) and ys.min() >= np.floor(box[1])


def test_config_and_layout_errors_are_clear():
    with pytest.raises(ValueError, match="conf"):
        PostprocessConfig(conf=2)
    raw = synthetic_raw()
    info = letterbox_geometry((240, 320), 320)
    with pytest.raises(ValueError, match="80 class scores but its metadata names 3"):
        postprocess(raw, [info], {0: "a", 1: "b", 2: "c"})
    del raw["protos"]
    with pytest.raises(ValueError, match="protos"):
        postprocess(raw, [info], {i: str(i) for i in range(80)})


def test_multi_label_and_class_filter():
    raw = synthetic_raw()
    info = letterbox_geometry((240, 320), 320)
    names = {i: str(i) for i in range(80)}
    (only,) = postprocess(raw, [info], names, PostprocessConfig(conf=0.25, classes=(3, 5)))
    assert set(only.class_ids.tolist()) <= {3, 5}
    (multi,) = postprocess(raw, [info], names, PostprocessConfig(conf=0.04, multi_label=True, max_det=50))
    assert 40 <= len(multi) <= 50  # capped at max_det; a few drop for empty masks
