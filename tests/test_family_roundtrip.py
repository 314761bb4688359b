"""Every family through the exporters: the reference's own best.pt of YOLOv8n-seg, YOLO11n-seg and YOLO26n-seg
(../shared/fixtures/ultralytics-8.4.190, trained by the real tool) exported by edgeseg and loaded by the runtime
give the canonical raw outputs PyTorch gives for the same checkpoint, on the real images it was trained on.
(These checkpoints were trained for one epoch: their scores are near-tied, so the comparison is on raw outputs;
post-processed agreement is covered on trained models in test_export_roundtrip.py and test_demo.py.)
YOLO26 also with `--end2end` (its NMS-free one-to-one head: final detections, no NMS in the runtime)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="ONNX export toolchain not installed (pip install 'edgeseg[export]')")

import edgeseg.runtime as rt  # noqa: E402
from edgeseg.converters.export import export  # noqa: E402
from edgeseg.converters.options import ExportOptions  # noqa: E402
from edgeseg.converters.registry import get_exporter  # noqa: E402
from edgeseg.runtime.formats import format_spec  # noqa: E402
from helpers.reference import require_fixtures  # noqa: E402

STEMS = ("yolov8n-seg-user3-best", "yolo11n-seg-user3-best", "yolo26n-seg-user3-best")
# (format, export kwargs, engine): the formats whose toolchains come with `pip install edgeseg[export]`
CASES = {"onnx": ("onnx", {}, "onnxruntime"), "openvino": ("openvino", {}, "openvino"),
         "torchscript": ("torchscript", {}, "torch"), "ncnn": ("ncnn", {}, "ncnn")}
IMGSZ = (320, 320)
RTOL = 1e-3  # max abs difference relative to each output's largest magnitude (FP32 kernels summing in other orders)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """The synth3 val images (real files the checkpoints were trained on), letterboxed as predict does."""
    from edgeseg.runtime.letterbox import letterbox, to_input_tensor

    paths = sorted((require_fixtures() / "synth3" / "images" / "val").glob("*"))
    assert paths
    return to_input_tensor([letterbox(cv2.imread(str(p))[..., ::-1], IMGSZ, 32)[0] for p in paths])


def _export(stem: str, case: str, tmp_path, end2end: bool = False):
    fmt, kwargs, engine = CASES[case]
    ok, why = get_exporter(fmt).available()
    if not ok:
        pytest.skip(why)
    out = tmp_path / f"{stem}-{int(end2end)}{format_spec(fmt).suffix}"
    result = export(require_fixtures() / f"{stem}.pt", ExportOptions(format=fmt, imgsz=IMGSZ, end2end=end2end,
                                                                     output=out, **kwargs))
    assert min(result.report.cosine.values()) >= 0.9999, result.report.cosine
    return rt.load(result.path, backend=engine)


def _run(predictor, batch: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.concatenate([predictor.run_raw(batch[i:i + 1])[k] for i in range(len(batch))])
            for k in ("boxes", "scores", "mask_coeffs", "protos")}


def _assert_close(got: dict, want: dict, label: str) -> None:
    for key, ref in want.items():
        scale = float(np.abs(ref).max()) or 1.0
        diff = float(np.abs(got[key] - ref).max())
        assert got[key].shape == ref.shape and diff <= RTOL * scale, (label, key, got[key].shape, ref.shape, diff, scale)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stem", STEMS)
def test_each_family_round_trips_through_each_format(stem, case, batch, tmp_path):
    reference = rt.load(require_fixtures() / f"{stem}.pt", backend="torch")
    exported = _export(stem, case, tmp_path)
    assert exported.metadata.names == reference.metadata.names
    _assert_close(_run(exported, batch), _run(reference, batch), f"{stem} {case}")


def test_yolo26_end2end_exports_give_the_same_final_detections_on_each_engine(batch, tmp_path):
    """`--end2end`: the one-to-one head's outputs are checked against PyTorch's by the export itself (cosine above);
    the runtime reads them as final detections (no NMS) and ONNX Runtime and OpenVINO give the same ones."""
    stem = "yolo26n-seg-user3-best"
    raws, predictions = {}, {}
    for case in ("onnx", "openvino"):
        predictor = _export(stem, case, tmp_path, end2end=True)
        assert predictor.metadata.end2end
        raws[case] = _run(predictor, batch)
        predictions[case] = predictor.predict(require_fixtures() / "synth3" / "images" / "val", conf=0.0, max_det=300)
    _assert_close(raws["openvino"], raws["onnx"], "yolo26 end2end")
    counts = [(len(a), len(b)) for a, b in zip(predictions["onnx"], predictions["openvino"])]
    assert all(abs(a - b) <= 2 for a, b in counts), counts  # rows at the score cut may fall either side
    assert all(0 < len(r) <= 300 for r in predictions["onnx"])
