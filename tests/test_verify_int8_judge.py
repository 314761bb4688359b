"""What the INT8 verification judges on, by how much the FP32 model detects: its detections at the deployment
threshold (0.25) when it has enough of them; a weak model (a 50-epoch YOLO26n on real photos: none >= 0.25, and
its one-to-one head 2 >= 0.05 on 32 val photos) on its detections down to 0.05, then on its best few per image,
where a coefficient-cosine fallback used to refuse an artifact whose mAP moved 0.04 points; only a model that
detects nothing at all on its best anchors' cosine."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.converters.verify import INT8_MIN_AGREEMENT, INT8_MIN_LOW_AGREEMENT, MIN_DETECTIONS, VerifyReport
from edgeseg.converters.verify_int8 import _judge
from edgeseg.runtime.instance_masks import InstanceMasks

NAMES = {0: "person"}
SHAPE = (64, 64)
OBJECTS = [(4, 4, 30, 40), (34, 10, 60, 30), (8, 44, 28, 62)]
MOVED = [(40, 40, 62, 62), (0, 40, 6, 62), (34, 0, 40, 8)]  # no overlap with OBJECTS: what a broken quantisation finds
IMAGES = MIN_DETECTIONS  # 3 objects per image: enough detections for every tier


def _detections(boxes: list[tuple[int, int, int, int]], scores: list[float]) -> tuple:
    full = np.zeros((len(boxes), *SHAPE), dtype=bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        full[k, y0:y1, x0:x1] = True
    masks = InstanceMasks.from_full(full) if boxes else InstanceMasks.empty(SHAPE)
    return (np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(scores, dtype=np.float32),
            np.zeros(len(boxes), dtype=np.int64), masks)


def _images(boxes, scores) -> dict[str, tuple]:
    return {str(i): _detections(boxes, scores) for i in range(IMAGES)}


def _report() -> VerifyReport:
    return VerifyReport("test", [], cosine={"boxes": 1.0, "scores": 0.99, "mask_coeffs": 0.6})


@pytest.mark.parametrize("fp32_score,on,floor", [(0.8, "detections >= 0.25", INT8_MIN_AGREEMENT),
                                                 (0.1, "detections >= 0.05", INT8_MIN_LOW_AGREEMENT),
                                                 (0.01, "3 best detections of each image", INT8_MIN_LOW_AGREEMENT)])
def test_agreement_is_judged_on_the_detections_the_fp32_model_has_enough_of(fp32_score, on, floor):
    ref = _images(OBJECTS, [fp32_score] * 3)
    good = _images(OBJECTS, [fp32_score * 0.9] * 3)
    report = _report()
    bad, _ = _judge(report, ref, good, NAMES)
    assert bad == {} and report.agreement == {"box": 1.0, "mask": 1.0} and on in report.agreement_on
    assert on in report.summary()  # the coefficient cosine of 0.6 no longer refuses it

    broken = _images(MOVED, [fp32_score] * 3)
    bad, what = _judge(_report(), ref, broken, NAMES)
    assert set(bad) == {"box", "mask"} and f"< {floor} (on " in what and on in what


def test_two_confident_detections_are_too_few_to_judge_on():
    """Two detections >= 0.25 (the person yolov8n on 32 val photos): one flip would move agreement by 0.5."""
    ref = _images(OBJECTS, [0.1, 0.1, 0.1])
    ref["0"] = _detections(OBJECTS, [0.9, 0.9, 0.1])
    report = _report()
    _judge(report, ref, ref, NAMES)
    assert "detections >= 0.05" in report.agreement_on


def test_a_model_that_detects_nothing_is_judged_on_its_best_anchors():
    ref = {"a": _detections([], [])}
    bad, what = _judge(_report(), ref, ref, NAMES)
    assert bad == {"mask_coeffs": 0.6} and "mask_coeffs 0.600 < 0.9" in what and "no detection" in what


def test_the_top_tier_compares_each_images_best_with_the_artifacts_best():
    """An artifact that reproduces every image's 3 best but has a 4th detection in one image outscoring the other
    images' best must not be charged a false positive for it (scored against all its detections, the FP32 ONNX of
    the YOLO26n reached only 0.62 against its own .pt)."""
    ref = _images(OBJECTS, [0.01] * 3)
    got = _images(OBJECTS, [0.009] * 3)
    got["0"] = _detections(OBJECTS + MOVED[:1], [0.03, 0.03, 0.03, 0.02])
    report = _report()
    bad, _ = _judge(report, ref, got, NAMES)
    assert bad == {} and report.agreement == {"box": 1.0, "mask": 1.0} and "3 best" in report.agreement_on
