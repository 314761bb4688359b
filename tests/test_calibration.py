"""Calibration sets: selection, the manifest, and the errors that keep INT8 calibration honest."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from edgeseg.calibration.adapters import tflite_representative_dataset, write_tensorrt_cache
from edgeseg.calibration.dataset import (
    CalibrationError,
    build_calibration_set,
    load_calibration_set,
    select_images,
    spec_hash,
)
from edgeseg.runtime.letterbox import letterbox, to_input_tensor
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.sources import read_image


@pytest.fixture(scope="module")
def calib_data(tmp_path_factory):
    from edgeseg.runtime.datasets.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("calibdata"), n_train=12, n_val=3, seed=3)


def test_balanced_selection_covers_every_class_before_filling():
    classes = [[0], [0], [0], [0], [1], [0], [2, 0], [0], [3]]
    picked = select_images(classes, 4, "balanced", seed=0)
    assert len(picked) == 4 and len(set(picked)) == 4
    assert {c for i in picked for c in classes[i]} == {0, 1, 2, 3}
    assert select_images(classes, 4, "balanced", seed=0) == picked  # seeded
    assert len(select_images(classes, 5, "random", seed=1)) == 5


def test_build_writes_a_manifest_that_pins_images_and_preprocessing(calib_data, tmp_path):
    calib = build_calibration_set(calib_data, tmp_path / "set", n=6, imgsz=(160, 192), seed=1)
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["count"] == manifest["requested"] == 6 == len(calib)
    assert manifest["split"] == "train" and manifest["strategy"] == "balanced" and manifest["seed"] == 1
    assert manifest["preprocessing"]["imgsz"] == [160, 192]
    assert manifest["preprocessing_sha256"] == spec_hash(manifest["preprocessing"])
    assert manifest["classes_covered"] == manifest["classes_present"] and manifest["missing_classes"] == []
    assert all(len(rec["sha256"]) == 64 for rec in manifest["images"])
    # the stored tensors are exactly the runtime's preprocessing of the listed images
    first = calib_data.parent / manifest["images"][0]["file"]
    want = to_input_tensor([letterbox(read_image(first), (160, 192))[0]])
    np.testing.assert_array_equal(calib.nchw(0), want)
    again = load_calibration_set(tmp_path / "set")
    assert again.manifest_sha256 == calib.manifest_sha256 and again.imgsz == (160, 192)
    nhwc = next(tflite_representative_dataset(again))[0]
    assert nhwc.shape == (1, 160, 192, 3) and nhwc.dtype == np.float32


def test_refuses_val_split_too_few_images_and_tampered_arrays(calib_data, tmp_path):
    with pytest.raises(CalibrationError, match="refusing to calibrate on the 'val' split"):
        build_calibration_set(calib_data, tmp_path / "a", split="val", n=2, imgsz=(160, 160))
    with pytest.raises(CalibrationError, match="asked for 50 calibration images but split 'train' has 12"):
        build_calibration_set(calib_data, tmp_path / "b", n=50, imgsz=(160, 160))
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    build_calibration_set(calib_data, tmp_path / "c", n=3, imgsz=(160, 160))
    with np.load(tmp_path / "c" / "calib.npz") as npz:
        images = npz["images"].copy()
    images[0, 0, 0, 0] ^= 1
    np.savez_compressed(tmp_path / "c" / "calib.npz", images=images)
    with pytest.raises(CalibrationError, match="do not match the manifest's hash"):
        load_calibration_set(tmp_path / "c")
    with pytest.raises(CalibrationError, match="not a calibration set"):
        load_calibration_set(tmp_path / "missing")


def test_preprocessing_mismatch_with_the_artifact_is_an_error(calib_data, tmp_path):
    calib = build_calibration_set(calib_data, tmp_path / "set", n=3, imgsz=(160, 160))
    meta = ModelMetadata(names={0: "a"}, imgsz=(160, 160))
    calib.check_matches(meta, "model.onnx")  # same geometry and preprocessing: fine
    with pytest.raises(CalibrationError, match="imgsz"):
        calib.check_matches(dataclasses.replace(meta, imgsz=(320, 320)), "model.onnx")
    other = dict(meta.preprocessing, letterbox_color=0)
    with pytest.raises(CalibrationError, match="letterbox_color"):
        calib.check_matches(dataclasses.replace(meta, preprocessing=other), "model.onnx")


def test_calib_build_cli(calib_data, tmp_path):
    from edgeseg.cli import main

    out = tmp_path / "cli"
    assert main(["calib", "build", "--data", str(calib_data), "--n", "4", "--imgsz", "160", "--out", str(out)]) == 0
    assert load_calibration_set(out).manifest["count"] == 4
    assert main(["calib", "build", "--data", str(calib_data), "--split", "val", "--n", "2"]) == 2


def test_tensorrt_cache_format(tmp_path):
    path = write_tensorrt_cache({"images": 1.0, "conv1": 12.7}, tmp_path / "calib.cache")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("TRT-") and lines[1] == "conv1: 3dcccccd" and lines[2] == "images: 3c010204"
