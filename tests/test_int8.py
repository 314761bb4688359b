"""INT8 on a trained model and real images: ONNX Runtime and OpenVINO quantisation hold the accuracy bounds, the
parity gate catches a broken quantisation, and the report generator writes its files.

The model is yolov8n-seg trained on the 4 coco8-seg train images (the session's overfit run). It is scored on
those images, where it has a mAP worth protecting, and calibrated on the 100 coco200-seg val images (COCO val2017;
coco8's train images are COCO train2017), so calibration and scoring never share an image. Four images are too
few to calibrate on: they leave mask agreement near 0.75, where 100 give about 0.95 (see the closing note).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("onnxruntime", reason="INT8 tests need onnxruntime (pip install 'edgeseg[export]')")
pytest.importorskip("onnx", reason="INT8 tests need onnx (pip install 'edgeseg[export]')")

from edgeseg.calibration.dataset import CalibrationSet, build_calibration_set  # noqa: E402
from edgeseg.converters.gate import ParityGateError, check, reference_row  # noqa: E402
from edgeseg.converters.report import MatrixReport, gate_artifact, reference_evaluation, write_report  # noqa: E402

IMGSZ = (320, 320)
# Bounds on these 4 scored images (measured: ONNX Runtime Δ mask -1.2, agreement 0.92 box / 0.95 mask; a 4-image
# mAP moves by whole points when one instance changes, so Δ gets a wider bound than agreement).
MAX_DROP = 3.0  # mAP50-95 points
MIN_AGREEMENT = 0.88


@pytest.fixture(scope="module")
def swapped_yaml(coco8, tmp_path_factory) -> Path:
    """Scores the coco8 train images (the val split here); its train split (coco8 val) is never used."""
    names = yaml.safe_load((coco8 / "data.yaml").read_text())["names"]
    path = tmp_path_factory.mktemp("int8data") / "data.yaml"
    path.write_text(yaml.safe_dump({"path": str(coco8), "train": "images/val", "val": "images/train", "names": names}))
    return path


@pytest.fixture(scope="module")
def calib(coco200, tmp_path_factory) -> CalibrationSet:
    names = yaml.safe_load((coco200 / "data.yaml").read_text())["names"]
    path = tmp_path_factory.mktemp("calibdata") / "data.yaml"
    path.write_text(yaml.safe_dump({"path": str(coco200), "train": "images/val", "val": "images/train", "names": names}))
    return build_calibration_set(path, tmp_path_factory.mktemp("calib"), n=100, imgsz=IMGSZ)


@pytest.fixture(scope="module")
def reference(coco8_trained, swapped_yaml):
    return reference_evaluation(str(coco8_trained.best), str(swapped_yaml), IMGSZ)


def _export_int8(ckpt: Path, fmt: str, calib: CalibrationSet, data: Path, out: Path, layout: str = "edgeseg"):
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    options = ExportOptions(format=fmt, imgsz=IMGSZ, int8=True, calib=calib.directory, data=str(data),
                            max_drop=MAX_DROP if fmt != "tflite" else TFLITE_MAX_DROP, output=out, layout=layout)
    return export(ckpt, options)


# TFLite full-integer INT8 has no float islands (the decode runs in int8 unless the graph ends before the DFL);
# measured here: Δ mask -5.0, agreement 0.90 box / 0.84 mask with the raw layout. Its own, looser bounds.
TFLITE_MAX_DROP, TFLITE_MIN_AGREEMENT = 8.0, 0.75
INT8_CASES = [("onnx", ".onnx", "edgeseg", "nncf"), ("openvino", "_openvino_model", "edgeseg", "nncf"),
              ("tflite", ".tflite", "edgeseg-raw", "onnx2tf")]


@pytest.mark.slow
@pytest.mark.parametrize("fmt,suffix,layout,tool", INT8_CASES)
def test_int8_keeps_accuracy_on_a_trained_model(fmt, suffix, layout, tool, coco8_trained, calib, swapped_yaml,
                                                 reference, tmp_path):
    pytest.importorskip(tool if fmt != "onnx" else "onnxruntime", reason=f"{fmt} INT8 needs {tool} "
                        f"(pip install 'edgeseg[export]')")
    result = _export_int8(coco8_trained.best, fmt, calib, swapped_yaml, tmp_path / f"m_int8{suffix}", layout)
    meta = result.metadata
    assert meta.precision == "int8" and meta.calibration_manifest_sha256 == calib.manifest_sha256
    q = meta.quantization
    assert q["calibration"]["count"] == 100 and q["budget_steps"] and len(q["keep_float"]) >= 10
    if fmt != "tflite":
        assert set(q["method_scores"]) == {"minmax", "percentile", "entropy"}  # the method was measured, not fixed
    from edgeseg.runtime.metadata import sidecar_path

    sidecar = json.loads(sidecar_path(result.path).read_text())
    assert sidecar["precision"] == "int8"
    max_drop, min_agreement = (TFLITE_MAX_DROP, TFLITE_MIN_AGREEMENT) if fmt == "tflite" else (MAX_DROP, MIN_AGREEMENT)
    row = gate_artifact(reference[0], result.path, fmt, "int8", str(swapped_yaml), max_drop, result.size_bytes)
    print(row)
    assert reference[0].metrics.seg.map > 0.3  # the model has accuracy to lose
    assert -row.d_mask <= max_drop and -row.d_box <= max_drop, row
    assert row.agree_mask >= min_agreement and row.agree_box >= min_agreement, row
    assert row.engine.endswith("int8+fp32") and row.size_mb < 5.0
    check([row])


@pytest.mark.slow
def test_gate_fails_a_broken_quantisation_and_the_report_is_written(coco8_trained, calib, swapped_yaml, reference,
                                                                    tmp_path):
    """Calibrating on flat grey images (every activation range collapses) and quantising the decode tail too:
    the gate must refuse it, and the report must still be written with the failure marked."""
    import onnx

    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.converters.quantize.ort import quantize_qdq

    fp32 = export(coco8_trained.best, ExportOptions(format="onnx", imgsz=IMGSZ, output=tmp_path / "fp32.onnx"))
    grey = dataclasses.replace(calib, images=np.full_like(calib.images, 114))
    broken = quantize_qdq(fp32.path, tmp_path / "broken.onnx", grey, keep_float=[], method="minmax")
    int8_meta = dataclasses.replace(fp32.metadata, precision="int8")
    int8_meta.write_sidecar(broken)
    assert onnx.load(str(broken)).graph.node  # a loadable, runnable graph: only its numbers are wrong
    row = gate_artifact(reference[0], broken, "onnx", "int8", str(swapped_yaml), 0.5, broken.stat().st_size)
    assert not row.passed and row.d_mask < -0.5 and row.agree_mask < MIN_AGREEMENT, row
    with pytest.raises(ParityGateError, match="parity gate failed: onnx/int8"):
        check([row], broken)
    report = MatrixReport(rows=[reference_row(*reference), row], timings_s={"total": 1.0},
                          settings={"model": "best.pt", "data": str(swapped_yaml), "imgsz": list(IMGSZ)})
    paths = write_report(report, tmp_path / "report")
    names = {p.name for p in paths}
    assert {"export_report.md", "export_report.json"} <= names
    text = (tmp_path / "report" / "export_report.md").read_text()
    assert "| onnx | int8 |" in text and "FAIL" in text and "| checkpoint | fp32 |" in text
    assert json.loads((tmp_path / "report" / "export_report.json").read_text())["rows"][1]["passed"] is False
    if "export_report.png" in names:
        assert (tmp_path / "report" / "export_report.png").stat().st_size > 1000


def test_int8_export_needs_calibration_and_refuses_conflicts(checkpoint, tmp_path):
    from edgeseg.cli import main

    code = main(["export", "--model", str(checkpoint), "--format", "onnx", "--int8", "--imgsz", "320",
                 "--output", str(tmp_path / "x.onnx")])
    assert code == 2 and not (tmp_path / "x.onnx").exists()
    assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--int8", "--half"]) == 2
    assert main(["export", "--model", str(checkpoint), "--format", "torchscript", "--int8", "--data", "d.yaml"]) == 2
    assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--verify"]) == 2


@pytest.mark.slow
def test_edgetpu_target_bundle_and_op_set(coco8_trained, calib, tmp_path):
    """The Edge TPU graph ends before the DFL and stays inside the documented op set; without edgetpu_compiler the
    export says exactly what to install and still writes the compiler-ready file; the coral target bundles it."""
    pytest.importorskip("onnx2tf", reason="Edge TPU export needs onnx2tf + tensorflow (pip install 'edgeseg[export]')")
    import shutil

    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.converters.targets import export_target
    from edgeseg.runtime.errors import NotAvailableError, UsageError

    with pytest.raises(UsageError, match="--layout edgeseg-raw"):
        export(coco8_trained.best, ExportOptions(format="edgetpu", imgsz=IMGSZ, int8=True, calib=calib.directory))
    if shutil.which("edgetpu_compiler") is None:
        with pytest.raises(NotAvailableError, match="edgetpu_compiler is not on PATH.*Coral's apt repository"):
            export(coco8_trained.best, ExportOptions(format="edgetpu", imgsz=IMGSZ, int8=True, layout="edgeseg-raw",
                                                     calib=calib.directory, output=tmp_path / "m_edgetpu.tflite"))
        ready = tmp_path / "m_full_integer_quant.tflite"
        meta = json.loads((tmp_path / "m_full_integer_quant.tflite.edgeseg.json").read_text())
        ops = meta["quantization"]["edgetpu_ops"]
        assert ready.is_file() and meta["layout"] == "edgeseg-raw" and meta["input_layout"] == "NHWC"
        assert ops["in_edgetpu_set"] == ops["ops"] > 200 and ops["first_unsupported"] is None
        import edgeseg.runtime as rt

        predictor = rt.load(ready)  # the uncompiled graph runs on the CPU through LiteRT, boxes decoded on the host
        assert predictor.metadata.precision == "int8"
    result = export_target(coco8_trained.best, "coral-edgetpu", tmp_path / "coral", quant={"calib": calib.directory})
    names = sorted(p.name for p in result.path.iterdir())
    assert "build_engine.sh" in names and "profile.toml" in names
    assert "edgetpu_compiler model_full_integer_quant.tflite" in (result.path / "build_engine.sh").read_text()
