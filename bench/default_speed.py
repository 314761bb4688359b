"""End-to-end speed with each tool's defaults, as a user runs them, on real photos, one run, alternating rounds:
the same checkpoint exported to ONNX each tool's default way (`edgeseg export --format onnx` / the reference's
`format=onnx`), then predicted image by image with each tool's predict defaults (edgeseg: `--backend auto`), at
640 and 320. Also: box/mask mAP of edgeseg's path against the FP32 .pt on the same val split (it must stay within
0.3 points), and, with --int8, each tool's OpenVINO INT8 path (calibrated on the train split).

Usage: .venv/bin/python bench/default_speed.py --pt best.pt --data d.yaml --reference-python REF_VENV/bin/python
           [--sizes 640 320] [--rounds 3] [--int8]
Prints one table: tool, engine, imgsz, ms/image (median over rounds of the per-round mean), ratio edgeseg/reference.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers, also when loaded by file path
from dataset_yaml import absolute_yaml  # noqa: E402

REFERENCE = r'''
import json, os, sys, time
os.environ["YOLO_OFFLINE"] = "1"
from pathlib import Path
import cv2
from ultralytics import YOLO
a = json.loads(sys.argv[1])
images = [cv2.imread(p) for p in a["images"]]
kw = dict(format="openvino", int8=True, data=a["data"]) if a["int8"] else dict(format="onnx")
path = YOLO(a["pt"]).export(imgsz=a["imgsz"], **kw)
model = YOLO(path, task="segment")
for img in images[:3]:
    model.predict(img, imgsz=a["imgsz"], verbose=False)
out = []
for r in range(a["rounds"]):
    t0 = time.perf_counter()
    for img in images:
        model.predict(img, imgsz=a["imgsz"], verbose=False)
    out.append((time.perf_counter() - t0) * 1000 / len(images))
print("RESULT " + json.dumps({"ms": out, "artifact": str(path)}))
'''


def reference_ms(python: str, pt: Path, data: Path, images: list[Path], imgsz: int, rounds: int, int8: bool,
                 workdir: Path) -> list[float]:
    payload = json.dumps({"pt": str(pt), "data": str(data), "images": [str(p) for p in images], "imgsz": imgsz,
                          "rounds": rounds, "int8": int8})
    done = subprocess.run([python, "-c", REFERENCE, payload], capture_output=True, text=True, cwd=workdir,
                          env={**os.environ, "YOLO_OFFLINE": "1"})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"reference failed:\n{done.stderr[-2000:]}")
    return json.loads(line[7:])["ms"]


def edgeseg_artifact(pt: Path, data: Path, imgsz: int, int8: bool, workdir: Path) -> Path:
    """What `edgeseg export` writes by default (ONNX: dynamic); INT8: OpenVINO calibrated on the train split."""
    from edgeseg.cli import main

    out = workdir / (f"m{imgsz}_int8_openvino_model" if int8 else f"m{imgsz}.onnx")
    argv = ["export", "--model", str(pt), "--output", str(out)]
    argv += ["--format", "openvino", "--int8", "--data", str(data), "--imgsz", str(imgsz)] if int8 else \
        ["--format", "onnx"]
    assert main(argv) == 0, argv
    return out


def edgeseg_ms(artifact: Path, images: list[Path], imgsz: int, rounds: int) -> tuple[list[float], str]:
    import edgeseg.runtime as rt
    from edgeseg.runtime.sources import read_image

    predictor = rt.load(artifact, backend="auto")
    size = None if not predictor.metadata.dynamic else imgsz
    pictures = [read_image(p) for p in images]  # decoded outside the timing, as on the reference's side
    for img in pictures[:3]:
        predictor.predict(img, imgsz=size)
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for img in pictures:
            predictor.predict(img, imgsz=size)
        out.append((time.perf_counter() - t0) * 1000 / len(images))
    return out, predictor.backend.describe()


def accuracy(pt: Path, artifact: Path, data: Path, imgsz: int) -> dict:
    """mAP of the default path vs the FP32 .pt (both through edgeseg's validation)."""
    import edgeseg.runtime as rt
    from edgeseg.model import open_predictor
    from edgeseg.runtime.validate import validate

    ref = validate(open_predictor(str(pt)), data, "val", imgsz=imgsz)
    predictor = rt.load(artifact, backend="auto")
    art = validate(predictor, data, "val", imgsz=imgsz if predictor.metadata.dynamic else None)
    return {"pt": (ref.box.map, ref.seg.map), "artifact": (art.box.map, art.seg.map)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--reference-python")
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args()
    args.pt, args.data = args.pt.resolve(), args.data.resolve()  # the reference runs in its own working directory
    from edgeseg.runtime.datasets.yolo import load_data_yaml

    images = load_data_yaml(args.data).splits["val"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reference_yaml = absolute_yaml(args.data, work / "data_abs.yaml")
        for imgsz in args.sizes:
            artifact = edgeseg_artifact(args.pt, args.data, imgsz, args.int8, work)
            ours, theirs = [], []
            for _ in range(args.rounds):  # alternating rounds: both tools see the same machine state
                ms, engine = edgeseg_ms(artifact, images, imgsz, 1)
                ours += ms
                if args.reference_python:
                    theirs += reference_ms(args.reference_python, args.pt, reference_yaml, images,
                                           imgsz, 1, args.int8, work)
            acc = accuracy(args.pt, artifact, args.data, imgsz)
            rows.append((imgsz, engine, statistics.median(ours), statistics.median(theirs) if theirs else None, acc))
    print(f"{len(images)} real photos ({args.data}); {'OpenVINO INT8' if args.int8 else 'ONNX'} with each tool's defaults")
    print(f"{'imgsz':>5s}  {'edgeseg engine':28s} {'edgeseg ms':>10s} {'reference ms':>12s} {'ratio':>6s}  "
          f"mAP box/mask: .pt -> edgeseg artifact")
    for imgsz, engine, ours, theirs, acc in rows:
        ratio = f"{ours / theirs:6.2f}" if theirs else "     -"
        theirs_s = f"{theirs:12.1f}" if theirs else "           -"
        pt, art = acc["pt"], acc["artifact"]
        print(f"{imgsz:5d}  {engine:28s} {ours:10.1f} {theirs_s} {ratio}  {100 * pt[0]:.2f}/{100 * pt[1]:.2f} -> "
              f"{100 * art[0]:.2f}/{100 * art[1]:.2f}")


if __name__ == "__main__":
    main()
