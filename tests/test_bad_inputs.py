"""Bad inputs never crash train, val or predict: a dataset mixing the generated corpus (tests/helpers/bad_inputs.py)
with good samples trains and validates; every bad sample is reported once with its reason; the good samples'
labels and predictions equal those of a clean run; only a dataset with nothing usable left is an error."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.bad_inputs import BAD_YAMLS, Split, bad_coco_records, write_corpus

from edgeseg.runtime.datasets.problems import read_problems_csv, reason_kind
from edgeseg.runtime.datasets.synthetic import CLASS_NAMES, generate_dataset
from edgeseg.runtime.datasets.yolo import load_data_yaml

NC = len(CLASS_NAMES)
IMGSZ = 128


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(clean data.yaml, mixed data.yaml, {split: expectations}): the mixed copy holds every bad kind per split."""
    root = tmp_path_factory.mktemp("corpus")
    clean = generate_dataset(root / "clean", n_train=4, n_val=4, seed=3)
    shutil.copytree(root / "clean", root / "mixed")
    template = cv2.imread(str(root / "clean" / "images" / "val" / "val_0000.png"))
    expects = {split: write_corpus(Split(root / "mixed" / "images" / split, root / "mixed" / "labels" / split, template), NC)
               for split in ("train", "val")}
    return clean, root / "mixed" / "data.yaml", expects


def assert_report_matches(rows: list[tuple[str, str]], expects) -> None:
    """Every expected problem appears exactly once, with its reason; nothing else is reported."""
    wanted = [e for e in expects if e.reported]
    assert len(wanted) >= 25
    for e in wanted:
        hits = [r for f, r in rows if Path(f).name == e.reported]
        assert len(hits) == 1 and e.reason in hits[0], (e.kind, hits)
    assert len(rows) == len(wanted), sorted(set(rows) - {r for r in rows if any(Path(r[0]).name == e.reported for e in wanted)})


def test_corpus_has_at_least_40_kinds(corpus):
    _, _, expects = corpus
    kinds = {e.kind for e in expects["train"]} | set(BAD_YAMLS)
    assert len(kinds) >= 40, len(kinds)


@pytest.mark.timeout(900)
def test_train_two_iterations_and_val_report_every_bad_sample_once(corpus, tmp_path, monkeypatch, torch_or_skip):
    from edgeseg.cli import main

    clean, mixed, expects = corpus
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["train", "--data", str(mixed), "--epochs", "1", "--max-batches", "2", "--imgsz", str(IMGSZ), "--batch",
                 "4", "--workers", "0", "--no-plots", "--project", str(tmp_path), "--name", "run"])
    assert code == 0
    run = tmp_path / "run"
    assert (run / "weights" / "last.pt").is_file() and (run / "weights" / "best.pt").is_file()
    assert_report_matches(read_problems_csv(run / "skipped_train.csv"), expects["train"])
    assert_report_matches(read_problems_csv(run / "skipped_val.csv"), expects["val"])


def test_good_samples_parse_exactly_as_in_a_clean_dataset(corpus, tmp_path, monkeypatch, torch_or_skip):
    from edgeseg.trainer.data.dataset import scan

    clean, mixed, _ = corpus
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    good, _ = scan(load_data_yaml(clean).splits["train"], NC)
    records, _ = scan(load_data_yaml(mixed).splits["train"], NC)
    by_name = {Path(r.image).name: r for r in records}
    assert len(good) == 4
    for rec in good:
        other = by_name[Path(rec.image).name]
        assert (other.classes, other.polygons) == (rec.classes, rec.polygons)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, torch_or_skip):
    from edgeseg.trainer.checkpoint import save_checkpoint
    from edgeseg.trainer.seeded import make_seeded_model

    path = tmp_path_factory.mktemp("model") / "seeded5.pt"
    return save_checkpoint(path, make_seeded_model(nc=NC), dict(enumerate(CLASS_NAMES)), imgsz=IMGSZ)


def _val_predictions(model: Path, data: Path) -> tuple[dict, object]:
    from edgeseg.model import open_predictor
    from edgeseg.runtime.validate import validate

    seen = {}
    metrics = validate(open_predictor(str(model)), data, "val", conf=0.05,
                       on_result=lambda path, res: seen.__setitem__(path.name, res))
    return seen, metrics


def test_val_good_images_score_as_in_a_clean_run(corpus, small_model):
    clean, mixed, expects = corpus
    clean_preds, clean_metrics = _val_predictions(small_model, clean)
    mixed_preds, mixed_metrics = _val_predictions(small_model, mixed)
    assert clean_metrics.skipped == [] and sum(len(r) for r in clean_preds.values()) > 0
    for name, res in clean_preds.items():
        np.testing.assert_array_equal(res.boxes, mixed_preds[name].boxes)
        np.testing.assert_array_equal(res.masks, mixed_preds[name].masks)
    assert_report_matches(mixed_metrics.skipped, expects["val"])
    skipped_images = sum(e.outcome == "skipped" and not e.reported.endswith(".txt") for e in expects["val"])
    assert mixed_metrics.images == clean_metrics.images + len(mixed_preds) - len(clean_preds)
    assert len(mixed_preds) + skipped_images == len(load_data_yaml(mixed).splits["val"])


def test_predict_directory_warns_once_per_unreadable_image(corpus, small_model, tmp_path, capsys):
    from edgeseg.cli import main

    clean, mixed, expects = corpus
    runs = {}
    for tag, data in (("clean", clean), ("mixed", mixed)):
        assert main(["predict", "--model", str(small_model), "--source", str(data.parent / "images" / "val"), "--conf",
                     "0.05", "--no-save", "--project", str(tmp_path), "--name", tag]) == 0
        runs[tag] = json.loads((tmp_path / tag / "predictions.json").read_text())
    err = capsys.readouterr().err
    unreadable = [e for e in expects["val"] if e.outcome == "skipped" and not e.reported.endswith(".txt")]
    assert len(unreadable) >= 7
    for e in unreadable:
        assert err.count(f"{e.reported}:") == 1, (e.kind, e.reported)
    good_ids = {d["image_id"] for d in runs["clean"]}
    assert good_ids and [d for d in runs["mixed"] if d["image_id"] in good_ids] == runs["clean"]


@pytest.mark.parametrize("kind", sorted(BAD_YAMLS))
def test_bad_data_yaml_is_one_clear_error(kind, tmp_path, capsys, torch_or_skip):
    from edgeseg.cli import main

    text, message = BAD_YAMLS[kind]
    path = tmp_path / "data.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "images" / "train").mkdir(parents=True)
    code = main(["train", "--data", str(path), "--epochs", "1", "--imgsz", "64", "--project", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(path) in err[0] and message in err[0], err


def test_nothing_usable_left_is_one_clear_error(tmp_path, capsys, small_model, torch_or_skip):
    from edgeseg.cli import main

    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "images" / split / "bad.jpg").write_bytes(b"not an image")
    data = tmp_path / "data.yaml"
    data.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [" + ", ".join(CLASS_NAMES) + "]\n")
    assert main(["train", "--data", str(data), "--epochs", "1", "--imgsz", "64", "--project", str(tmp_path / "r")]) == 2
    assert "no usable training images" in capsys.readouterr().err
    assert main(["val", "--model", str(small_model), "--data", str(data), "--project", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable images in the 'val' split" in err[0] and "bad.jpg" in err[0]


def test_coco_json_with_bad_records_reports_each_once(corpus, small_model, tmp_path):
    clean, _, _ = corpus
    root = tmp_path / "ds"
    shutil.copytree(clean.parent, root)
    good = _coco_of(load_data_yaml(root / "data.yaml"))
    data, reasons = bad_coco_records(good)
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val.json").write_text(json.dumps(data))
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: annotations/instances_val.json\nval_images: images/val\n"
                                    "names: [" + ", ".join(CLASS_NAMES) + "]\n")
    _, metrics = _val_predictions(small_model, root / "data.yaml")
    got = [reason for _, reason in metrics.skipped]
    assert len(got) == len(reasons) and metrics.images == 4
    for reason in reasons:
        assert sum(reason in g for g in got) == 1, (reason, got)
    assert {reason_kind(r) for r in got} == set(got)


def _coco_of(cfg) -> dict:
    """A COCO instances json of a YOLO-seg val split (polygons in pixels, bbox from the polygon)."""
    from edgeseg.runtime.datasets.yolo import label_path, read_labels

    images, anns = [], []
    for i, path in enumerate(cfg.splits["val"]):
        h, w = cv2.imread(str(path)).shape[:2]
        images.append({"id": i + 1, "file_name": path.name, "height": h, "width": w})
        for inst in read_labels(label_path(path), cfg.nc).instances:
            poly = inst.polygon * [w, h]
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": inst.class_id + 1, "iscrowd": 0,
                         "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "area": float((x1 - x0) * (y1 - y0)),
                         "segmentation": [poly.ravel().astype(float).tolist()]})
    cats = [{"id": k + 1, "name": v} for k, v in cfg.names.items()]
    return {"images": images, "annotations": anns, "categories": cats}
