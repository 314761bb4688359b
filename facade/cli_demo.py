"""`edgeseg demo` (what `make demo` runs): synthetic data -> yolov8n-seg -> verified ONNX export -> torch-free predict
-> overlays + COCO JSON. (Training joins the chain once the trainer lands; until then the model is untrained.)"""
from __future__ import annotations

import json
from pathlib import Path

from edgeseg.console import make_console
from edgeseg.model import build_torch_predictor
from edgeseg.outputs import PredictionWriter
from edgeseg.runtime.datasets.synthetic import CLASS_NAMES, generate_dataset
from edgeseg.runtime.predictor import mean_speed

console = make_console(stderr=False)
DEMO_CONF = 0.001  # an untrained model's scores sit near its prior (~1e-3), so the demo looks that low


def _export_onnx(predictor, out: Path):
    """Export the in-memory model to a dynamic ONNX (verified against PyTorch); None if the toolchain is missing."""
    from edgeseg.converters.export import export
    from edgeseg.converters.onnx_export import OnnxExporter
    from edgeseg.converters.options import ExportOptions
    from edgeseg.model import InMemoryModel

    ok, why = OnnxExporter.available()
    if not ok:
        console.print(f"   (skipping the ONNX step: {why})")
        return None
    source = InMemoryModel(predictor.backend.module, predictor.metadata)
    return export(source, ExportOptions(format="onnx", dynamic=True, output=out / "yolov8n-seg.onnx"))


def run_demo(out: Path) -> None:
    import edgeseg.runtime as rt

    out = Path(out)
    data_yaml = generate_dataset(out / "synthetic", n_train=8, n_val=4, seed=0)
    console.print(f"1/4 synthetic dataset ({len(CLASS_NAMES)} classes) written to {data_yaml.parent}")
    predictor = build_torch_predictor("yolov8n-seg", nc=len(CLASS_NAMES), seed=0)
    predictor.metadata.names.update(dict(enumerate(CLASS_NAMES)))
    console.print("2/4 built yolov8n-seg (seeded, untrained: its detections are not meaningful yet)")
    exported = _export_onnx(predictor, out)
    if exported is not None:
        console.print(f"3/4 exported {exported.path} ({exported.size_bytes / 1e6:.1f} MB); {exported.report.summary()}")
        predictor = rt.load(exported.path)
    else:
        console.print("3/4 ONNX toolchain not installed: predicting with PyTorch instead")
    pred_dir = out / "predict"
    pred_dir.mkdir(parents=True, exist_ok=True)
    writer = PredictionWriter(pred_dir, save_images=True, save_json=True)
    results = []
    for result in predictor.stream(data_yaml.parent / "images" / "val", conf=DEMO_CONF, max_det=10):
        writer.add(result)
        results.append(result)
    json_path = writer.close()
    speed = mean_speed(results)
    summary = {
        "images": len(results), "instances": sum(len(r) for r in results), "engine": predictor.backend.describe(),
        "speed_ms": {k: round(v, 2) for k, v in speed.items()}, "overlays": str(pred_dir), "predictions": str(json_path),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(f"4/4 predicted {summary['images']} images with {summary['engine']} ({summary['instances']} instances "
                  f"at conf {DEMO_CONF}); {speed['preprocess']:.1f} / {speed['inference']:.1f} / "
                  f"{speed['postprocess']:.1f} ms pre/infer/post")
    console.print(f"outputs: overlays in {pred_dir}, COCO JSON {json_path}, summary {out / 'summary.json'}")
