"""What the INT8 verification judges on, by how confident the FP32 model is: its detections at the deployment
threshold (0.25); a weak model with none there (a 50-epoch YOLO26n on real photos) on its detections down to 0.05
with a lower floor, where the coefficient-cosine fallback used to refuse an artifact whose mAP moved 0.04 points;
and only a model that detects nothing at all on its best anchors' cosine."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.converters.verify import INT8_MIN_AGREEMENT, INT8_MIN_LOW_AGREEMENT, VerifyReport
from edgeseg.converters.verify_int8 import _judge
from edgeseg.runtime.instance_masks import InstanceMasks

NAMES = {0: "person"}
SHAPE = (64, 64)


def _detections(boxes: list[tuple[int, int, int, int]], scores: list[float]) -> tuple:
    full = np.zeros((len(boxes), *SHAPE), dtype=bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        full[k, y0:y1, x0:x1] = True
    masks = InstanceMasks.from_full(full) if boxes else InstanceMasks.empty(SHAPE)
    return (np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(scores, dtype=np.float32),
            np.zeros(len(boxes), dtype=np.int64), masks)


OBJECTS = [(4, 4, 30, 40), (34, 10, 60, 30)]
MOVED = [(20, 30, 44, 60), (0, 40, 20, 62)]  # no overlap with OBJECTS: what a broken quantisation finds


def _report() -> VerifyReport:
    return VerifyReport("test", [], cosine={"boxes": 1.0, "scores": 0.99, "mask_coeffs": 0.6})


@pytest.mark.parametrize("fp32_score,conf,floor", [(0.8, 0.25, INT8_MIN_AGREEMENT), (0.1, 0.05, INT8_MIN_LOW_AGREEMENT)])
def test_agreement_is_judged_at_the_threshold_the_fp32_model_reaches(fp32_score, conf, floor):
    ref = {"a": _detections(OBJECTS, [fp32_score, fp32_score])}
    good = {"a": _detections(OBJECTS, [fp32_score * 0.9, fp32_score * 0.9])}
    report = _report()
    bad, _ = _judge(report, ref, good, NAMES)
    assert bad == {} and report.agreement == {"box": 1.0, "mask": 1.0} and report.agreement_conf == conf
    assert f">= {conf:g}" in report.summary()  # the coefficient cosine of 0.6 no longer refuses it

    broken = {"a": _detections(MOVED, [fp32_score, fp32_score])}
    bad, what = _judge(_report(), ref, broken, NAMES)
    assert set(bad) == {"box", "mask"} and f"< {floor} (on its detections >= {conf})" in what


def test_a_model_that_detects_nothing_is_judged_on_its_best_anchors():
    ref = {"a": _detections(OBJECTS, [0.01, 0.02])}
    bad, what = _judge(_report(), ref, ref, NAMES)
    assert bad == {"mask_coeffs": 0.6} and "mask_coeffs 0.600 < 0.9" in what and "no detection >= 0.05" in what
