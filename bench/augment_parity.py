"""Augmentation parity with the reference: the distribution of what reaches the loss, both tools, same dataset.

Each tool's own training dataset (augmentation as in training: mosaic, random perspective, HSV, flip; then the
close_mosaic phase) is drawn for several epochs over coco200-seg's train split at 320, and per-sample facts are
summarised: instances per image, box width/height/area, mask area, instances cut at the border, empty images,
pixel mean/std. Nothing of the reference's code is used here: it runs in its own venv and returns raw facts.

Usage: .venv/bin/python bench/augment_parity.py [--reference-python REF_VENV/bin/python [--record]]
--record writes the reference's summaries (two seeds: the second measures sampling noise) to
tests/fixtures/ultralytics_8_4_190/augment_stats.json, which tests/test_train_parity.py compares ours with.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers, also when loaded by file path
from dataset_yaml import absolute_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "coco200-seg" / "data.yaml"
RECORD = ROOT / "tests" / "fixtures" / "ultralytics_8_4_190" / "augment_stats.json"
SETTINGS = {"imgsz": 320, "epochs": 4, "mask_ratio": 4}
PHASES = ("mosaic", "close_mosaic")


def sample_facts(image_chw: np.ndarray, boxes_xyxy: np.ndarray, instance_areas: np.ndarray) -> dict:
    """Raw facts of one training sample: image (3,H,W) uint8 RGB, boxes in pixels, mask areas as image fractions."""
    _, h, w = image_chw.shape
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    cut = (b[:, 0] <= 1) | (b[:, 1] <= 1) | (b[:, 2] >= w - 1) | (b[:, 3] >= h - 1)
    pix = image_chw.reshape(3, -1).astype(np.float64)
    return {"n": len(b), "bw": (b[:, 2] - b[:, 0]).tolist(), "bh": (b[:, 3] - b[:, 1]).tolist(),
            "area": np.asarray(instance_areas, np.float64).tolist(), "cut": cut.tolist(),
            "mean": pix.mean(1).tolist(), "std": pix.std(1).tolist()}


def summarise(facts: list[dict]) -> dict[str, float]:
    """The statistics compared between tools (means and medians over samples or instances)."""
    n = np.array([f["n"] for f in facts], np.float64)
    bw = np.concatenate([f["bw"] for f in facts])
    bh = np.concatenate([f["bh"] for f in facts])
    area = np.concatenate([f["area"] for f in facts])
    cut = np.concatenate([f["cut"] for f in facts]).astype(np.float64)
    return {"instances_per_image": float(n.mean()), "empty_images": float((n == 0).mean()),
            "box_width_median": float(np.median(bw)), "box_height_median": float(np.median(bh)),
            "box_area_mean": float((bw * bh).mean()), "mask_area_mean": float(area.mean()),
            "mask_area_median": float(np.median(area)), "cut_at_border": float(cut.mean()),
            "pixel_mean": float(np.mean([f["mean"] for f in facts])),
            "pixel_std": float(np.mean([f["std"] for f in facts]))}


def ours(data: Path, seed: int) -> dict[str, dict]:
    """edgeseg's training dataset with its default augmentation, drawn the way the trainer draws it."""
    from edgeseg.runtime.datasets.yolo import load_data_yaml
    from edgeseg.trainer.data.augment import AugmentConfig
    from edgeseg.trainer.data.dataset import SegDataset, scan
    from edgeseg.trainer.data.sampler import EpochIndex

    cfg = load_data_yaml(data)
    records, _ = scan(cfg.splits["train"], cfg.nc)
    ds = SegDataset(records, SETTINGS["imgsz"], True, AugmentConfig(), seed=seed, mask_ratio=SETTINGS["mask_ratio"])
    out = {}
    for phase in PHASES:
        facts = []
        for epoch in range(SETTINGS["epochs"]):
            for i in range(len(ds)):
                s = ds[EpochIndex(i, epoch, phase == "mosaic")]
                masks = s["masks"].numpy()
                areas = masks.reshape(len(masks), -1).mean(1) if len(masks) else np.zeros(0)
                facts.append(sample_facts(s["img"].numpy(), s["boxes"].numpy(), areas))
        out[phase] = summarise(facts)
    return out


REFERENCE = r'''
import json, os, random, sys
os.environ["YOLO_OFFLINE"] = "1"
import numpy as np
from ultralytics.cfg import get_cfg
from ultralytics.data import build_yolo_dataset
from ultralytics.data.utils import check_det_dataset
a = json.loads(sys.argv[1])
random.seed(a["seed"]); np.random.seed(a["seed"])
import torch; torch.manual_seed(a["seed"])
cfg = get_cfg(overrides={"task": "segment", "imgsz": a["imgsz"], "data": a["data"], "mode": "train"})
data = check_det_dataset(a["data"])
out = {}
for phase in ("mosaic", "close_mosaic"):
    ds = build_yolo_dataset(cfg, data["train"], 8, data, mode="train", stride=32)
    if phase == "close_mosaic":
        ds.close_mosaic(hyp=cfg)
    rows = []
    for epoch in range(a["epochs"]):
        for i in np.random.permutation(len(ds)):
            s = ds[int(i)]
            img = s["img"].numpy()
            h, w = img.shape[1:]
            xywh = s["bboxes"].numpy().reshape(-1, 4) * [w, h, w, h]
            xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            index_map = s["masks"].numpy()[0]  # overlap_mask (the default): pixel value k+1 is instance k
            areas = [float((index_map == k + 1).mean()) for k in range(len(xyxy))]
            rows.append({"n": len(xyxy), "xyxy": xyxy.tolist(),
                         "areas": areas, "mean": img.reshape(3, -1).mean(1).tolist(),
                         "std": img.reshape(3, -1).std(1).tolist(), "hw": [h, w]})
    out[phase] = rows
print("RESULT " + json.dumps(out))
'''


def reference(python: str, data: Path, seed: int) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        absolute = absolute_yaml(data, Path(tmp) / "data.yaml")
        payload = json.dumps({"data": str(absolute), "seed": seed, **SETTINGS})
        done = subprocess.run([python, "-c", REFERENCE, payload], capture_output=True, text=True, cwd=tmp,
                              env={**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": tmp})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"reference run failed:\n{done.stderr[-3000:]}")
    out = {}
    for phase, rows in json.loads(line[7:]).items():
        facts = []
        for r in rows:
            h, w = r["hw"]
            b = np.asarray(r["xyxy"], np.float64).reshape(-1, 4)
            cut = (b[:, 0] <= 1) | (b[:, 1] <= 1) | (b[:, 2] >= w - 1) | (b[:, 3] >= h - 1)
            facts.append({"n": r["n"], "bw": (b[:, 2] - b[:, 0]).tolist(), "bh": (b[:, 3] - b[:, 1]).tolist(),
                          "area": r["areas"], "cut": cut.tolist(), "mean": r["mean"], "std": r["std"]})
        out[phase] = summarise(facts)
    return out


def relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-9)


def print_table(ours_stats: dict, ref: dict | None, noise: dict | None) -> None:
    print(f"{'phase':13s} {'statistic':20s} {'edgeseg':>9s} {'reference':>10s} {'gap':>7s} {'ref noise':>9s}")
    for phase, stats in ours_stats.items():
        for key, value in stats.items():
            r = ref[phase][key] if ref else float("nan")
            gap = relative_gap(value, r) if ref else float("nan")
            nz = noise[phase][key] if noise else float("nan")
            print(f"{phase:13s} {key:20s} {value:9.4g} {r:10.4g} {gap:7.1%} {nz:9.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-python")
    parser.add_argument("--record", action="store_true", help="write the reference's summaries for CI")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))
    mine = ours(args.data, args.seed)
    ref = noise = None
    if args.reference_python:
        ref = reference(args.reference_python, args.data, args.seed)
        other = reference(args.reference_python, args.data, args.seed + 1)
        noise = {p: {k: relative_gap(other[p][k], ref[p][k]) for k in ref[p]} for p in ref}
        if args.record:
            RECORD.write_text(json.dumps({"tool": "ultralytics 8.4.190", "dataset": "coco200-seg train",
                                          "settings": SETTINGS, "summary": ref, "seed_noise": noise}, indent=1))
            print(f"recorded {RECORD}")
    elif RECORD.is_file():
        saved = json.loads(RECORD.read_text())
        ref, noise = saved["summary"], saved["seed_noise"]
    print_table(mine, ref, noise)


if __name__ == "__main__":
    main()
