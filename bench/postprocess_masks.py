"""Mask post-processing cost vs number of instances (numpy, this host). Prints medians; not a timed test.

Usage: python bench/postprocess_masks.py [--imgsz 640] [--runs 50]
The reference spends ~2 ms per detection here (upsampling full-frame masks, then cropping); edgeseg
evaluates and resamples each mask only inside its box.
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from edgeseg.runtime.letterbox import letterbox_geometry
from edgeseg.runtime.postprocess import PostprocessConfig, postprocess


def raw_with_objects(rng, n_objects: int, input_hw: tuple[int, int], nc: int = 80):
    h, w = input_hw
    n = sum((h // s) * (w // s) for s in (8, 16, 32))
    scores = rng.uniform(0, 0.01, (n, nc)).astype(np.float32)
    boxes = np.zeros((n, 4), np.float32)
    centers = rng.uniform(40, [w - 40, h - 40], (max(n_objects, 1), 2))
    sizes = rng.uniform(30, 160, (max(n_objects, 1), 2))
    idx = rng.choice(n, n_objects * 5, replace=False)
    for k, anchor in enumerate(idx):
        obj = k // 5
        jitter = rng.normal(0, 3, 4)
        c, s = centers[obj], sizes[obj]
        boxes[anchor] = np.concatenate([c - s / 2, c + s / 2]) + jitter
        scores[anchor, obj % nc] = 0.9 - 0.01 * (k % 5)
    noise = rng.normal(0, 1, (32, h // 32 + 1, w // 32 + 1)).astype(np.float32)
    protos = np.stack([cv2.resize(p, (w // 4, h // 4), interpolation=cv2.INTER_CUBIC) for p in noise])
    coeffs = rng.normal(0, 1, (n, 32)).astype(np.float32)
    return {"boxes": boxes[None], "scores": scores[None], "mask_coeffs": coeffs[None], "protos": protos[None]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    info = letterbox_geometry((480, 640), args.imgsz)  # the 640x480 photo, square static input like an export
    names = {i: str(i) for i in range(80)}
    print(f"postprocess (NMS + masks at 480x640 original size), input {info.input_shape}, median of {args.runs} runs")
    print(f"{'objects':>8} {'kept':>5} {'median ms':>10} {'ms/instance':>12}")
    for n_obj in (0, 1, 10, 20, 50, 100):
        raw = raw_with_objects(rng, n_obj, info.input_shape)
        times, kept = [], 0
        for _ in range(args.runs + 5):
            t0 = time.perf_counter()
            (res,) = postprocess(raw, [info], names, PostprocessConfig(drop_empty=False))
            times.append((time.perf_counter() - t0) * 1000)
            kept = len(res)
        med = statistics.median(times[5:])
        print(f"{n_obj:>8} {kept:>5} {med:>10.2f} {med / max(kept, 1):>12.3f}")


if __name__ == "__main__":
    main()
