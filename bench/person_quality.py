"""Training quality on real photos, both tools, same recipe, one run (never two trainings at once on 2 cores):
yolov8n-seg (or --model yolo11n-seg / yolo26n-seg) from scratch on ../shared/datasets/coco200-person-seg, each tool
with its own defaults otherwise. Per-epoch val-split curves of both tools go into one PNG; best.pt (picked on val)
and last.pt are scored on both splits by each tool's own validator (last.pt on train: how far the recipe fits real
photos).

Usage: .venv/bin/python bench/person_quality.py [--model yolov8n-seg] [--epochs 100] [--imgsz 320] [--batch 8]
           [--seed 0] [--reference-python REF_VENV/bin/python] [--out runs/person_quality]
Our run's best.pt is what tests/fixtures/models/person-yolov8n-seg.pt was made from (stripped to FP16).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers, also when loaded by file path
from dataset_yaml import absolute_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "coco200-person-seg" / "data.yaml"


def ours(args, out: Path) -> dict:
    from edgeseg.model import open_predictor
    from edgeseg.runtime.validate import validate
    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import Trainer

    run_dir = out / "edgeseg"
    if args.reuse_ours:
        best = run_dir / "weights" / "best.pt"
        if not best.is_file():
            raise SystemExit(f"--reuse-ours: {best} does not exist (run once without it to train)")
    else:
        result = Trainer(TrainArgs(data=str(args.data), model=args.model, epochs=args.epochs, imgsz=args.imgsz,
                                   batch=args.batch, seed=args.seed, project=str(out), name="edgeseg",
                                   exist_ok=True, plots=False)).train()
        best, run_dir = result.best, result.run_dir
    scores = {}
    for weights in ("best", "last"):  # best.pt is picked on val: on train, last.pt says how far the recipe fits
        predictor = open_predictor(str(Path(best).with_name(f"{weights}.pt")))
        for split in ("train", "val"):
            m = validate(predictor, absolute_yaml(args.data, out / f"{split}.yaml", split), "val", imgsz=args.imgsz)
            scores[_key(weights, split)] = {"box": m.box.map, "mask": m.seg.map, "mask50": m.seg.map50}
    rows = list(csv.DictReader(open(run_dir / "results.csv")))
    return {"scores": scores, "curve": [float(r["metrics/mAP50-95(M)"] or 0) for r in rows], "best": str(best)}


REFERENCE = r'''
import json, os, sys
os.environ["YOLO_OFFLINE"] = "1"
from ultralytics import YOLO
a = json.loads(sys.argv[1])
model = YOLO(a["model"] + ".yaml")
model.train(data=a["data"], epochs=a["epochs"], imgsz=a["imgsz"], batch=a["batch"], seed=a["seed"], device="cpu",
            plots=False, project=a["out"], name="reference", exist_ok=True)
scores = {}
for weights in ("best", "last"):
    path = os.path.join(model.trainer.save_dir, "weights", weights + ".pt")
    for split, yaml_path in a["splits"].items():
        m = YOLO(path).val(data=yaml_path, imgsz=a["imgsz"], batch=1, device="cpu", plots=False, verbose=False)
        key = split if weights == "best" else f"{split} (last.pt)"
        scores[key] = {"box": float(m.box.map), "mask": float(m.seg.map), "mask50": float(m.seg.map50)}
print("RESULT " + json.dumps({"scores": scores, "results": os.path.join(model.trainer.save_dir, "results.csv")}))
'''


def _key(weights: str, split: str) -> str:
    return split if weights == "best" else f"{split} (last.pt)"


def reference(args, out: Path) -> dict:
    splits = {s: str(absolute_yaml(args.data, out / f"{s}.yaml", s)) for s in ("train", "val")}
    # the val-split yaml carries the dataset's absolute path (the reference resolves a relative one against its cwd)
    payload = json.dumps({"model": args.model, "data": splits["val"], "epochs": args.epochs, "imgsz": args.imgsz,
                          "batch": args.batch, "seed": args.seed, "out": str(out.resolve()), "splits": splits})
    done = subprocess.run([args.reference_python, "-c", REFERENCE, payload], capture_output=True, text=True,
                          env={**os.environ, "YOLO_OFFLINE": "1"}, cwd=out)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"reference run failed:\n{done.stderr[-3000:]}")
    record = json.loads(line[7:])
    rows = list(csv.DictReader(open(record["results"])))
    key = next(k for k in rows[0] if k.strip() == "metrics/mAP50-95(M)")
    return {"scores": record["scores"], "curve": [float(r[key]) for r in rows]}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for tool, res in results.items():
        ax.plot(range(1, len(res["curve"]) + 1), res["curve"], label=tool)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mask mAP50-95")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n-seg")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-python")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--reuse-ours", action="store_true", help="score the existing edgeseg run instead of training")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "person_quality")
    args = parser.parse_args()
    out = args.out / f"{args.model}_s{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    if not args.skip_ours:
        results["edgeseg"] = ours(args, out)
        (out / "edgeseg.json").write_text(json.dumps(results["edgeseg"], indent=1))  # kept if the reference fails
    if args.reference_python:
        results["reference"] = reference(args, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "curves.png")
    print(f"{'tool':10s} {'split (weights)':16s} {'box mAP50-95':>13s} {'mask mAP50-95':>14s} {'mask mAP50':>11s}")
    for tool, res in results.items():
        for split, s in res["scores"].items():
            print(f"{tool:10s} {split:16s} {s['box']:13.4f} {s['mask']:14.4f} {s['mask50']:11.4f}")
    print(f"curves: {out / 'curves.png'}")


if __name__ == "__main__":
    main()
