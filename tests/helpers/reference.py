"""The reference tool's real files (../shared/fixtures/ultralytics-8.4.190) and what was measured from it.

Facts recorded with the real tool (Ultralytics 8.4.190, torch 2.14.1, CPU; `bench/reference_fixtures.py`
re-measures them) live in tests/fixtures/ultralytics_8_4_190/: `layouts.json` (every export variant tried: the
metadata exactly as written, input/output names, shapes and dtypes, or the tool's error), `predictions.npz`
(the reference's own predict() on fixed images) and `val.json` (its val metrics). Models trained for those
records live in a cache (EDGESEG_REFERENCE_CACHE, default ~/.cache/edgeseg/reference-8.4.190): tests that need
them skip with the reason when it is absent.

What the tool wrote, per variant (8.4.190, this host, offline), for YOLOv8n/YOLO11n/YOLO26n-seg at 320:
- onnx: output0 (1, 4+nc+32, 2100) xywh + probabilities + coefficients, output1 (1, 32, 80, 80); also YOLO26
  (its metadata says end2end False: the NMS-free head is exported only with nms=False);
- onnx dynamic=True: [batch, 39, anchors] / [batch, 32, mask_height, mask_width], args.dynamic True;
- onnx nms=True: output0 (1, 300, 38) final rows (end2end stays False in the metadata, args.nms True);
- onnx / openvino nms=False: YOLO26 end-to-end (1, 300, 38) with end2end True; v8 / v11 unchanged;
- onnx half=True (quantize 16): FP16 weights, float32 I/O;
- openvino FP32 / FP16 / INT8 (NNCF, dir `*_int8_openvino_model`): output0 port unnamed, output1 named `input`;
- torchscript: extra/config.txt JSON; ncnn: in0 -> out0 (39, 2100), out1 (32, 80, 80), metadata.yaml;
- tflite (litert-torch) FP32 / INT8 (`*_int8.tflite`, float I/O): NCHW input, outputs as ONNX with box xywh
  divided by the input size, metadata.json in a zip appended to the file;
- tfjs: "deprecated as of 8.4.83 ... Exporting format='litert' instead" (a .tflite);
- saved_model: "Download failure for .../calibration_image_sample_data_20x128x128x3_float32.npy.zip";
- edgetpu: "Download failure for https://ultralytics.com/assets/coco8-seg.zip"; paddle: "No module named
  'x2paddle'"; coreml: the export process segfaults (coremltools 9 beside torch 2.14.1).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EDGESEG_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "ultralytics-8.4.190"
RECORDS = ROOT / "tests" / "fixtures" / "ultralytics_8_4_190"
CACHE = Path(os.environ.get("EDGESEG_REFERENCE_CACHE", Path.home() / ".cache" / "edgeseg" / "reference-8.4.190"))
FAMILIES = ("yolov8n-seg", "yolo11n-seg", "yolo26n-seg")

# The shared exports (all at 320, 3 classes a/b/c) and the output layout each one really has.
SHARED_EXPORTS = {
    "yolov8n-seg-user3-best.onnx": "ultralytics",
    "yolo11n-seg-user3-best.onnx": "ultralytics",
    # SOURCE.md expects YOLO26's default ONNX to be end-to-end, but the file says `end2end: 'False'` and holds
    # output0 (1, 39, 2100): in 8.4.190 the NMS-free head is exported only with nms=False (default nms=None).
    "yolo26n-seg-user3-best.onnx": "ultralytics",
    "yolov8n-seg-user3-best_openvino_model": "ultralytics",
    "yolo26n-seg-user3-best_openvino_model": "ultralytics",  # the tool writes end2end: false for this IR
    "yolov8n-seg-user3-best.torchscript": "ultralytics",
    "yolo26n-seg-user3-best.torchscript": "ultralytics",
    "yolov8n-seg-user3-best_ncnn_model": "ultralytics",  # ncnn: end2end disabled by the tool ("no top-k")
    "yolo26n-seg-user3-best_ncnn_model": "ultralytics",
}

# What the tool writes into metadata, measured on the shared files (ONNX metadata_props: Python reprs).
METADATA_KEYS = {"description", "author", "date", "version", "license", "docs", "stride", "task", "head", "batch",
                 "imgsz", "names", "args", "channels", "end2end"}


def require_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures not present: {FIXTURES} (the compatibility tests read ../shared/fixtures)")
    return FIXTURES


def stem_of(name: str) -> str:
    """`yolov8n-seg-user3-best_openvino_model` -> `yolov8n-seg-user3-best` (the key in reference_outputs_320.npz)."""
    for ending in ("_openvino_model", "_ncnn_model", ".onnx", ".torchscript"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return name


def reference_outputs() -> dict[str, np.ndarray]:
    with np.load(require_fixtures() / "reference_outputs_320.npz") as data:
        return {k: data[k] for k in data.files}


def synth3_yaml(tmp_path: Path) -> Path:
    """synth3's data.yaml with an absolute path (its own says `path: .`, relative to the working directory)."""
    target = tmp_path / "synth3.yaml"
    target.write_text(f"path: {require_fixtures() / 'synth3'}\ntrain: images/train\nval: images/val\n"
                      "names: {0: a, 1: b, 2: c}\n")
    return target


def records(name: str):
    path = RECORDS / name
    if not path.is_file():
        pytest.skip(f"{path} not recorded (run bench/reference_fixtures.py with the reference installed)")
    if path.suffix == ".npz":
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    return json.loads(path.read_text())


def cached_artifact(family: str, variant: str) -> Path:
    """A reference export of the synth3-trained model, from the cache made by bench/reference_fixtures.py."""
    exports = CACHE / "exports"
    found = sorted(exports.glob(f"{family}-synth3-{variant}.*")) + sorted(exports.glob(f"{family}-synth3-{variant}_*"))
    if variant == "pt":
        found = [CACHE / f"{family}-synth3.pt"] if (CACHE / f"{family}-synth3.pt").is_file() else []
    if not found:
        pytest.skip(f"reference export {family}/{variant} not in {CACHE} (made by bench/reference_fixtures.py with "
                    f"the reference installed)")
    return found[0]


def parity_images() -> list[Path]:
    """synth3's val images (what the models were trained for) and coco8-seg's val photos (out of domain)."""
    coco = SHARED / "datasets" / "coco8-seg" / "images" / "val"
    return sorted((require_fixtures() / "synth3" / "images" / "val").glob("*.jpg")) + sorted(coco.glob("*.jpg"))


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter + 1e-9)


def _unique_match(iou: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching by descending IoU: match[i] = edgeseg's detection for reference detection i."""
    match = np.full(iou.shape[0], -1)
    used = np.zeros(iou.shape[1], bool)
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), iou.shape[1])
        if match[i] < 0 and not used[j] and iou[i, j] >= 0:
            match[i], used[j] = j, True
    assert (match >= 0).all(), "a reference detection has no edgeseg detection of its class"
    return match


def compare_image(ref: dict, res) -> dict[str, float]:
    """Match each reference detection to edgeseg's (same class, best box IoU) and measure the worst case."""
    assert len(res.boxes) == len(ref["boxes"]), f"{len(res.boxes)} detections, the reference has {len(ref['boxes'])}"
    if not len(ref["boxes"]):
        return {"box_px": 0.0, "score": 0.0, "mask_iou": 1.0, "n": 0}
    iou = _box_iou(ref["boxes"], res.boxes)
    iou[ref["classes"][:, None] != res.class_ids[None, :]] = -1
    match = _unique_match(iou)
    shape = tuple(ref["shape"][1:])
    ref_masks = np.unpackbits(ref["masks"], axis=-1, count=shape[1]).astype(bool)
    ours = res.instance_masks.full()
    mask_iou = [float((ref_masks[i] & ours[j]).sum() / max((ref_masks[i] | ours[j]).sum(), 1)) for i, j in enumerate(match)]
    return {"box_px": float(np.abs(ref["boxes"] - res.boxes[match]).max()),
            "score": float(np.abs(ref["scores"] - res.scores[match]).max()),
            "mask_iou": min(mask_iou), "n": len(match)}
