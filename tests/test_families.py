"""Model families as data: every family x scale has the reference's exact parameter count (measured with the real
tool: tests/fixtures/ultralytics_8_4_190/model_info.json), the reference's own best.pt of each family imports
without ultralytics and reproduces its recorded raw outputs (YOLO26's one-to-one head too), and a family added as one
description file (nothing else changed) builds, trains a step and appears in `info`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.reference import RECORDS, reference_outputs, require_fixtures  # noqa: E402

from edgeseg.trainer.config import config_from_name  # noqa: E402
from edgeseg.trainer.family import families  # noqa: E402
from edgeseg.trainer.model import build_model  # noqa: E402

REFERENCE_INFO = json.loads((RECORDS / "model_info.json").read_text())
RTOL = 1e-4  # max abs difference relative to the output's scale


@pytest.mark.parametrize("name", sorted(REFERENCE_INFO))
def test_parameters_and_gflops_equal_the_reference(name):
    """`model.info()` of the reference: parameters exact, GFLOPs at 640 to its printed 3 decimals."""
    from edgeseg.trainer.info import count_flops

    model = build_model(config_from_name(name), seed=None)
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_INFO[name]["params"]
    assert round(count_flops(model, 640) / 1e9, 3) == pytest.approx(REFERENCE_INFO[name]["gflops"], abs=1e-3)


def _decoded_one2one(stem: str, outputs) -> dict[str, np.ndarray]:
    """The reference's recorded one-to-one raw outputs, decoded as the canonical dict (ltrb * stride, sigmoid)."""
    from edgeseg.runtime.decode import dfl_decode

    boxes = dfl_decode(outputs[f"{stem}/one2one_boxes"], (320, 320))
    scores = 1 / (1 + np.exp(-outputs[f"{stem}/one2one_scores"].astype(np.float64)))
    return {"boxes": boxes, "scores": scores.transpose(0, 2, 1),
            "mask_coeffs": outputs[f"{stem}/one2one_mask_coefficient"].transpose(0, 2, 1)}


@pytest.mark.parametrize("stem", ["yolov8n-seg-user3-best", "yolo11n-seg-user3-best", "yolo26n-seg-user3-best",
                                  "yolo26n-seg-random"])
def test_reference_checkpoint_imports_and_reproduces_its_raw_outputs(stem):
    from edgeseg.runtime.decode import from_ultralytics_layout
    from edgeseg.trainer.checkpoint import load_checkpoint

    outputs = reference_outputs()
    model = load_checkpoint(require_fixtures() / f"{stem}.pt").model.eval()
    assert model.cfg.family == stem.split("n-seg")[0] + "-seg"
    x = torch.from_numpy(outputs["input"])
    expected = {"one2many": from_ultralytics_layout(outputs[f"{stem}/output0"], outputs[f"{stem}/output1"])}
    if model.head.has_one2one:
        expected["one2one"] = _decoded_one2one(stem, outputs)
    for head, want in expected.items():
        with torch.no_grad():
            got = {k: v.numpy() for k, v in model.with_head(end2end=head == "one2one")(x).items()}
        for key, value in want.items():
            scale = float(np.abs(value).max())
            diff = float(np.abs(got[key] - value).max())
            assert diff <= RTOL * scale, f"{stem} {head} {key}: max diff {diff:.3g} at scale {scale:.3g}"


FAKE_FAMILY = """
name: tiny-seg
prefix: tiny
scales: {n: [0.33, 0.25, 256]}
head: {reg_max: 8, depthwise_cls: true}
layers:
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, C3k2, [64, false, 0.5, true]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, true]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 1, SPPF, [256, 5]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[4, 6, 7], 1, Segment, []]
"""


def test_a_family_added_as_one_description_builds_trains_and_appears_in_info(tmp_path, monkeypatch, capsys):
    """One description file in EDGESEG_MODEL_FAMILIES: the name resolves, the model builds and runs a training
    step through the shared loss, and `edgeseg info` prints it; no other file changes."""
    from edgeseg.cli import main
    from edgeseg.trainer import family as family_module
    from edgeseg.trainer.loss import SegmentationLoss

    (tmp_path / "tiny-seg.yaml").write_text(FAKE_FAMILY)
    monkeypatch.setenv(family_module.FAMILIES_ENV, str(tmp_path))
    assert "tiny-seg" in families()
    model = build_model(config_from_name("tinyn-seg").__class__(**{**config_from_name("tinyn-seg").to_dict(), "nc": 2}))
    assert model.head.reg_max == 8
    model.train()
    x = torch.rand(2, 3, 64, 64)
    batch = {"batch_idx": torch.tensor([0, 1]), "cls": torch.tensor([0.0, 1.0]),
             "boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0], [16.0, 4.0, 60.0, 30.0]]),
             "masks": torch.zeros(2, 16, 16)}
    loss, parts = SegmentationLoss(model)(model(x), batch)
    loss.backward()
    assert torch.isfinite(loss) and parts.shape == (5,)  # box, seg, cls, dfl, semantic (0 without an end-to-end head)
    assert main(["info", "--model", "tinyn-seg", "--imgsz", "64"]) == 0
    assert "tinyn-seg" in capsys.readouterr().out
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out["boxes"].shape == (2, 84, 4) and out["scores"].shape == (2, 84, 2)


def test_unknown_names_list_every_family(capsys):
    from edgeseg.cli import main

    assert main(["info", "--model", "yolo12n-seg"]) == 2
    err = capsys.readouterr().err
    assert "yolo11n-seg" in err and "yolo26x-seg" in err and "yolov8s-seg" in err


def test_info_prints_each_family(capsys):
    from edgeseg.cli import main

    for name in ("yolo11n-seg", "yolo26n-seg"):
        assert main(["info", "--model", name, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["params"] == REFERENCE_INFO[name]["params"] and info["name"] == name


def test_the_families_shipped(tmp_path):
    assert {"yolov8-seg", "yolo11-seg", "yolo26-seg"} <= set(families())
    assert Path(families()["yolo26-seg"].origin).name == "yolo26-seg.yaml"
