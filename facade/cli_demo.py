"""`edgeseg demo` (what `make demo` runs): the whole path on a trained model, in a few minutes on a laptop CPU.

1. fresh procedural scenes the bundled model has never seen (a new seed);
2. the bundled model (yolov8n-seg trained by edgeseg on such scenes) exported to ONNX FP32, ONNX Runtime INT8, OpenVINO INT8 and
   TFLite full-integer INT8, each checked before it is written and validated against the checkpoint on the scenes;
3. predict with the auto-selected engine: overlays with masks and COCO JSON;
4. the parity report (table + latency-vs-mAP plot), and where everything is.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from edgeseg.console import make_console, plain
from edgeseg.outputs import PredictionWriter
from edgeseg.runtime.predictor import SpeedTotals

console = make_console(stderr=False)
DEMO_SEED = 7  # the scenes' seed: not the training seed, so every image is new to the model
DEMO_IMAGES, CALIB_IMAGES, IMGSZ = 24, 64, (320, 320)
ENTRIES = [("onnx", "fp32"), ("onnx", "int8"), ("openvino", "int8"), ("tflite", "int8")]


def _step(n: int, text: str) -> None:
    console.print(f"\n[{n}/5] {text}", style="bold")


def _entries() -> list[tuple[str, str]]:
    """The demo's exports that this install can make (the rest are named as skipped)."""
    from edgeseg.converters.report import matrix_entries

    possible = set(matrix_entries([fmt for fmt, _ in ENTRIES]))
    for entry in ENTRIES:
        if entry not in possible:
            console.print(f"  skipping {entry[0]} {entry[1]}: its toolchain is not installed here", style="yellow")
    return [e for e in ENTRIES if e in possible]


def _predict(artifact: Path, images: Path, out: Path) -> dict:
    import edgeseg.runtime as rt

    predictor = rt.load(artifact, backend="auto")
    out.mkdir(parents=True, exist_ok=True)  # inside the demo's own run directory
    writer = PredictionWriter(out, save_images=True, save_json=True)
    speeds, instances, frames = SpeedTotals(), 0, 0
    for result in predictor.stream(images, conf=0.25):
        writer.add(result)
        speeds.add(result.speed)
        instances, frames = instances + len(result), frames + 1
    json_path = writer.close()
    return {"engine": predictor.backend.describe(), "images": frames, "instances": instances,
            "speed_ms": {k: round(v, 2) for k, v in speeds.mean().items()}, "overlays": str(out),
            "predictions": str(json_path)}


def run_demo(out: Path) -> None:
    from edgeseg.converters.report import run_matrix, write_report
    from edgeseg.converters.gate import markdown_table
    from edgeseg.runtime.paths import increment_dir
    from edgeseg.trainer.demo_model import MODEL_FILE, bundled_path, fresh_scenes, load_recipe

    t0 = time.perf_counter()
    out = increment_dir(Path(out), exist_ok=True)
    model, recipe = bundled_path(), load_recipe()
    _step(1, f"Fresh scenes: {DEMO_IMAGES} images with seed {DEMO_SEED} (the model was trained on seed "
             f"{recipe['data']['seed']}), plus {CALIB_IMAGES} for INT8 calibration")
    data = fresh_scenes(out / "scenes", DEMO_IMAGES, DEMO_SEED, n_train=CALIB_IMAGES)
    console.print(f"  {plain(data)}: textured shapes that occlude each other, clutter, uneven light, 5 classes")
    epochs = " + ".join(str(recipe[stage]["epochs"]) for stage in ("train", "finetune") if stage in recipe)
    _step(2, f"Bundled model {MODEL_FILE}: yolov8n-seg trained by edgeseg ({epochs} epochs on "
             f"{recipe['data']['n_train']} scenes at {recipe['train']['imgsz']}); exporting and checking each artifact")
    report = run_matrix(str(model), str(data), IMGSZ, out / "artifacts", calib_n=CALIB_IMAGES, max_drop=0.7,
                        entries=_entries(), say=lambda m: console.print(f"  {plain(m, 300)}", style="dim"))
    onnx = out / "artifacts" / f"{Path(MODEL_FILE).stem}.onnx"
    _step(3, "Predicting the fresh scenes with the ONNX export, engine chosen by measurement (--backend auto)")
    summary = _predict(onnx, data.parent / "images" / "val", out / "predict")
    sp = summary["speed_ms"]
    console.print(f"  {summary['images']} images, {summary['instances']} instances with {summary['engine']}: "
                  f"{sp['preprocess']:.1f} ms preprocess, {sp['inference']:.1f} ms inference, "
                  f"{sp['postprocess']:.1f} ms masks and boxes per image")
    _step(4, "Parity report: every artifact against the checkpoint on the same scenes")
    paths = write_report(report, out / "report")
    console.print(markdown_table(report.rows))
    for key, why in {**report.failures, **report.unvalidated}.items():
        console.print(f"  {key}: {plain(why, 300)}", style="yellow")
    (out / "summary.json").write_text(json.dumps({"predict": summary, "report": [r.as_dict() for r in report.rows],
                                                  "seconds": round(time.perf_counter() - t0, 1)}, indent=2))
    _step(5, f"Done in {time.perf_counter() - t0:.0f} s. Everything is in {plain(out)}:")
    for what, where in (("overlays (masks drawn on each scene)", out / "predict"),
                        ("COCO JSON of the predictions", summary["predictions"]),
                        ("exported models + sidecars", out / "artifacts"), *(("report", p) for p in paths),
                        ("summary", out / "summary.json")):
        console.print(f"  {what}: {plain(where)}")
