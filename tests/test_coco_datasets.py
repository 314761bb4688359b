"""COCO json datasets used directly: polygons (multi-part) and RLE, crowd regions left out of training and
treated as crowd in validation, bad annotations reported."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeseg.runtime import rle
from edgeseg.runtime.datasets.coco import coco_ground_truth, load_coco, merge_parts, training_instances
from edgeseg.runtime.datasets.yolo import load_data_yaml


@pytest.fixture()
def coco_dataset(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "train" / "a.png"), np.zeros((100, 120, 3), np.uint8))
    crowd = np.zeros((100, 120), bool)
    crowd[60:90, 10:50] = True
    anns = [
        {"id": 1, "image_id": 7, "category_id": 3, "iscrowd": 0, "bbox": [10, 10, 30, 20], "area": 600,
         "segmentation": [[10, 10, 40, 10, 40, 30, 10, 30], [60, 10, 80, 10, 80, 30, 60, 30]]},
        {"id": 2, "image_id": 7, "category_id": 5, "iscrowd": 1, "bbox": [10, 60, 40, 30], "area": 1200,
         "segmentation": rle.encode(crowd)},
        {"id": 3, "image_id": 7, "category_id": 99, "iscrowd": 0, "bbox": [0, 0, 5, 5], "area": 25,
         "segmentation": [[0, 0, 5, 0, 5, 5]]},
        {"id": 4, "image_id": 7, "category_id": 3, "iscrowd": 0, "bbox": [0, 0, 5, 5], "area": 25,
         "segmentation": {"size": [10, 10], "counts": [100]}},
    ]
    data = {"images": [{"id": 7, "file_name": "a.png", "height": 100, "width": 120}], "annotations": anns,
            "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "crowdthing"}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps(data))
    (tmp_path / "data.yaml").write_text("path: .\ntrain: annotations/instances_train.json\n"
                                        "val: annotations/instances_train.json\nval_images: images/train\n"
                                        "names: {0: cat, 1: crowdthing}\n")
    return tmp_path


def test_training_instances_merge_parts_skip_crowd_and_report(coco_dataset):
    coco = load_coco(coco_dataset / "annotations" / "instances_train.json")
    classes, polygons, problems = training_instances(coco, "a.png")
    assert classes == [0] and problems == []  # crowd skipped; bad records were left out when the file was read
    reasons = [reason for _, reason in coco.problems]
    assert any("unknown category id 99" in r for r in reasons) and any("does not match" in r for r in reasons)
    mask = np.zeros((100, 120), np.uint8)
    cv2.fillPoly(mask, [np.round(polygons[0] * [120, 100]).astype(np.int32)], 1)
    assert mask[20, 25] and mask[20, 70] and not mask[20, 50]  # both parts filled, the gap between them not


def test_crowd_is_crowd_in_validation(coco_dataset):
    path = coco_dataset / "annotations" / "instances_train.json"
    coco = load_coco(path)  # the wrong-size RLE (id 4) and unknown category (id 3) are left out, with reasons
    assert sorted(where.rsplit(" ", 1)[-1] for where, _ in coco.problems) == ["3)", "4)"]
    with pytest.raises(Exception, match="is 100x100 but its record says 120x100"):
        coco_ground_truth(coco, "a.png", (100, 100))
    gt = coco_ground_truth(coco, "a.png", (100, 120))
    assert gt.crowd.tolist() == [False, True] and gt.class_ids.tolist() == [0, 1]
    assert gt.masks.one(1)[70, 20] and gt.areas.tolist() == [600.0, 1200.0]


def test_merge_parts_walks_out_and_back():
    a = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    b = a + [20, 0]
    merged = merge_parts([a, b])
    assert len(merged) == len(a) + len(b) + 2


def test_data_yaml_with_json_splits(coco_dataset):
    cfg = load_data_yaml(coco_dataset / "data.yaml")
    assert cfg.coco["train"].name == "instances_train.json"
    assert [p.name for p in cfg.splits["train"]] == ["a.png"] and cfg.splits["val"][0].parent.name == "train"


def test_train_and_val_directly_from_coco_json(coco8, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")  # noqa: F841
    import yaml

    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import Trainer

    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    names = yaml.safe_load((coco8 / "data.yaml").read_text())["names"]
    data = tmp_path / "coco8-json.yaml"
    data.write_text(yaml.safe_dump({"path": str(coco8), "train": "annotations/instances_train.json",
                                    "val": "annotations/instances_val.json", "names": names}))
    result = Trainer(TrainArgs(data=str(data), epochs=1, imgsz=128, batch=4, workers=0, plots=False,
                               project=str(tmp_path / "runs"))).train()
    assert result.last.is_file() and result.metrics.instances == 17
