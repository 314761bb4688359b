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
