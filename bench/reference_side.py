"""Runs INSIDE the reference tool's own venv (never imported by edgeseg): loads the weights edgeseg benchmarks,
exports them with the reference's default ONNX export, and times the reference's predict the way its users
call it. Prints one JSON object. Usage: <ref-python> bench/reference_side.py weights.npz image.jpg out_dir runs imgsz..."""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("YOLO_OFFLINE", "1")


def timed(model, image, imgsz: int, runs: int, conf: float) -> dict:
    max_det = int(os.environ.get("EDGESEG_BENCH_MAX_DET", "300"))
    for _ in range(5):
        model.predict(image, imgsz=imgsz, conf=conf, max_det=max_det, verbose=False)
    walls, speeds, dets = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = model.predict(image, imgsz=imgsz, conf=conf, max_det=max_det, verbose=False)[0]
        walls.append((time.perf_counter() - t0) * 1000)
        speeds.append(res.speed)
        dets.append(len(res.boxes))
    med = {k: statistics.median(s[k] for s in speeds) for k in ("preprocess", "inference", "postprocess")}
    return {"wall": statistics.median(walls), **med, "detections": statistics.median(dets)}


def main() -> None:
    import numpy as np
    import torch
    from ultralytics import YOLO

    weights, image_path, out_dir, runs, *sizes = sys.argv[1:]
    conf = float(os.environ.get("EDGESEG_BENCH_CONF", "0.25"))
    state = {k: torch.from_numpy(v) for k, v in np.load(weights).items()}
    model = YOLO("yolov8n-seg.yaml")
    model.model.load_state_dict(state, strict=True)
    pt_path = os.path.join(out_dir, "reference.pt")
    model.save(pt_path)
    import cv2

    image = cv2.imread(image_path)
    report = {}
    for imgsz in map(int, sizes):
        pt = YOLO(pt_path)
        report[f"pt-{imgsz}"] = timed(pt, image, imgsz, int(runs), conf)
        onnx_path = YOLO(pt_path).export(format="onnx", imgsz=imgsz)
        report[f"onnx-{imgsz}"] = timed(YOLO(onnx_path, task="segment"), image, imgsz, int(runs), conf)
    print("REFERENCE_JSON " + json.dumps(report))


if __name__ == "__main__":
    main()
