"""End-to-end speed with each tool's defaults, as a user runs them, on real photos, one run, alternating rounds:
the same checkpoint exported each tool's default way (`edgeseg export --format onnx` / the reference's
`format=onnx`; likewise OpenVINO FP32 and OpenVINO INT8 calibrated on the train split), then predicted image by
image with each tool's predict defaults (edgeseg: `--backend auto`), at 640 and 320. Also: box/mask mAP of
edgeseg's artifact against the FP32 .pt on the same val split (FP32 paths must stay within 0.3 points). Any
family the reference trains (yolov8n-seg, yolo11n-seg, yolo26n-seg .pt files) gives that family's row.

Usage: .venv/bin/python bench/default_speed.py --pt best.pt [--pt other-family.pt ...] --data d.yaml
           --reference-python REF_VENV/bin/python [--sizes 640 320] [--rounds 3]
           [--paths onnx openvino openvino-int8] [--int8 (= --paths openvino-int8)]
Prints one table: model, path, imgsz, edgeseg engine, ms/image (median over rounds of the per-round mean),
reference ms, ratio edgeseg/reference, mAP.
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
path = YOLO(a["pt"]).export(imgsz=a["imgsz"], **a["export"])
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


PATHS = {  # name: (edgeseg export arguments, the reference's export arguments); {data}/{imgsz} filled in
    "onnx": (["--format", "onnx"], {"format": "onnx"}),
    "openvino": (["--format", "openvino"], {"format": "openvino"}),
    "openvino-int8": (["--format", "openvino", "--int8", "--data", "{data}", "--imgsz", "{imgsz}"],
                      {"format": "openvino", "int8": True, "data": "{data}"}),
}


def _fill(value, data: Path, imgsz: int):
    return value.format(data=data, imgsz=imgsz) if isinstance(value, str) else value


def reference_ms(python: str, pt: Path, data: Path, images: list[Path], imgsz: int, rounds: int, path_name: str,
                 workdir: Path) -> list[float]:
    export_kw = {k: _fill(v, data, imgsz) for k, v in PATHS[path_name][1].items()}
    payload = json.dumps({"pt": str(pt), "images": [str(p) for p in images], "imgsz": imgsz,
                          "rounds": rounds, "export": export_kw})
    done = subprocess.run([python, "-c", REFERENCE, payload], capture_output=True, text=True, cwd=workdir,
                          env={**os.environ, "YOLO_OFFLINE": "1"})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"reference failed:\n{done.stderr[-2000:]}")
    return json.loads(line[7:])["ms"]


def edgeseg_artifact(pt: Path, data: Path, imgsz: int, path_name: str) -> Path:
    """What `edgeseg export` writes by default for this path (FP32: a dynamic graph; INT8: calibrated on train)."""
    from edgeseg.cli import main

    suffix = ".onnx" if path_name == "onnx" else "_openvino_model"  # what the runtime recognises the format by
    out = pt.parent / f"edgeseg_{imgsz}_{path_name.replace('-', '_')}{suffix}"
    argv = ["export", "--model", str(pt), "--output", str(out), *(_fill(v, data, imgsz) for v in PATHS[path_name][0])]
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


def measure_path(args, pt: Path, imgsz: int, path_name: str, images: list[Path], work: Path, ref_yaml: Path) -> tuple:
    artifact = edgeseg_artifact(pt, args.data, imgsz, path_name)
    ours, theirs = [], []
    for _ in range(args.rounds):  # alternating rounds: both tools see the same machine state
        ms, engine = edgeseg_ms(artifact, images, imgsz, 1)
        ours += ms
        if args.reference_python:
            theirs += reference_ms(args.reference_python, pt, ref_yaml, images, imgsz, 1, path_name, work)
    acc = accuracy(pt, artifact, args.data, imgsz)
    return pt.parent.name, path_name, imgsz, engine, statistics.median(ours), statistics.median(theirs) if theirs else None, acc


def local_copy(pt: Path, work: Path) -> Path:
    """The checkpoint copied into the work directory under its family's name: the reference writes its exports
    beside the .pt (never beside a file we did not create, e.g. in ../shared)."""
    from edgeseg.trainer.checkpoint import load_checkpoint

    arch = load_checkpoint(pt).metadata.architecture or {}
    name = f"{arch.get('family', 'model').replace('-seg', '')}{arch.get('scale', '')}-seg"
    dst = work / name / pt.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pt, dst)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt", type=Path, required=True, action="append")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--reference-python")
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", nargs="+", choices=sorted(PATHS), default=["onnx"])
    parser.add_argument("--int8", action="store_true", help="the OpenVINO INT8 path only (= --paths openvino-int8)")
    args = parser.parse_args()
    paths = ["openvino-int8"] if args.int8 else args.paths
    args.data = args.data.resolve()  # the reference runs in its own working directory
    from edgeseg.runtime.datasets.yolo import load_data_yaml

    images = load_data_yaml(args.data).splits["val"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reference_yaml = absolute_yaml(args.data, work / "data_abs.yaml")
        for pt in (local_copy(p, work) for p in args.pt):
            for path_name in paths:
                for imgsz in args.sizes:
                    rows.append(measure_path(args, pt, imgsz, path_name, images, work, reference_yaml))
                    print_rows(rows[-1:], flush=True)
    print(f"\n{len(images)} real photos ({args.data}); each tool's defaults")
    print_rows(rows)


def print_rows(rows: list[tuple], flush: bool = False) -> None:
    if not flush:
        print(f"| model | path | imgsz | edgeseg engine | edgeseg ms | reference ms | ratio | mAP box/mask .pt -> edgeseg |")
        print("|---|---|---|---|---|---|---|---|")
    for model, path_name, imgsz, engine, ours, theirs, acc in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        theirs_s = f"{theirs:.1f}" if theirs else "-"
        pt, art = acc["pt"], acc["artifact"]
        print(f"| {model} | {path_name} | {imgsz} | {engine} | {ours:.1f} | {theirs_s} | {ratio} | "
              f"{100 * pt[0]:.2f}/{100 * pt[1]:.2f} -> {100 * art[0]:.2f}/{100 * art[1]:.2f} |", flush=flush)


if __name__ == "__main__":
    main()
