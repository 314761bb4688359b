"""Recipe parity with the reference trainer, recorded for CI (tests/test_train_parity.py compares against it).

Two records, both made with the real reference (Ultralytics 8.4.190) in its own venv:
1. losses: the same imported weights (the reference's own best.pt of each family) and the same fixed batch
   (synth3 train images, augmentation off, letterboxed by edgeseg, written to train_parity_batch.npz) through the
   reference's criterion: every loss component, the total, and the assigner's positive anchors;
2. schedule: a short real training run of the reference on synth3 with a callback recording, per iteration, the
   learning rate of each parameter group, momentum, the accumulate ramp and the EMA update count.

Usage: .venv/bin/python bench/train_parity.py --reference-python REF_VENV/bin/python
(no reference: it prints our values only; the test skips nothing, since the records are committed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RECORDS = ROOT / "tests" / "fixtures" / "ultralytics_8_4_190"
STEMS = ("yolov8n-seg-user3-best", "yolo11n-seg-user3-best", "yolo26n-seg-user3-best")
IMGSZ, IMAGES = 160, 4
SCHEDULE = {"epochs": 4, "imgsz": 64, "batch": 2, "nbs": 8}


def make_batch(path: Path) -> dict:
    """The fixed batch: the first synth3 train images, letterboxed, masks at 1/4 with overlaps resolved."""
    from helpers.reference import FIXTURES

    from edgeseg.runtime.datasets.yolo import load_data_yaml
    from edgeseg.trainer.data.augment import AugmentConfig
    from edgeseg.trainer.data.dataset import SegDataset, collate, scan

    data = FIXTURES / "synth3" / "data.yaml"
    records, _ = scan(load_data_yaml(data).splits["train"][:IMAGES], 3)
    dataset = SegDataset(records, IMGSZ, False, AugmentConfig())
    batch = collate([dataset[i] for i in range(len(dataset))])
    arrays = {k: v.numpy() for k, v in batch.items()}
    np.savez_compressed(path, **arrays)
    return arrays


REFERENCE_SCRIPT = r'''
import json, os, sys
os.environ["YOLO_OFFLINE"] = "1"
import numpy as np, torch
torch.set_num_threads(1)
from ultralytics import YOLO
from ultralytics.cfg import get_cfg
fixtures, batch_path, out_path, sched = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
b = np.load(batch_path)
img = torch.from_numpy(b["img"]).float() / 255
h, w = img.shape[2:]
boxes = torch.from_numpy(b["boxes"])
xywh = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2 / w, (boxes[:, 1] + boxes[:, 3]) / 2 / h,
                    (boxes[:, 2] - boxes[:, 0]) / w, (boxes[:, 3] - boxes[:, 1]) / h], 1)
idx = torch.from_numpy(b["batch_idx"])
masks = torch.from_numpy(b["masks"]).float()
overlap = torch.zeros(len(img), *masks.shape[1:])
for i in range(len(img)):  # the reference's overlap_mask format: value k+1 where the image's k-th instance is
    for k, m in enumerate(masks[idx == i]):
        overlap[i][m > 0] = k + 1
batch = {"img": img, "batch_idx": idx.float(), "cls": torch.from_numpy(b["cls"]).float().view(-1, 1),
         "bboxes": xywh, "masks": overlap}
batch["sem_masks"] = torch.zeros(len(img), *masks.shape[1:])
for k, m in enumerate(masks):
    batch["sem_masks"][int(idx[k])][m > 0] = float(b["cls"][k])
record = {"losses": {}, "schedule": {}}
for stem in sys.argv[5].split(","):
    model = YOLO(os.path.join(fixtures, stem + ".pt")).model.float()
    model.args = get_cfg(overrides={"epochs": 100})
    model.train()
    preds = model(batch["img"])
    loss, items = model.loss(batch, preds)
    crit = model.criterion
    branch = crit.one2many if hasattr(crit, "one2many") else crit
    p = branch.parse_output(preds)
    p = p["one2many"] if "one2many" in p else p
    (fg, gt_idx, _, _, _), _, _ = branch.get_assigned_targets_and_loss(p, batch)
    record["losses"][stem] = {"total": float(loss.sum()), "items": {k: float(v) for k, v in items.items()},
                              "fg": int(fg.sum()), "fg_index": fg.view(-1).nonzero().view(-1).tolist()}
rows = []
def on_batch_end(trainer):
    rows.append({"epoch": trainer.epoch, "accumulate": trainer.accumulate, "ema_updates": trainer.ema.updates,
                 "lr": {g.get("param_group", str(j)): g["lr"] for j, g in enumerate(trainer.optimizer.param_groups)},
                 "momentum": trainer.optimizer.param_groups[0].get("betas", [trainer.optimizer.param_groups[0].get("momentum")])[0]})
model = YOLO("yolov8n-seg.yaml")
model.add_callback("on_train_batch_end", on_batch_end)
data = os.path.abspath("synth3.yaml")
open(data, "w").write(f"path: {os.path.join(fixtures, 'synth3')}\ntrain: images/train\nval: images/val\nnames: [a, b, c]\n")
model.train(data=data, epochs=sched["epochs"], imgsz=sched["imgsz"],
            batch=sched["batch"], nbs=sched["nbs"], workers=0, device="cpu", plots=False, val=False, amp=False,
            project=os.path.dirname(out_path), name="sched", exist_ok=True, seed=0)
record["schedule"] = {"settings": sched, "train_images": len(model.trainer.train_loader.dataset), "rows": rows}
json.dump(record, open(out_path, "w"), indent=1)
'''


def record_reference(python: str, batch_path: Path) -> dict:
    from helpers.reference import FIXTURES

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        env = {**os.environ, "YOLO_OFFLINE": "1"}
        done = subprocess.run([python, "-c", REFERENCE_SCRIPT, str(FIXTURES), str(batch_path), str(out),
                               json.dumps(SCHEDULE), ",".join(STEMS)], env=env, cwd=tmp, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"reference run failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", help="python of a venv with ultralytics 8.4.190")
    args = parser.parse_args()
    batch_path = RECORDS / "train_parity_batch.npz"
    make_batch(batch_path)
    if args.reference_python:
        record = record_reference(args.reference_python, batch_path)
        (RECORDS / "train_parity.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORDS / 'train_parity.json'}")
    from test_train_parity import our_losses  # the test's own computation, printed beside the record

    for stem in STEMS:
        print(stem, our_losses(stem, batch_path))


if __name__ == "__main__":
    main()
