"""NMS: matches a brute-force greedy reference, is deterministic and class-aware."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.nms import batched_nms, nms


def brute_force_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            b1, b2 = boxes[i], boxes[j]
            iw = max(0.0, min(b1[2], b2[2]) - max(b1[0], b2[0]))
            ih = max(0.0, min(b1[3], b2[3]) - max(b1[1], b2[1]))
            inter = iw * ih
            union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
            if union > 0 and inter / union > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    return np.concatenate([xy, xy + wh], 1), rng.uniform(0, 1, n)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_matches_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 150)
    assert nms(boxes, scores, thr).tolist() == brute_force_nms(boxes, scores, thr)


def test_invariant_to_input_order():
    rng = np.random.default_rng(1)
    boxes, scores = random_boxes(rng, 100)
    keep = set(nms(boxes, scores, 0.5).tolist())
    perm = rng.permutation(100)
    kept_perm = {int(perm[i]) for i in nms(boxes[perm], scores[perm], 0.5)}
    assert kept_perm == keep


def test_ties_keep_input_order_and_max_det():
    boxes = np.array([[0, 0, 10, 10]] * 3 + [[100, 100, 110, 110]], float)
    scores = np.array([0.5, 0.5, 0.5, 0.5])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes, scores, 0.5, max_det=1).tolist() == [0]


def test_class_aware_vs_agnostic():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    scores = np.array([0.9, 0.8])
    classes = np.array([0, 1])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, classes, 0.5, agnostic=True).tolist() == [0]


def test_empty_input():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


@pytest.mark.parametrize("seed", range(4))
def test_per_class_nms_equals_offset_nms(seed):
    """batched_nms runs per class; it must equal one greedy NMS over class-offset boxes (the classic trick)."""
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 400)
    scores = np.round(scores, 2)  # ties across classes exercise the merge order
    classes = rng.integers(0, 5, 400)
    offset = boxes + classes[:, None] * 10000.0
    for max_det in (None, 30):
        assert batched_nms(boxes, scores, classes, 0.5, max_det).tolist() == nms(offset, scores, 0.5, max_det).tolist()


def test_candidates_spanning_several_chunks():
    rng = np.random.default_rng(9)
    boxes, scores = random_boxes(rng, 2500)
    keep = nms(boxes, scores, 0.6, max_det=100)
    assert len(keep) == 100
    assert keep.tolist() == brute_force_nms(boxes, scores, 0.6)[:100]
