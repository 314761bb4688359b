"""End-to-end predict latency per format x engine (preprocess / inference / postprocess, medians of >= 30 runs after
warm-up) for yolov8n-seg at 640 and 320 on a real 640x480 photo; with --reference-python, the reference tool runs
in the same invocation on the same weights with its default ONNX export, and ratios are printed.

Usage: .venv/bin/python bench/runtime_latency.py [--model ckpt.pt] [--image photo.jpg] [--runs 30]
           [--sizes 640 320] [--conf 0.3] [--reference-python /path/to/ref-venv/bin/python]
Without --model it uses edgeseg.trainer.seeded weights (BN statistics from synthetic photos, random heads), which
score many regions of a photo; --max-det (default 20) keeps a realistic number of instances per image for both
tools, so mask post-processing is measured under the load the reference's users see.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import edgeseg.runtime as rt
from edgeseg.runtime.sources import read_image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = ROOT.parent / "shared" / "datasets" / "coco200-seg" / "images" / "val" / "000000001000.jpg"


def measure(predictor, image, imgsz, runs: int, conf: float, max_det: int) -> dict:
    kw = dict(conf=conf, max_det=max_det) if imgsz is None else dict(conf=conf, max_det=max_det, imgsz=imgsz)
    for _ in range(5):
        predictor.predict(image, **kw)
    rows, dets, walls = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        (res,) = predictor.predict(image, **kw)
        walls.append((time.perf_counter() - t0) * 1000)
        rows.append(res.speed)
        dets.append(len(res))
    med = {k: statistics.median(r[k] for r in rows) for k in ("preprocess", "inference", "postprocess")}
    med["total"] = statistics.median(walls)  # wall clock around predict(), like the reference's figure
    med["detections"] = statistics.median(dets)
    return med


def build_artifacts(ckpt: Path, out: Path, imgsz: int) -> dict[str, tuple[Path, str | None, rt.BackendOptions]]:
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    def make(fmt, suffix, **kw):
        return export(ckpt, ExportOptions(format=fmt, imgsz=(imgsz, imgsz), output=out / f"{imgsz}{suffix}", **kw)).path

    onnx_static, onnx_dyn = make("onnx", ".onnx"), make("onnx", "_dyn.onnx", dynamic=True)
    ir, ts = make("openvino", "_openvino_model"), make("torchscript", ".torchscript")
    fp32 = rt.BackendOptions()
    return {
        "pytorch (rect)": (ckpt, "torch", fp32),
        "torchscript (square)": (ts, "torch", fp32),
        "onnx / onnxruntime (square)": (onnx_static, "onnxruntime", fp32),
        "onnx dynamic / onnxruntime (rect)": (onnx_dyn, "onnxruntime", fp32),
        "openvino IR fp32 (square)": (ir, "openvino", fp32),
        "openvino IR bf16 exec (square)": (ir, "openvino", rt.BackendOptions(exec_precision="bf16")),
        "onnx dynamic / openvino fp32 (rect)": (onnx_dyn, "openvino", fp32),
    }


def run_reference(python: str, ckpt_model, image: Path, out: Path, runs: int, sizes, conf: float, max_det: int) -> dict:
    weights = out / "weights.npz"
    np.savez(weights, **{k: v.numpy() for k, v in ckpt_model.state_dict().items()})
    cmd = [python, str(ROOT / "bench" / "reference_side.py"), str(weights), str(image), str(out), str(runs), *map(str, sizes)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={"EDGESEG_BENCH_CONF": str(conf), "EDGESEG_BENCH_MAX_DET": str(max_det), "YOLO_OFFLINE": "1",
                                                                       "PATH": "/usr/bin:/bin", "HOME": str(out)}, timeout=3000)
    for line in proc.stdout.splitlines():
        if line.startswith("REFERENCE_JSON "):
            return json.loads(line[len("REFERENCE_JSON "):])
    raise RuntimeError(f"reference run failed: {proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--conf", type=float, default=0.3)
    parser.add_argument("--max-det", type=int, default=20, help="detections kept per image (both tools)")
    parser.add_argument("--reference-python")
    args = parser.parse_args()
    from edgeseg.trainer.checkpoint import load_checkpoint, save_checkpoint
    from edgeseg.trainer.seeded import make_seeded_model

    image = read_image(args.image)
    print(f"image {args.image.name} {image.shape[1]}x{image.shape[0]}, {args.runs} timed runs after 5 warm-up, medians in ms")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ckpt = args.model or save_checkpoint(out / "seeded.pt", make_seeded_model(), {i: str(i) for i in range(80)})
        model = load_checkpoint(ckpt).model
        reference = run_reference(args.reference_python, model, args.image, out, args.runs, args.sizes, args.conf,
                                  args.max_det) \
            if args.reference_python else {}
        print(f"{'imgsz':>5} {'format / engine':38s} {'pre':>6} {'infer':>7} {'post':>6} {'wall':>7} {'dets':>5}")
        for imgsz in args.sizes:
            ours = {}
            for name, (path, engine, opts) in build_artifacts(Path(ckpt), out, imgsz).items():
                predictor = rt.load(path, backend=engine, options=opts)
                m = ours[name] = measure(predictor, image, imgsz if "rect" in name else None, args.runs, args.conf,
                                         args.max_det)
                print(f"{imgsz:>5} {name:38s} {m['preprocess']:6.2f} {m['inference']:7.2f} {m['postprocess']:6.2f} "
                      f"{m['total']:7.2f} {m['detections']:5.0f}")
            for key, label in ((f"pt-{imgsz}", "reference .pt (defaults)"), (f"onnx-{imgsz}", "reference ONNX (defaults)")):
                if key in reference:
                    r = reference[key]
                    print(f"{imgsz:>5} {label:38s} {r['preprocess']:6.2f} {r['inference']:7.2f} {r['postprocess']:6.2f} "
                          f"{r['wall']:7.2f} {r['detections']:5.0f}")
            if f"onnx-{imgsz}" in reference:
                ref = reference[f"onnx-{imgsz}"]["wall"]
                best = min(ours.values(), key=lambda m: m["total"])
                fp32_ort = ours["onnx dynamic / onnxruntime (rect)"]["total"]
                print(f"      ratio vs reference ONNX end-to-end: onnxruntime rect fp32 {fp32_ort / ref:.2f}x, "
                      f"best edgeseg config {best['total'] / ref:.2f}x")


if __name__ == "__main__":
    main()
