"""The end-to-end layout (YOLO26's NMS-free head, or an export with NMS inside): output0 (B, K, 6+nm) rows of
x1 y1 x2 y2 score class coefficients are final detections; post-processing applies conf, classes and max_det,
and runs NMS only when asked to."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.decode import from_end2end_layout
from edgeseg.runtime.errors import ModelFormatError
from edgeseg.runtime.layouts import canonical_outputs
from edgeseg.runtime.letterbox import letterbox_geometry
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.postprocess import PostprocessConfig, postprocess

META = ModelMetadata(names={0: "a", 1: "b", 2: "c"}, imgsz=(320, 320), layout="end2end", end2end=True)


def end2end_outputs(k: int = 300) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    rows = np.zeros((1, k, 38), np.float32)
    rows[0, :4, :4] = [[40, 40, 140, 140], [44, 42, 142, 141], [200, 60, 300, 200], [10, 200, 90, 300]]
    rows[0, :4, 4] = [0.9, 0.8, 0.7, 0.3]  # rows 0 and 1 overlap (IoU ~0.93): NMS would drop row 1
    rows[0, :4, 5] = [0, 0, 2, 1]
    rows[0, 4:, :4] = [0, 0, 1, 1]
    rows[0, 4:, 4] = np.linspace(0.2, 0.0, k - 4)  # the tail the head pads its top-k with
    rows[0, :, 6:] = rng.normal(0, 1, (k, 32))
    protos = np.full((1, 32, 80, 80), 0.5, np.float32)
    return {"output0": rows, "output1": protos}


def _run(cfg: PostprocessConfig, outputs=None):
    raw = canonical_outputs(outputs or end2end_outputs(), META)
    raw["mask_coeffs"][:] = np.abs(raw["mask_coeffs"])  # positive logits everywhere: no detection dropped as empty
    info = letterbox_geometry((320, 320), 320)
    (res,) = postprocess(raw, [info], META.names, cfg)
    return res


def test_final_detections_are_not_suppressed_again():
    res = _run(PostprocessConfig(conf=0.25, nms=False))
    np.testing.assert_allclose(res.scores, [0.9, 0.8, 0.7, 0.3])
    assert res.class_ids.tolist() == [0, 0, 2, 1]
    np.testing.assert_allclose(res.boxes[1], [44, 42, 142, 141])


def test_nms_can_be_forced_and_conf_classes_max_det_still_apply():
    assert _run(PostprocessConfig(conf=0.25, nms=True)).scores.tolist() == pytest.approx([0.9, 0.7, 0.3])
    assert len(_run(PostprocessConfig(conf=0.5, nms=False))) == 3
    assert _run(PostprocessConfig(conf=0.25, nms=False, classes=(2,))).class_ids.tolist() == [2]
    assert len(_run(PostprocessConfig(conf=0.0, nms=False, max_det=2))) == 2


def test_canonical_form_carries_each_rows_score_at_its_class():
    raw = from_end2end_layout(end2end_outputs()["output0"], end2end_outputs()["output1"], 3)
    assert raw["scores"].shape == (1, 300, 3)
    assert raw["scores"][0, 2].tolist() == pytest.approx([0, 0, 0.7])
    assert raw["mask_coeffs"].shape == (1, 300, 32)


@pytest.mark.parametrize("bad", ["class", "width"])
def test_an_end2end_output_that_contradicts_the_metadata_is_a_clear_error(bad):
    outputs = end2end_outputs()
    if bad == "class":
        outputs["output0"][0, 0, 5] = 7
    else:
        outputs["output0"] = outputs["output0"][:, :, :30]
    with pytest.raises(ModelFormatError, match="end2end"):
        canonical_outputs(outputs, META)


def test_predictor_skips_nms_for_end2end_metadata_by_default():
    from edgeseg.runtime.backends.base import Backend, TensorSpec
    from edgeseg.runtime.predictor import Predictor

    class Fixed(Backend):
        engine, formats = "fixed", ("onnx",)
        inputs = [TensorSpec("images", (1, 3, 320, 320))]
        outputs = [TensorSpec("output0", (1, 300, 38)), TensorSpec("output1", (1, 32, 80, 80))]
        metadata = META

        def run(self, feeds):
            out = end2end_outputs()
            out["output0"][0, :, 6:] = np.abs(out["output0"][0, :, 6:])
            return out

    predictor = Predictor(Fixed())
    image = np.full((320, 320, 3), 114, np.uint8)
    assert len(predictor.predict(image, conf=0.25)[0]) == 4
    assert len(predictor.predict(image, conf=0.25, nms=True)[0]) == 3
