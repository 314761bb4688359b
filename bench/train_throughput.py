"""Training throughput (images/s) for yolov8n-seg, batch 8, at imgsz 320 and 640 on this CPU, with dataloader wait
vs compute time; with --reference-python, the reference trains the same data in the same way in the same run
(its defaults: 1 torch thread, 0 workers on CPU; and patched to 2 threads).

Usage: .venv/bin/python bench/train_throughput.py [--data ../shared/datasets/coco200-seg/data.yaml]
           [--sizes 320 640] [--batches 12] [--workers N (default: edgeseg's own, 0 on CPU)] [--reference-python REF_VENV/bin/python]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers
from dataset_yaml import absolute_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "coco200-seg" / "data.yaml"


def ours(data: Path, imgsz: int, batches: int, workers: int | None, out: Path) -> dict:
    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import Trainer

    args = TrainArgs(data=str(data), epochs=1, imgsz=imgsz, batch=8, workers=workers, val=False, plots=False,
                     max_batches=batches + 2, project=str(out), name=f"ours{imgsz}")
    trainer = Trainer(args)
    trainer.setup()
    trainer.train_epoch(0)  # includes 2 warm-up batches; rerun below for the timed figure
    trainer.args.max_batches = batches
    trainer.nb = batches
    trainer.train_epoch(1)
    t = trainer.timing
    total = t["data_s"] + t["step_s"]
    return {"images_per_s": t["images"] / total, "data_s_per_batch": t["data_s"] / batches,
            "step_s_per_batch": t["step_s"] / batches}


REFERENCE_SCRIPT = r"""
import json, os, sys, time
os.environ["YOLO_OFFLINE"] = "1"
import torch
from ultralytics import YOLO
data, imgsz, batches, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
stamps = []
def on_train_start(trainer):
    if threads != "default":
        torch.set_num_threads(int(threads))
threads_seen = []
def on_batch_end(trainer):
    stamps.append(time.perf_counter())
    threads_seen.append(torch.get_num_threads())
    if len(stamps) >= batches + 2:
        trainer.stop = True
        raise KeyboardInterrupt
model = YOLO("yolov8n-seg.yaml")
model.add_callback("on_train_start", on_train_start)
model.add_callback("on_train_batch_end", on_batch_end)
try:
    model.train(data=data, epochs=1, imgsz=imgsz, batch=8, val=False, plots=False, device="cpu", project=sys.argv[5], exist_ok=True)
except KeyboardInterrupt:
    pass
span = stamps[-1] - stamps[1]
print("REF_JSON " + json.dumps({"images_per_s": 8 * (len(stamps) - 2) / span, "threads": threads, "torch_threads": threads_seen[-1]}))
"""


def reference(python: str, data: Path, imgsz: int, batches: int, threads: str, out: Path) -> dict:
    script = out / "ref_train.py"
    script.write_text(REFERENCE_SCRIPT)
    local = out / "data"
    if not local.exists():  # the reference writes label caches next to a dataset: give it a private copy
        shutil.copytree(data.parent, local)
        absolute_yaml(local / data.name, local / data.name)  # the reference resolves a relative `path:` against its cwd
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(out), "YOLO_OFFLINE": "1"}
    proc = subprocess.run([python, str(script), str(local / data.name), str(imgsz), str(batches), threads, str(out / "runs")],
                          capture_output=True, text=True, env=env, timeout=3000, cwd=out)
    for line in proc.stdout.splitlines():
        if line.startswith("REF_JSON "):
            return json.loads(line[9:])
    raise RuntimeError(f"reference training failed: {proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (edgeseg, reference at 2 threads)")
    parser.add_argument("--reference-python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for imgsz in args.sizes:
            mine, theirs = [], []
            for _ in range(args.rounds):  # alternating, so a slow spell of this shared machine hits both
                mine.append(ours(args.data, imgsz, args.batches, args.workers, out))
                if args.reference_python:
                    theirs.append(reference(args.reference_python, args.data, imgsz, args.batches, "2", out)["images_per_s"])
            m = sorted(mine, key=lambda r: r["images_per_s"])[len(mine) // 2]
            listed = ", ".join(f"{r['images_per_s']:.2f}" for r in mine)
            print(f"imgsz {imgsz}: edgeseg {m['images_per_s']:.2f} images/s, median of {len(mine)} "
                  f"({listed}; per batch: data wait "
                  f"{m['data_s_per_batch'] * 1000:.0f} ms, step {m['step_s_per_batch'] * 1000:.0f} ms)")
            if args.reference_python:
                median = statistics.median(theirs)
                listed = ", ".join(f"{v:.2f}" for v in theirs)
                print(f"imgsz {imgsz}: reference patched to 2 torch threads {median:.2f} images/s, median of "
                      f"{len(theirs)} ({listed}) -> edgeseg {m['images_per_s'] / median:.2f}x")
                default = reference(args.reference_python, args.data, imgsz, args.batches, "default", out)
                print(f"imgsz {imgsz}: reference with its defaults (torch threads {default['torch_threads']}, no "
                      f"workers) {default['images_per_s']:.2f} images/s -> edgeseg {m['images_per_s'] / default['images_per_s']:.2f}x")


if __name__ == "__main__":
    main()
