"""CLI behaviour: one clear line per bad input, exit 2 for usage errors, no traceback unless --verbose."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeseg.argv import rewrite_key_value
from edgeseg.cli import main


def test_key_value_rewrite():
    assert rewrite_key_value(["predict", "model=a.pt", "imgsz=320", "save=False", "save_txt=True", "--conf", "0.3"]) == [
        "predict", "--model", "a.pt", "--imgsz", "320", "--no-save", "--save-txt", "--conf", "0.3"]


@pytest.mark.parametrize("command", ["info", "predict", "demo", "backends", "train", "val", "export"])
def test_help_is_complete(command, capsys):
    assert main([command, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


@pytest.fixture()
def images(tmp_path):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), np.full((64, 80, 3), 90, np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "text.png"
    text.write_text("hello")
    (tmp_path / "empty").mkdir()
    return tmp_path


def run(args, capsys):
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("source,model,message", [
    ("missing.jpg", "yolov8n-seg", "missing.jpg: no such file"),
    ("truncated.jpg", "yolov8n-seg", "truncated.jpg: truncated JPEG"),
    ("text.png", "yolov8n-seg", "text.png: cannot decode image"),
    ("empty", "yolov8n-seg", "empty: directory contains no images"),
    ("good.jpg", "yolov9z-seg", "unknown model name"),
    ("good.jpg", "nothere.pt", "nothere.pt: no such model file"),
    ("good.jpg", "weights.bin", "weights.bin: no such model file"),
])
def test_bad_input_gives_one_clear_line_and_exit_2(images, source, model, message, capsys, torch_or_skip):
    code, err = run(["predict", "--source", str(images / source), "--model", model, "--no-save", "--no-save-json"], capsys)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_unknown_artifact_suffix(images, capsys):
    odd = images / "model.xyz"
    odd.write_text("?")
    code, err = run(["predict", "--source", str(images / "good.jpg"), "--model", str(odd), "--no-save"], capsys)
    assert code == 2 and "unknown model format" in err


def test_bad_image_in_a_directory_is_skipped_with_a_warning(images, capsys, torch_or_skip):
    code, err = run(["predict", "--source", str(images), "--model", "yolov8n-seg", "--no-save", "--no-save-json"], capsys)
    assert code == 0
    assert "skipping" in err and "truncated.jpg" in err and "1 images" in err


def test_verbose_shows_the_traceback(images, capsys):
    code, err = run(["predict", "--source", str(images / "missing.jpg"), "--verbose"], capsys)
    assert code == 2 and "Traceback" in err


def test_train_usage_errors_are_one_line(capsys, torch_or_skip):
    code, err = run(["train", "epochs=3"], capsys)
    assert code == 2 and "needs --data" in err
    code, err = run(["train", "data=missing.yaml"], capsys)
    assert code == 2 and "missing.yaml: no such dataset file" in err
    code, err = run(["train", "--data", "x.yaml", "--epoch", "3"], capsys)
    assert code == 2 and "unknown training option '--epoch'" in err


def test_module_entry_point_exit_code():
    out = subprocess.run([sys.executable, "-m", "edgeseg", "info", "--model", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown model name" in out.stderr
