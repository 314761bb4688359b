"""The same recipe as the reference (Ultralytics 8.4.190), checked against its recorded values
(tests/fixtures/ultralytics_8_4_190/train_parity.json, made by bench/train_parity.py with the real tool):
- the same weights on the same batch give the same loss components (1e-4 relative) and positive anchors;
- the same run settings give the same learning rate per parameter group, momentum and accumulate at every
  iteration (warmup length, bias warmup, the schedule's steps)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.reference import FIXTURES, RECORDS, require_fixtures  # noqa: E402

RECORD = RECORDS / "train_parity.json"
BATCH = RECORDS / "train_parity_batch.npz"
REFERENCE_NAMES = {"box_loss": "box", "seg_loss": "seg", "cls_loss": "cls", "dfl_loss": "dfl", "l1_loss": "dfl",
                   "sem_loss": "sem"}


def _record() -> dict:
    if not RECORD.is_file():
        pytest.skip(f"{RECORD} not recorded (bench/train_parity.py --reference-python REF_VENV/bin/python)")
    return json.loads(RECORD.read_text())


def our_losses(stem: str, batch_path: Path = BATCH) -> dict:
    """Our criterion on the recorded batch with the reference's own checkpoint (train mode, as a training step)."""
    from edgeseg.trainer.checkpoint import load_checkpoint
    from edgeseg.trainer.loss import PARTS, LossGains, build_loss

    model = load_checkpoint(require_fixtures() / f"{stem}.pt").model.float().train()
    arrays = np.load(batch_path)
    batch = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
    criterion = build_loss(model, LossGains(), epochs=100)
    total, parts = criterion(model(batch["img"].float() / 255), batch)
    branch = getattr(criterion, "one2many", criterion)
    fg = branch.last_positives.reshape(-1).nonzero().view(-1).tolist()
    return {"total": float(total), "items": dict(zip(PARTS, parts.tolist())), "fg": len(fg), "fg_index": fg}


@pytest.mark.parametrize("stem", ["yolov8n-seg-user3-best", "yolo11n-seg-user3-best", "yolo26n-seg-user3-best"])
def test_loss_components_and_positives_equal_the_references(stem):
    want = _record()["losses"][stem]
    got = our_losses(stem)
    assert got["fg"] == want["fg"] and got["fg_index"] == want["fg_index"]
    for name, value in want["items"].items():
        ours = got["items"][REFERENCE_NAMES[name]]
        assert ours == pytest.approx(value, rel=1e-4, abs=1e-6), (stem, name, ours, value)
    assert got["total"] == pytest.approx(want["total"], rel=1e-4)


def test_schedule_equals_the_references(tmp_path, monkeypatch):
    """Learning rate per group, momentum and accumulate at every iteration of the same short run."""
    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import Trainer

    sched = _record()["schedule"]
    s = sched["settings"]
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    trainer = Trainer(TrainArgs(data=str(FIXTURES / "synth3" / "data.yaml"), epochs=s["epochs"], imgsz=s["imgsz"],
                                batch=s["batch"], nbs=s["nbs"], workers=0, val=False, plots=False,
                                project=str(tmp_path), name="sched"), log=lambda m: None)
    rows = []
    trainer.batch_callbacks.append(lambda t, epoch, i: rows.append({
        "epoch": epoch, "accumulate": t.accumulate,
        "lr": {g["param_group"]: g["lr"] for g in t.optimizer.param_groups},
        "momentum": t.optimizer.param_groups[0].get("betas", [t.optimizer.param_groups[0].get("momentum")])[0]}))
    trainer.train()
    assert len(rows) == len(sched["rows"])
    for ours, theirs in zip(rows, sched["rows"]):
        assert ours["epoch"] == theirs["epoch"] and ours["accumulate"] == theirs["accumulate"], (ours, theirs)
        for group, lr in theirs["lr"].items():
            assert ours["lr"][group] == pytest.approx(lr, rel=1e-6, abs=1e-12), (group, ours, theirs)
        assert ours["momentum"] == pytest.approx(theirs["momentum"], rel=1e-6)
