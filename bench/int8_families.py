"""INT8 on a trained checkpoint of any family, per engine: mask/box mAP50-95 Δ vs the FP32 checkpoint and agreement
with its detections, on the val split and on the train split (where a model trained on few photos has a mAP worth
protecting), at the deployment threshold (agreement, conf 0.25), at conf 0.05 (a weak model has few confident
detections) and on the 3 best detections of each image against the artifact's 3 best (a weak one-to-one head has few
even >= 0.05). YOLO26 also with `--end2end` (the one-to-one head's scores are what its users report INT8 losing).

    .venv/bin/python bench/int8_families.py --pt runs/person_quality/yolo26n-seg_s0/edgeseg/weights/best.pt \
        [--data ../shared/datasets/coco200-person-seg/data.yaml] [--imgsz 320] [--formats onnx openvino tflite]
        [--end2end-formats onnx openvino] [--reference-python REF_VENV/bin/python]

With --reference-python (a throwaway venv with ultralytics; never a dependency), the reference's own OpenVINO INT8
export of the same .pt is scored in the same run by the same code: calibrated on the train split like edgeseg's, and
(one-to-many head only) with its default (`split=val`: calibrated on the very images the val rows score, so its val
rows flatter it).

Prints one table: format, head, split, Δ box, Δ mask, agreement box/mask (0.25, 0.05, top 3), infer ms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers, also when loaded by file path
from dataset_yaml import absolute_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "coco200-person-seg" / "data.yaml"


def export_int8(pt: Path, fmt: str, data: Path, imgsz: int, end2end: bool, out: Path) -> Path:
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.converters.registry import get_exporter
    from edgeseg.converters.report import layout_for

    path = out / f"{fmt}{'_e2e' if end2end else ''}_int8{get_exporter(fmt).artifact_suffix}"
    return export(pt, ExportOptions(format=fmt, imgsz=(imgsz, imgsz), int8=True, data=str(data), end2end=end2end,
                                    layout=layout_for(fmt, "int8"), output=path)).path


REFERENCE_INT8 = r'''
import json, os, sys
os.environ["YOLO_OFFLINE"] = "1"
from ultralytics import YOLO
a = json.loads(sys.argv[1])
path = YOLO(a["pt"]).export(format="openvino", int8=True, data=a["data"], imgsz=a["imgsz"], **a["extra"])
print("RESULT " + json.dumps(str(path)))
'''


def reference_int8(python: str, pt: Path, data: Path, imgsz: int, split: str | None, work: Path,
                   end2end: bool = False) -> Path:
    """The reference's OpenVINO INT8 of a copy of `pt` (it writes beside the .pt: never beside a file we did not
    create), calibrated on `split` (None: its default, val); end2end: its one-to-one head (`nms=False`)."""
    folder = work / f"reference_{split or 'default'}{'_e2e' if end2end else ''}"
    folder.mkdir()
    copy = folder / pt.name
    shutil.copyfile(pt, copy)
    payload = json.dumps({"pt": str(copy), "data": str(data), "imgsz": imgsz,
                          "extra": {**({"split": split} if split else {}), **({"nms": False} if end2end else {})}})
    done = subprocess.run([python, "-c", REFERENCE_INT8, payload], capture_output=True, text=True, cwd=folder,
                          env={**os.environ, "YOLO_OFFLINE": "1"})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"reference INT8 export failed: {done.stderr.strip().splitlines()[-1:]}")
    return Path(json.loads(line[7:]))


def score(reference, artifact: Path, fmt: str, data: Path) -> dict:
    from edgeseg.converters.gate import agreement_of, compare
    from edgeseg.converters.registry import get_exporter
    from edgeseg.converters.report import evaluate
    from edgeseg.converters.verify_int8 import top_detections
    from edgeseg.runtime import load

    candidate = evaluate(load(artifact, backend=get_exporter(fmt).engine), str(data), "val", fmt)
    row = compare(reference, candidate, fmt, "int8", 0, 0.0)
    low = agreement_of(reference.predictions, candidate.predictions, reference.metrics.names, conf=0.05)
    top3 = agreement_of(top_detections(reference.predictions, 3), top_detections(candidate.predictions, 3),
                        reference.metrics.names, 0.0)
    return {"d_box": row.d_box, "d_mask": row.d_mask, "agree": (row.agree_box, row.agree_mask), "agree05": low,
            "top3": top3,
            "infer_ms": row.infer_ms, "engine": candidate.engine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--formats", nargs="+", default=["onnx", "openvino", "tflite"])
    parser.add_argument("--end2end-formats", nargs="*", default=["onnx", "openvino"],
                        help="formats also exported with --end2end when the model has a one-to-one head")
    parser.add_argument("--reference-python", help="python of a venv with ultralytics: also score its OpenVINO INT8")
    args = parser.parse_args()
    from edgeseg.converters.export import load_model
    from edgeseg.converters.report import reference_evaluation

    model, _ = load_model(str(args.pt))
    heads = [False, True] if model.head.has_one2one else [False]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        splits = {s: absolute_yaml(args.data, work / f"{s}.yaml", s) for s in ("val", "train")}
        for end2end in heads:
            references = {s: reference_evaluation(str(args.pt), str(d), (args.imgsz, args.imgsz), end2end)[0]
                          for s, d in splits.items()}
            for fmt in args.end2end_formats if end2end else args.formats:
                try:
                    artifact = export_int8(args.pt, fmt, args.data, args.imgsz, end2end, work)
                except Exception as err:  # a toolchain missing here, or a refusal: reported as a row
                    rows.append((fmt, end2end, "-", f"not exported: {str(err).splitlines()[0][:120]}"))
                    continue
                for split, data in splits.items():
                    rows.append((fmt, end2end, split, score(references[split], artifact, fmt, data)))
            if args.reference_python:
                rows += _reference_rows(args, references, splits, work, end2end)
    _print(args, model.cfg.name, rows)


def _reference_rows(args, references: dict, splits: dict, work: Path, end2end: bool) -> list:
    rows = []
    for calib_split, label in (("train", "ref-ov(tr)"), (None, "ref-ov(val)"))[:1 if end2end else 2]:
        try:
            artifact = reference_int8(args.reference_python, args.pt, splits[calib_split or "val"], args.imgsz,
                                      calib_split, work, end2end)
        except Exception as err:
            rows.append((label, end2end, "-", f"not exported: {str(err)[:160]}"))
            continue
        rows += [(label, end2end, split, score(references[split], artifact, "openvino", data))
                 for split, data in splits.items()]
    return rows


def _print(args, family: str, rows: list) -> None:
    print(f"{family} ({args.pt}) INT8 vs its FP32 checkpoint, {args.data}, imgsz {args.imgsz}")
    print(f"{'format':9s} {'head':9s} {'split':5s} {'Δ box':>6s} {'Δ mask':>6s} {'agree@.25 b/m':>14s} "
          f"{'agree@.05 b/m':>14s} {'top3 b/m':>12s} {'infer ms':>8s}  engine")
    for fmt, end2end, split, r in rows:
        head = "end2end" if end2end else "nms"
        if isinstance(r, str):
            print(f"{fmt:9s} {head:9s} {split:5s} {r}")
            continue
        print(f"{fmt:9s} {head:9s} {split:5s} {r['d_box']:+6.2f} {r['d_mask']:+6.2f} "
              f"{r['agree'][0]:6.3f}/{r['agree'][1]:.3f} {r['agree05'][0]:6.3f}/{r['agree05'][1]:.3f} "
              f"{r['top3'][0]:6.3f}/{r['top3'][1]:.3f} "
              f"{r['infer_ms']:8.1f}  {r['engine']}")


if __name__ == "__main__":
    main()
