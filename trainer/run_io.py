"""Run directory outputs: args.yaml, results.csv, and checkpoints that can resume training exactly."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import yaml

from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.paths import increment_dir

from .checkpoint import atomic_torch_save, checkpoint_dict, load_checkpoint

CSV_COLUMNS = ["epoch", "train/box_loss", "train/seg_loss", "train/cls_loss", "train/dfl_loss", "train/sem_loss",
               "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
               "metrics/precision(M)", "metrics/recall(M)", "metrics/mAP50(M)", "metrics/mAP50-95(M)",
               "val/box_loss", "val/seg_loss", "val/cls_loss", "val/dfl_loss", "val/sem_loss",
               "lr/pg0", "lr/pg1", "lr/pg2", "epoch_time_s"]


def new_run_dir(project: str, name: str, exist_ok: bool) -> Path:
    return increment_dir(Path(project) / name, exist_ok)


LOCK_NAME = ".edgeseg-lock"


def lock_run_dir(run_dir: Path):
    """Hold an exclusive lock on the run directory for this process's lifetime: a second `train --resume` (or a
    run reusing it with --exist-ok) refuses instead of writing the same results.csv and checkpoints."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks to take
        return None
    handle = open(run_dir / LOCK_NAME, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(f"{run_dir}: another edgeseg process is training in this run directory; wait for it to "
                         f"finish (or stop it) before resuming") from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def write_args(run_dir: Path, args: dict) -> None:
    (run_dir / "args.yaml").write_text(yaml.safe_dump(args, sort_keys=False))


def results_row(epoch: int, seconds: float, losses: dict[str, float], lrs: list[float], metrics=None,
                val_losses: dict[str, float] | None = None) -> dict[str, float]:
    """One results.csv row: training (and validation) loss parts, metrics, the lr each group trained with."""
    row = {"epoch": epoch + 1, "epoch_time_s": seconds}
    row.update({f"train/{k}_loss": float(v) for k, v in losses.items()})
    row.update({f"val/{k}_loss": float(v) for k, v in (val_losses or {}).items()})
    if metrics is not None:
        for tag, m in (("B", metrics.box), ("M", metrics.seg)):
            row.update({f"metrics/precision({tag})": m.mp, f"metrics/recall({tag})": m.mr,
                        f"metrics/mAP50({tag})": m.map50, f"metrics/mAP50-95({tag})": m.map})
    row.update({f"lr/pg{j}": lr for j, lr in enumerate(lrs)})
    return row


def append_results(run_dir: Path, row: dict[str, float]) -> None:
    _append_rows(run_dir / "results.csv", [row])


def _append_rows(path: Path, rows: list[dict[str, float]]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in CSV_COLUMNS})


def read_results(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "results.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(fh)]


def truncate_results(run_dir: Path, completed_epochs: int) -> None:
    """Drop rows of epochs after the checkpoint (they belonged to an interrupted attempt; a fresh run keeps none).
    The shorter file replaces the old one by rename, so a kill here loses no completed epoch's row."""
    path = run_dir / "results.csv"
    if not path.exists():
        return
    rows = [{**r, "epoch": int(r["epoch"])} for r in read_results(run_dir) if r["epoch"] <= completed_epochs]
    staging = run_dir / ".results.csv.tmp"
    staging.unlink(missing_ok=True)
    _append_rows(staging, rows)
    os.replace(staging, path)


def save_training_state(path: Path, ema_model, names, imgsz, state: dict[str, Any]) -> Path:
    """last.pt: EMA weights as the model (what inference uses) plus everything needed to resume."""
    return atomic_torch_save(checkpoint_dict(ema_model, names, imgsz, **state), path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """A last.pt written by the trainer (loaded without running any code from it)."""
    loaded = load_checkpoint(path)
    ckpt = loaded.checkpoint
    if "train_args" not in ckpt or "optimizer" not in ckpt:
        raise UsageError(f"{path}: not a resumable edgeseg training checkpoint (no optimizer/training state)")
    return {"loaded": loaded, **ckpt}

