"""What a user installs: the wheel, in a fresh venv, with its declared extras; not the editable checkout.

The wheel is built from a clean copy of the tree, installed with `pip install <wheel>[train,onnx]` into a new
venv (its dependencies resolved by pip, as a user's would be), and then used from outside the checkout:
`edgeseg train` for one iteration and `edgeseg predict` on the reference's own ONNX export.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.reference import FIXTURES, require_fixtures

ROOT = Path(__file__).resolve().parents[1]
COMPONENT_DIRS = {"facade": "edgeseg", "runtime": "edgeseg.runtime", "trainer": "edgeseg.trainer",
                  "converters": "edgeseg.converters", "calibration": "edgeseg.calibration", "devices": "edgeseg.devices"}


def _declared_packages() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_source_folder_is_a_declared_package():
    """A folder of modules missing from `packages` is silently left out of the wheel (trainer/data once was)."""
    missing = []
    for folder, package in COMPONENT_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.parent.relative_to(ROOT / folder)
            name = ".".join([package, *rel.parts]) if rel.parts else package
            if name not in _declared_packages() or not (path.parent / "__init__.py").is_file():
                missing.append(f"{path.parent.relative_to(ROOT)} -> {name}")
    assert not sorted(set(missing)), sorted(set(missing))


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                                  "runs", "demo-output", ".pytest_cache", "dist"))
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("edgeseg-*.whl")
    return wheel


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_trains_and_runs_the_reference_onnx(tmp_path):
    require_fixtures()
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("edgeseg/trainer/data/dataset.py", "edgeseg/trainer/data/augment.py", "edgeseg/runtime/foreign.py",
                   "edgeseg/devices/intel-cpu.toml", "edgeseg/runtime/backends/tfjs_runner.js",
                   "edgeseg/trainer/families/yolo26-seg.yaml", "edgeseg/trainer/weights/shapes-yolov8n-seg.pt",
                   "edgeseg/trainer/weights/shapes-yolov8n-seg.recipe.yaml"):
        assert module in names, f"{module} is not in {wheel.name}"
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    assert _run([base_python, "-m", "venv", str(venv)], tmp_path).returncode == 0
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                f"{wheel}[train,onnx]"], tmp_path)
    assert pip.returncode == 0, pip.stderr[-3000:]
    edgeseg = str(venv / "bin" / "edgeseg")
    where = _run([str(venv / "bin" / "python"), "-c", "import edgeseg.trainer.data.dataset as d; print(d.__file__)"],
                 tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr

    data = tmp_path / "synth3.yaml"
    data.write_text(f"path: {FIXTURES / 'synth3'}\ntrain: images/train\nval: images/val\nnames: [a, b, c]\n")
    train = _run([edgeseg, "train", "--data", str(data), "--model", "yolo26n-seg", "--epochs", "1", "--imgsz", "64", "--batch", "2",
                  "--workers", "0", "--max-batches", "1", "--project", str(tmp_path / "runs"), "--name", "one",
                  "--no-plots"], tmp_path)
    assert train.returncode == 0, (train.stdout + train.stderr)[-3000:]
    assert (tmp_path / "runs" / "one" / "weights" / "last.pt").is_file()

    for stem in ("yolov8n-seg-user3-best", "yolo26n-seg-user3-best"):
        onnx = FIXTURES / f"{stem}.onnx"
        predict = _run([edgeseg, "predict", "--model", str(onnx), "--source", str(FIXTURES / "synth3" / "images" / "val"),
                        "--conf", "0.001", "--project", str(tmp_path / "pred"), "--name", stem, "--no-save"], tmp_path)
        assert predict.returncode == 0, (predict.stdout + predict.stderr)[-3000:]
        assert "4 images" in predict.stdout + predict.stderr, predict.stdout + predict.stderr
    detections = json.loads((tmp_path / "pred" / "yolov8n-seg-user3-best" / "predictions.json").read_text())
    assert len(detections) > 0 and {"bbox", "segmentation", "score"} <= set(detections[0])
