"""Per-stage PyTorch predict timing (preprocess / inference / postprocess, ms) at a given imgsz on real images.

Usage: python bench/predict_torch.py [--model yolov8n-seg|ckpt.pt] [--source ../shared/datasets/coco8-seg/images/val]
       [--imgsz 640] [--runs 30] [--conf 0.25]
Medians over all runs after 3 warm-up passes; quote them together with the host they ran on.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import edgeseg
from edgeseg.runtime.sources import iter_source

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "coco8-seg" / "images" / "val"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n-seg")
    parser.add_argument("--source", default=str(DEFAULT_SOURCE))
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--conf", type=float, default=0.25)
    args = parser.parse_args()
    model = edgeseg.Model(args.model)
    frames = list(iter_source(args.source))
    for _ in range(3):
        model.predict(frames[0].image, imgsz=args.imgsz, conf=args.conf)
    speeds, dets = [], []
    for i in range(args.runs):
        (res,) = model.predict(frames[i % len(frames)].image, imgsz=args.imgsz, conf=args.conf)
        speeds.append(res.speed)
        dets.append(len(res))
    med = {k: statistics.median(s[k] for s in speeds) for k in ("preprocess", "inference", "postprocess")}
    total = statistics.median(sum(s.values()) for s in speeds)
    print(f"{args.model} imgsz {args.imgsz}, {len(frames)} images x {args.runs} runs, median detections {statistics.median(dets)}")
    print(f"median ms: preprocess {med['preprocess']:.2f}, inference {med['inference']:.2f}, "
          f"postprocess {med['postprocess']:.2f}, end-to-end {total:.2f}")


if __name__ == "__main__":
    main()
