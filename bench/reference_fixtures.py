"""Make and record what the reference tool really writes, for edgeseg's compatibility tests.

Runs ONLY in a throwaway venv with the reference installed (`pip install torch==2.14.1 torchvision==0.29.1
ultralytics`, YOLO_OFFLINE=1); nothing of the reference's code is copied, it is called. Steps:

1. train each family (yolov8n/yolo11n/yolo26n-seg) briefly on the shared synth3 dataset at 320, so the models
   give real detections (the shared user3 checkpoints are 1-epoch models whose scores are all ~0.004);
2. export each best.pt to every format and variant this host can make (FP32 / FP16 / INT8, dynamic, nms,
   YOLO26 nms=False, ...), into --out (a cache directory, never the repository);
3. record for every artifact: the metadata exactly as written, input/output names, shapes and dtypes, and the
   reference's own predictions (boxes, scores, classes, full-size masks) on fixed images and its val metrics.

The records go to tests/fixtures/ultralytics_8_4_190/ (small JSON + npz), so CI checks layouts and parity
without the reference. Usage:  python bench/reference_fixtures.py --out ~/.cache/edgeseg/reference-8.4.190
"""
from __future__ import annotations

import argparse
import json
import shutil
import traceback
import zipfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures" / "ultralytics-8.4.190"
RECORDS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics_8_4_190"
FAMILIES = ("yolov8n-seg", "yolo11n-seg", "yolo26n-seg")
IMGSZ = 320
# (variant name, export kwargs); each is tried, and what the tool did (file or error) is recorded.
VARIANTS = (
    ("onnx", {"format": "onnx"}),
    ("onnx-dynamic", {"format": "onnx", "dynamic": True}),
    ("onnx-nms", {"format": "onnx", "nms": True}),
    ("onnx-fp16", {"format": "onnx", "half": True}),
    ("onnx-nms-false", {"format": "onnx", "nms": False}),  # 8.4.190: nms=False selects YOLO26's NMS-free head
    ("openvino", {"format": "openvino"}),
    ("openvino-fp16", {"format": "openvino", "half": True}),
    ("openvino-int8", {"format": "openvino", "int8": True}),
    ("openvino-nms-false", {"format": "openvino", "nms": False}),
    ("torchscript", {"format": "torchscript"}),
    ("ncnn", {"format": "ncnn"}),
    ("tflite", {"format": "tflite"}),
    ("tflite-int8", {"format": "tflite", "int8": True}),
    ("saved_model", {"format": "saved_model"}),
    ("paddle", {"format": "paddle"}),
    ("coreml", {"format": "coreml"}),
    ("edgetpu", {"format": "edgetpu"}),
    ("tfjs", {"format": "tfjs"}),
)


def images() -> list[Path]:
    coco = SHARED / "datasets" / "coco8-seg" / "images" / "val"
    return sorted((FIXTURES / "synth3" / "images" / "val").glob("*.jpg")) + sorted(coco.glob("*.jpg"))


def data_yaml(out: Path) -> Path:
    """synth3's data.yaml with an absolute path (its `path: .` would resolve against the working directory)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "synth3.yaml"
    target.write_text(f"path: {FIXTURES / 'synth3'}\ntrain: images/train\nval: images/val\nnames:\n"
                      "  0: a\n  1: b\n  2: c\n")
    return target


def train(family: str, out: Path, epochs: int) -> Path:
    from ultralytics import YOLO

    best = out / "train" / family / "weights" / "best.pt"
    if not best.is_file():
        YOLO(f"{family}.yaml").train(data=str(data_yaml(out)), epochs=epochs, imgsz=IMGSZ, batch=4,
                                     workers=0, project=str(out / "train"), name=family, exist_ok=True, plots=False,
                                     seed=0, deterministic=True, verbose=False)
    target = out / f"{family}-synth3.pt"
    shutil.copy(best, target)
    return target


def export(pt: Path, variant: str, kwargs: dict, out: Path) -> tuple[Path | None, str]:
    from ultralytics import YOLO

    kwargs = dict(kwargs)
    if kwargs.get("int8"):
        kwargs["data"] = str(data_yaml(out))
    try:
        written = YOLO(str(pt)).export(imgsz=IMGSZ, **kwargs)
    except Exception as err:  # what the tool said is itself a fact to record
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
    written = Path(written)
    # keep the tool's own ending (`_openvino_model`, `.onnx`, ...): its backend picks the format from the name
    target = out / "exports" / written.name.replace(pt.stem, f"{pt.stem}-{variant}", 1)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(written), target)
    return target, ""


def describe(path: Path) -> dict:
    """Metadata as written and the graph's inputs/outputs, read with the format's own tools."""
    info: dict = {"file": path.name}
    if path.suffix == ".onnx":
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(path), load_external_data=False)
        info["metadata_props"] = {p.key: p.value for p in model.metadata_props}
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        info["inputs"] = [[i.name, list(i.shape), i.type] for i in session.get_inputs()]
        info["outputs"] = [[o.name, list(o.shape), o.type] for o in session.get_outputs()]
    elif path.suffix == ".torchscript":
        with zipfile.ZipFile(path) as zf:
            info["extra_files"] = {n.split("/")[-1]: zf.read(n).decode() for n in zf.namelist() if "/extra/" in n}
    elif path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        info["inputs"] = [[d["name"], d["shape"].tolist(), str(d["dtype"].__name__), list(d["quantization"])]
                          for d in interp.get_input_details()]
        info["outputs"] = [[d["name"], d["shape"].tolist(), str(d["dtype"].__name__), list(d["quantization"])]
                           for d in interp.get_output_details()]
        with zipfile.ZipFile(path) as zf:
            info["appended_files"] = {n: zf.read(n).decode() for n in zf.namelist()}
    elif path.is_dir():
        info["files"] = sorted(p.name for p in path.iterdir())
        meta = path / "metadata.yaml"
        info["metadata_yaml"] = meta.read_text() if meta.is_file() else None
        xmls = sorted(path.glob("*.xml"))
        if xmls:
            import openvino as ov

            model = ov.Core().read_model(str(xmls[0]))
            info["inputs"] = [[sorted(p.get_names()), str(p.get_partial_shape()), str(p.get_element_type())] for p in model.inputs]
            info["outputs"] = [[sorted(p.get_names()), str(p.get_partial_shape()), str(p.get_element_type())] for p in model.outputs]
        param = path / "model.ncnn.param"
        if param.is_file():
            lines = param.read_text().splitlines()
            info["ncnn_io"] = [ln.split()[:2] + ln.split()[-2:] for ln in lines if " in0" in ln or " out" in ln][:6]
    return info


def predictions(path: Path, imgs: list[Path]) -> dict[str, np.ndarray]:
    """The reference's own predict() at its defaults (conf 0.25, iou 0.7) with full-size masks (retina_masks)."""
    from ultralytics import YOLO

    model = YOLO(str(path), task="segment")
    out: dict[str, np.ndarray] = {}
    for img in imgs:
        (r,) = model.predict(str(img), imgsz=IMGSZ, retina_masks=True, verbose=False)
        key = f"{img.parent.parent.parent.name}/{img.stem}"
        out[f"{key}/boxes"] = r.boxes.xyxy.numpy().astype(np.float32)
        out[f"{key}/scores"] = r.boxes.conf.numpy().astype(np.float32)
        out[f"{key}/classes"] = r.boxes.cls.numpy().astype(np.int64)
        masks = r.masks.data.numpy().astype(bool) if r.masks is not None else np.zeros((0,) + r.orig_shape, bool)
        out[f"{key}/masks"] = np.packbits(masks, axis=-1)
        out[f"{key}/shape"] = np.array(masks.shape, dtype=np.int64)
    return out


def val_metrics(path: Path, out: Path) -> dict[str, float]:
    from ultralytics import YOLO

    m = YOLO(str(path), task="segment").val(data=str(data_yaml(out)), imgsz=IMGSZ, batch=1,
                                            plots=False, verbose=False)
    return {"box_map50_95": float(m.box.map), "box_map50": float(m.box.map50),
            "mask_map50_95": float(m.seg.map), "mask_map50": float(m.seg.map50)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True, help="cache directory for models and exports")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--variants", nargs="*", default=[v for v, _ in VARIANTS])
    args = parser.parse_args()
    RECORDS.mkdir(parents=True, exist_ok=True)
    layouts_file, val_file = RECORDS / "layouts.json", RECORDS / "val.json"
    layouts = json.loads(layouts_file.read_text()) if layouts_file.is_file() else {}
    vals = json.loads(val_file.read_text()) if val_file.is_file() else {}
    preds_file = RECORDS / "predictions.npz"
    preds = dict(np.load(preds_file)) if preds_file.is_file() else {}
    for shared in sorted(FIXTURES.glob("*-best*")):  # the shared exports: record what they hold as well
        if shared.suffix != ".pt":
            layouts[f"shared/{shared.name}"] = describe(shared)
    for family in args.families:
        pt = train(family, args.out, args.epochs)
        artifacts = {"pt": pt}
        for variant, kwargs in VARIANTS:
            if variant in args.variants:
                path, error = export(pt, variant, kwargs, args.out)
                layouts[f"{family}/{variant}"] = describe(path) if path else {"error": error}
                layouts_file.write_text(json.dumps(layouts, indent=1, sort_keys=True) + "\n")  # a crash keeps it
                if path:
                    artifacts[variant] = path
        for name, path in artifacts.items():
            try:
                preds.update({f"{family}/{name}/{k}": v for k, v in predictions(path, images()).items()})
                vals[f"{family}/{name}"] = val_metrics(path, args.out)
            except Exception:
                vals[f"{family}/{name}"] = {"error": traceback.format_exc().splitlines()[-1][:300]}
        layouts_file.write_text(json.dumps(layouts, indent=1, sort_keys=True) + "\n")
        val_file.write_text(json.dumps(vals, indent=1, sort_keys=True) + "\n")
        np.savez_compressed(preds_file, **preds)
        print(family, "done:", sorted(artifacts))


if __name__ == "__main__":
    main()
