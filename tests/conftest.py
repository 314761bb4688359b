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

# Seeded random-init weights detect nothing at conf 0.25 (class prior ~1e-3); tests that compare
# predictions use this conf so that the compared sets are non-empty (each test asserts that too).
LOW_CONF = 0.0005


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
    """yolov8n-seg, 80 classes, seed 0, with BN statistics perturbed so activations look trained-scale."""
    import torch

    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.model import build_model

    model = build_model(config_from_name("yolov8n-seg"), seed=0)
    gen = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=gen) * 0.4 - 0.2)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
    return model.eval()


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    from edgeseg.runtime.datasets.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synthetic"), n_train=4, n_val=4, seed=0)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
