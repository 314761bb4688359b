"""Trainer building blocks: assigner, loss, augmentation geometry, label scanning, options."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeseg.runtime.errors import UsageError  # noqa: E402
from edgeseg.trainer.assigner import TaskAlignedAssigner  # noqa: E402
from edgeseg.trainer.data.augment import (  # noqa: E402
    AugmentConfig,  # noqa: E402
    Sample,
    flip_lr,
    mosaic4,
    random_perspective,
    resample,
)
from edgeseg.trainer.data.dataset import SegDataset, collate, scan, to_tensors  # noqa: E402


def test_assigner_picks_anchors_inside_the_box_with_aligned_targets():
    anchors = torch.tensor([[x + 0.5, y + 0.5] for y in range(8) for x in range(8)], dtype=torch.float32) * 8
    gt = torch.tensor([[[8.0, 8.0, 40.0, 40.0]]])
    pred_boxes = gt.expand(1, 64, 4).clone()
    scores = torch.full((1, 64, 3), 0.1)
    assigner = TaskAlignedAssigner(3, topk=4)
    labels, boxes, target, fg, idx = assigner(scores, pred_boxes, anchors, torch.tensor([[[2.0]]]), gt, torch.ones(1, 1, 1))
    inside = ((anchors[:, 0] > 8) & (anchors[:, 0] < 40) & (anchors[:, 1] > 8) & (anchors[:, 1] < 40))
    assert fg.sum() == 4 and bool(inside[fg[0]].all())
    assert (labels[fg] == 2).all() and torch.allclose(boxes[fg], gt[0].expand(4, 4))
    assert target[fg][:, 2].max() == pytest.approx(1.0, abs=1e-4) and target[~fg].sum() == 0


def test_loss_falls_on_a_fixed_batch(synthetic_data):
    from edgeseg.runtime.datasets.yolo import load_data_yaml
    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.loss import SegmentationLoss
    from edgeseg.trainer.model import build_model

    cfg = load_data_yaml(synthetic_data)
    records, _ = scan(cfg.splits["train"], cfg.nc)
    ds = SegDataset(records, 160, False, AugmentConfig())
    batch = collate([ds[i] for i in range(4)])
    torch.manual_seed(0)
    model = build_model(replace(config_from_name("yolov8n-seg"), nc=cfg.nc)).train()
    loss_fn = SegmentationLoss(model)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for _ in range(12):
        loss, parts = loss_fn(model(batch["img"].float() / 255), batch)
        first = first if first is not None else parts.clone()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(parts).all() and parts.sum() < 0.6 * first.sum()


def _square_sample(color=(0, 0, 255)) -> Sample:
    image = np.full((200, 300, 3), 40, np.uint8)
    poly = np.array([[100, 50], [220, 60], [200, 150], [90, 140]], np.float32)
    import cv2

    cv2.fillPoly(image, [poly.astype(np.int32)], color)
    return Sample(image, [resample(poly)], np.array([1]))


def _mask_color_purity(sample: Sample, color) -> float:
    out = to_tensors(sample, 1)
    img = out["img"].numpy().transpose(1, 2, 0)[..., ::-1]
    mask = out["masks"].numpy().any(0)  # every kept instance, slivers cut at the border included
    inner = __import__("cv2").erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return float((np.abs(img[inner].astype(int) - color).sum(1) < 60).mean())


@pytest.mark.parametrize("seed", range(4))
def test_geometry_moves_polygons_with_the_image(seed):
    rng = np.random.default_rng(seed)
    color = (0, 0, 255)
    sample = mosaic4([_square_sample(color) for _ in range(4)], 256, rng)
    warped = random_perspective(sample, 256, rng, degrees=15, translate=0.1, scale=0.4, shear=5, perspective=0.0005)
    warped = flip_lr(warped)
    assert len(warped.polygons) >= 1
    assert _mask_color_purity(warped, color) > 0.97


def test_scan_reports_bad_lines_and_uses_the_cache(tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "images" / "b.jpg").write_text("not an image")
    (tmp_path / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 0.1\n7 0.1 0.1 0.5 0.1 0.5 0.5\n"
                                               "0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    images = sorted((tmp_path / "images").iterdir())
    records, report = scan(images, nc=2)
    reasons = [r for _, r in report]
    assert len(records) == 1 and len(records[0].classes) == 1
    assert any("fewer than 3 points" in r for r in reasons) and any("class id 7" in r for r in reasons)
    assert any("duplicate" in r for r in reasons) and any("b.jpg" in p for p, _ in report)
    assert len(list((tmp_path / "cache" / "labels").glob("*.json"))) == 1
    assert scan(images, nc=2) == (records, report)


def test_train_option_parsing():
    from edgeseg.cli_train import parse_train_options

    got = parse_train_options(["--data", "d.yaml", "--epochs", "3", "--no-val", "--cos-lr", "--lr0", "0.01"])
    assert got == {"data": "d.yaml", "epochs": 3, "val": False, "cos_lr": True, "lr0": 0.01}
    with pytest.raises(UsageError, match="unknown training option"):
        parse_train_options(["--epoch", "3"])
    with pytest.raises(UsageError, match="expects an int"):
        parse_train_options(["--epochs", "many"])
