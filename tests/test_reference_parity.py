"""edgeseg's predictions on the reference's exports equal the reference's own predictions on the same images.

The models are the three families trained with the reference on synth3 (bench/reference_fixtures.py); the
reference's predict() results are recorded in tests/fixtures/ultralytics_8_4_190/predictions.npz, the exports
live in the reference cache (skipped, with the reason, where it is absent). Same engine on both sides: boxes
within 1 px, scores within 1e-3, same classes, mask IoU >= 0.98 per instance. The reference runs OpenVINO in bf16
on this CPU (edgeseg: f32), so edgeseg's OpenVINO result is held to the reference's FP32 ONNX predictions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.reference import cached_artifact, compare_image, parity_images, records, require_fixtures

from edgeseg.runtime import load
from edgeseg.runtime.sources import read_image

# (family, edgeseg runs this export, compared with the reference's predictions on that export)
CASES = [
    ("yolov8n-seg", "onnx", "onnx"), ("yolov8n-seg", "onnx-dynamic", "onnx-dynamic"),
    ("yolov8n-seg", "onnx-nms", "onnx-nms"), ("yolov8n-seg", "torchscript", "torchscript"),
    ("yolov8n-seg", "openvino", "onnx"), ("yolov8n-seg", "ncnn", "ncnn"), ("yolov8n-seg", "pt", "pt"),
    ("yolo11n-seg", "onnx", "onnx"), ("yolo11n-seg", "onnx-nms", "onnx-nms"), ("yolo11n-seg", "torchscript", "torchscript"),
    ("yolo11n-seg", "openvino", "onnx"), ("yolo11n-seg", "ncnn", "ncnn"),
    ("yolo26n-seg", "onnx", "onnx"), ("yolo26n-seg", "onnx-nms-false", "onnx-nms-false"),
    ("yolo26n-seg", "torchscript", "torchscript"), ("yolo26n-seg", "openvino", "onnx"), ("yolo26n-seg", "ncnn", "ncnn"),
    ("yolo26n-seg", "openvino-nms-false", "onnx-nms-false"),
    ("yolov8n-seg", "tflite", "tflite"), ("yolo11n-seg", "tflite", "tflite"), ("yolo26n-seg", "tflite", "tflite"),
]
ENGINE_MODULE = {"onnx": "onnxruntime", "openvino": "openvino", "torchscript": "torch", "ncnn": "ncnn", "pt": "torch",
                 "tflite": "ai_edge_litert"}


@pytest.mark.parametrize("family,ours,theirs", CASES, ids=[f"{f}-{o}" for f, o, _ in CASES])
def test_edgeseg_predicts_what_the_reference_predicts(family, ours, theirs):
    pytest.importorskip(ENGINE_MODULE[ours.split("-")[0]])
    predictions = records("predictions.npz")
    if f"{family}/{theirs}/synth3/0/boxes" not in predictions:
        pytest.skip(f"no recorded reference predictions for {family}/{theirs}")
    predictor = load(cached_artifact(family, ours))
    worst = {"box_px": 0.0, "score": 0.0, "mask_iou": 1.0, "n": 0}
    for image in parity_images():
        key = f"{family}/{theirs}/{image.parent.parent.parent.name}/{image.stem}"
        ref = {k: predictions[f"{key}/{k}"] for k in ("boxes", "scores", "classes", "masks", "shape")}
        (res,) = predictor.predict(read_image(image), imgsz=320)  # the size the reference was asked for
        got = compare_image(ref, res)
        worst = {"box_px": max(worst["box_px"], got["box_px"]), "score": max(worst["score"], got["score"]),
                 "mask_iou": min(worst["mask_iou"], got["mask_iou"]), "n": worst["n"] + got["n"]}
    print(f"{family} {ours} vs reference {theirs}: {worst}")
    assert worst["n"] > 0, "the trained model found nothing: the comparison would prove nothing"
    assert worst["box_px"] <= 1.0 and worst["score"] <= 1e-3 and worst["mask_iou"] >= 0.98, worst


def _recorded_metadata(entry: dict) -> dict | None:
    """The metadata a recorded export carries, as the tool wrote it (reprs, YAML or JSON)."""
    import json

    import yaml

    if "metadata_props" in entry:
        return entry["metadata_props"]
    if entry.get("metadata_yaml"):
        return yaml.safe_load(entry["metadata_yaml"])
    for text in (*entry.get("extra_files", {}).values(), *entry.get("appended_files", {}).values()):
        return json.loads(text)
    return None


def test_every_recorded_reference_export_has_metadata_edgeseg_reads_and_a_layout_it_maps():
    """layouts.json: every variant the tool wrote (or the error it gave), recorded with the real tool."""
    from edgeseg.runtime.foreign import from_ultralytics

    layouts = records("layouts.json")
    checked = 0
    for key, entry in sorted(layouts.items()):
        meta = _recorded_metadata(entry) if "error" not in entry else None
        if meta is None:
            continue
        parsed = from_ultralytics(meta, key)
        assert parsed.names == {0: "a", 1: "b", 2: "c"} and parsed.imgsz == (320, 320), key
        shapes = [o[1] for o in entry.get("outputs", [])]
        if shapes and isinstance(shapes[0], list) and isinstance(shapes[0][1], int):
            expected = [1, 300, 38] if parsed.layout == "end2end" else [1, 39, 2100]
            assert shapes[0][1:] == expected[1:] or not isinstance(shapes[0][2], int), (key, shapes)
        checked += 1
    assert checked >= 10, f"only {checked} recorded exports carry metadata"


def test_every_cached_reference_export_runs_without_flags():
    """Each export variant the reference wrote here (FP16, INT8, dynamic, nms, TFLite, ...) predicts through
    edgeseg with no extra flag; INT8 ones are compared by their own detection count with the reference's."""
    from helpers.reference import CACHE

    exports = sorted((CACHE / "exports").glob("*")) if (CACHE / "exports").is_dir() else []
    if not exports:
        pytest.skip(f"no reference exports in {CACHE} (made by bench/reference_fixtures.py)")
    image = read_image(parity_images()[0])
    ran = []
    for path in exports:
        engine = {".onnx": "onnxruntime", ".tflite": "ai_edge_litert", ".torchscript": "torch"}.get(path.suffix)
        if path.name.endswith("_openvino_model"):
            engine = "openvino"
        if path.name.endswith("_ncnn_model"):
            engine = "ncnn"
        if engine is None or __import__("importlib").util.find_spec(engine) is None:
            continue
        (res,) = load(path).predict(image)
        assert res.boxes.shape[1:] == (4,) and len(res.scores) == len(res.boxes), path.name
        ran.append(path.name)
    print(f"{len(ran)} reference exports ran: {ran}")
    assert len(ran) >= 10


@pytest.mark.parametrize("source", ["cache", "shared"])
def test_edgeseg_val_of_the_reference_onnx_equals_val_of_its_pt(tmp_path, source):
    """The reference's ONNX export and its best.pt (imported by edgeseg, run at the same square 320 input) score
    the same through edgeseg's one validation path, within the FP32 tolerance (0.1 mAP points)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from helpers.reference import synth3_yaml

    from edgeseg.converters.gate import TOLERANCE_POINTS, agreement, evaluate
    from edgeseg.converters.report import reference_evaluation

    if source == "cache":
        onnx, pt = cached_artifact("yolov8n-seg", "onnx"), cached_artifact("yolov8n-seg", "pt")
    else:
        onnx, pt = (require_fixtures() / f"yolov8n-seg-user3-best.{s}" for s in ("onnx", "pt"))
    data = synth3_yaml(tmp_path)
    checkpoint, _ = reference_evaluation(str(pt), str(data), (320, 320))
    exported = evaluate(load(onnx), data, "val", "onnx")
    tolerance = TOLERANCE_POINTS["fp32"] / 100
    c, e = checkpoint.metrics, exported.metrics
    print(f"{source}: .pt box {c.box.map:.4f} mask {c.seg.map:.4f} | .onnx box {e.box.map:.4f} mask {e.seg.map:.4f}")
    assert abs(c.box.map - e.box.map) <= tolerance and abs(c.seg.map - e.seg.map) <= tolerance
    assert abs(c.box.map50 - e.box.map50) <= tolerance and abs(c.seg.map50 - e.seg.map50) <= tolerance
    if source == "cache":
        assert c.seg.map > 0.05, "the trained model should score something, or the comparison proves little"
        assert min(agreement(checkpoint, exported)) >= 0.99
