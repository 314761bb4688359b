"""Kills never corrupt a run: a training subprocess is SIGKILLed at seeded random points and inside checkpoint
writes (half the bytes on disk, then the kill). Every time, last.pt/best.pt are absent or load completely, no partial
file sits at a final path, and --resume (or a restart when no checkpoint exists yet) ends with weights equal to an
uninterrupted run's (CPU, deterministic, same epochs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

HELPER = Path(__file__).parent / "helpers" / "kill_in_save.py"
EPOCHS = 3


def _args(data: Path, project: Path) -> list[str]:
    return ["train", "--data", str(data), "--epochs", str(EPOCHS), "--project", str(project), "--name", "run",
            "--exist-ok", "--imgsz", "128", "--batch", "4", "--workers", "0", "--no-plots", "--warmup-epochs", "0",
            "--optimizer", "AdamW", "--lr0", "0.002", "--deterministic"]


def _run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def reference(synthetic_data, tmp_path_factory):
    """An uninterrupted run's last.pt, and the environment every run here shares."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    env = {**os.environ, "EDGESEG_CACHE_DIR": str(tmp / "cache"), "OMP_NUM_THREADS": "2"}
    out = _run([sys.executable, "-m", "edgeseg", *_args(synthetic_data, tmp)], env)
    assert out.returncode == 0, out.stderr[-2000:]
    return _state(tmp / "run" / "weights" / "last.pt"), env


def _check_after_kill(weights: Path) -> int | None:
    """Whatever a kill left: final paths hold complete checkpoints (or nothing). Returns last.pt's epoch."""
    for name in ("last.pt", "best.pt"):
        if (weights / name).exists():
            _state(weights / name)  # complete and loadable, never half a file
    return int(_state(weights / "last.pt")["epoch"]) if (weights / "last.pt").exists() else None


def _continue(data: Path, project: Path, env: dict) -> None:
    last = project / "run" / "weights" / "last.pt"
    if last.exists() and int(_state(last)["epoch"]) == EPOCHS - 1:
        return  # the kill came after the final checkpoint: the run is complete
    cmd = (["train", "--resume", str(last), "--workers", "0"] if last.exists() else _args(data, project))
    out = _run([sys.executable, "-m", "edgeseg", *cmd], env)
    assert out.returncode == 0, out.stderr[-2000:]


def _assert_equal_to_reference(project: Path, reference: dict) -> None:
    weights = project / "run" / "weights"
    assert not [p for p in weights.iterdir() if p.name.endswith(".tmp")]  # interrupted writes are cleaned up
    final = _state(weights / "last.pt")
    assert final["epoch"] == reference["epoch"] == EPOCHS - 1
    for key in ("state_dict", "train_model_state"):
        for name, tensor in reference[key].items():
            assert torch.equal(tensor, final[key][name]), (key, name)
    rows = (project / "run" / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(e) for e in range(1, EPOCHS + 1)]


# torch.save calls per epoch: best.pt (always in the first epoch), then last.pt (the commit point)
@pytest.mark.slow
@pytest.mark.parametrize("save_call", [1, 2, 3], ids=["first-best.pt", "first-last.pt", "second-epoch"])
def test_kill_inside_a_checkpoint_write(save_call, reference, synthetic_data, tmp_path):
    ref, env = reference
    out = _run([sys.executable, str(HELPER), str(save_call), *_args(synthetic_data, tmp_path)], env)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    weights = tmp_path / "run" / "weights"
    assert [p for p in weights.iterdir() if p.name.endswith(".tmp")]  # the half-written temp file is there...
    epoch = _check_after_kill(weights)  # ...and never at a final path
    assert epoch == {1: None, 2: None, 3: 0}[save_call]
    _continue(synthetic_data, tmp_path, env)
    _assert_equal_to_reference(tmp_path, ref)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_a_random_point_then_resume(seed, reference, synthetic_data, tmp_path):
    ref, env = reference
    delay = float(np.random.default_rng(seed).uniform(0.0, 2.0))
    proc = subprocess.Popen([sys.executable, "-m", "edgeseg", *_args(synthetic_data, tmp_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (tmp_path / "run" / "results.csv").exists() and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)  # seeded: somewhere in epochs 2-3, possibly inside a checkpoint write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _check_after_kill(tmp_path / "run" / "weights")
    _continue(synthetic_data, tmp_path, env)
    _assert_equal_to_reference(tmp_path, ref)
