"""Shared fixtures: real datasets from ../shared (skipped cleanly when absent), seeded models, synthetic data."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # for tests/helpers only; the package itself comes from the install

SHARED = Path(__import__("os").environ.get("EDGESEG_SHARED", ROOT.parent / "shared"))
COCO8 = SHARED / "datasets" / "coco8-seg"
COCO200 = SHARED / "datasets" / "coco200-seg"
COCO200_PERSON = SHARED / "datasets" / "coco200-person-seg"

# Random-init weights detect nothing at conf 0.25 (the class prior keeps scores near 1e-4). The seeded test
# model (tests/helpers/models.py) has BN statistics estimated on synthetic photos and random class/box heads,
# so its scores vary smoothly with the image (top ~0.7). Prediction-level comparisons use this conf and keep
# the best MAX_DET per image: enough instances to compare (each test asserts > 0), without the few-pixel
# masks of the lowest-scoring ones, whose IoU is dominated by single pixels.
LOW_CONF = 0.3
MAX_DET = 50


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"dataset not present: {path} (tests on real data need ../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def coco8() -> Path:
    return _require(COCO8)


@pytest.fixture(scope="session")
def coco200() -> Path:
    return _require(COCO200)


@pytest.fixture(scope="session")
def coco200_person() -> Path:
    return _require(COCO200_PERSON)


@pytest.fixture(scope="session")
def torch_or_skip():
    return pytest.importorskip("torch", reason="torch not installed (pip install 'edgeseg[train]')")


@pytest.fixture(scope="session")
def seeded_model(torch_or_skip):
    from helpers.models import make_seeded_model

    return make_seeded_model()


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    from edgeseg.runtime.datasets.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synthetic"), n_train=4, n_val=4, seed=0)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# Exported artifacts shared by the runtime and export tests (each export takes seconds, so each is made once).
IMGSZ = 320
NAMES = {i: f"c{i}" for i in range(80)}
SUFFIX = {"onnx": ".onnx", "openvino": "_openvino_model", "torchscript": ".torchscript", "ncnn": "_ncnn_model",
          "coreml": ".mlpackage", "tflite": ".tflite", "saved_model": "_saved_model", "graphdef": ".pb",
          "tfjs": "_web_model", "paddle": "_paddle_model"}


@pytest.fixture(scope="session")
def checkpoint(seeded_model, tmp_path_factory):
    from edgeseg.trainer.checkpoint import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", seeded_model, NAMES, imgsz=IMGSZ)


@pytest.fixture(scope="session")
def artifacts(checkpoint, tmp_path_factory):
    """artifacts(fmt, **export_options) -> ExportResult, cached per session."""
    pytest.importorskip("onnx", reason="export toolchain not installed (pip install 'edgeseg[export]')")
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    out, cache = tmp_path_factory.mktemp("artifacts"), {}

    def get(fmt: str, **kw):
        key = (fmt, tuple(sorted(kw.items())))
        if key not in cache:
            name = "_".join([fmt] + [f"{k}{v}" for k, v in sorted(kw.items())])
            options = ExportOptions(format=fmt, imgsz=(IMGSZ, IMGSZ), output=out / f"{name}{SUFFIX[fmt]}", **kw)
            cache[key] = export(checkpoint, options)
        return cache[key]

    return get


def overfit_yaml(coco8: Path, tmp_path: Path) -> Path:
    """coco8-seg scored on its own train images: where a 4-image overfit model has a mAP worth measuring."""
    import yaml

    names = yaml.safe_load((coco8 / "data.yaml").read_text())["names"]
    path = tmp_path / "overfit.yaml"
    path.write_text(yaml.safe_dump({"path": str(coco8), "train": "images/train", "val": "images/train", "names": names}))
    return path


@pytest.fixture(scope="session")
def coco8_trained(coco8, torch_or_skip, tmp_path_factory):
    """yolov8n-seg trained from scratch on the 4 coco8 train images at 320 (100 epochs, ~1.5 min), made once per
    session: the trainer test checks the run, the INT8 tests quantise its best.pt."""
    import os

    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import Trainer

    tmp = tmp_path_factory.mktemp("overfit")
    os.environ.setdefault("EDGESEG_CACHE_DIR", str(tmp / "cache"))
    args = TrainArgs(data=str(overfit_yaml(coco8, tmp)), epochs=100, imgsz=320, batch=2, workers=0,
                     optimizer="AdamW", lr0=0.002, warmup_epochs=1.0, mosaic=0.0, close_mosaic=0, scale=0.2,
                     translate=0.05, project=str(tmp / "runs"), name="overfit")
    return Trainer(args).train()
