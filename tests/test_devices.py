"""Device profiles are data checked against a schema."""
from __future__ import annotations

import json

import pytest

from edgeseg.devices.profiles import load_profile, parse_profile, profile_names
from edgeseg.runtime.errors import UsageError

REQUIRED = {"jetson-orin-nano", "jetson-agx-orin", "raspberry-pi-5", "coral-edgetpu", "android-cpu", "android-gpu",
            "ios-ane", "intel-cpu", "x86-cpu", "nvidia-gpu"}
VALID = {"name": "x", "description": "d", "formats": ["onnx"], "precision": "fp32", "imgsz": 320, "batch": 1,
         "engines": ["onnxruntime"]}


def test_every_required_profile_is_bundled_and_valid():
    assert REQUIRED <= set(profile_names())
    for name in profile_names():
        profile = load_profile(name)
        assert profile.name == name and profile.formats and profile.engines


@pytest.mark.parametrize("change,message", [
    ({"colour": "red"}, "unknown keys"),
    ({"imgsz": "640"}, "'imgsz' must be int"),
    ({"precision": "int4"}, "precision must be"),
    ({"imgsz": 100}, "multiple of 32"),
    ({"engines": []}, "non-empty"),
    ({"batch": True}, "'batch' must be int"),
])
def test_schema_errors_name_the_problem(change, message):
    with pytest.raises(UsageError, match=message):
        parse_profile({**VALID, **change}, "test.toml")
    with pytest.raises(UsageError, match="missing keys"):
        parse_profile({k: v for k, v in VALID.items() if k != "engines"}, "test.toml")


def test_unknown_profile_and_cli_listing(capsys):
    from edgeseg.cli import main

    with pytest.raises(UsageError, match="unknown device profile"):
        load_profile("toaster")
    assert main(["devices", "--json"]) == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert REQUIRED <= names


def test_jetson_target_writes_a_portable_bundle(checkpoint, tmp_path, coco8):
    pytest.importorskip("onnx", reason="export toolchain not installed")
    import edgeseg.runtime as rt
    from edgeseg.converters.targets import export_target

    result = export_target(checkpoint, "jetson-orin-nano", tmp_path)
    bundle = result.path
    assert sorted(p.name for p in bundle.iterdir()) == ["build_engine.sh", "model.onnx", "model.onnx.edgeseg.json",
                                                         "profile.toml"]
    assert "trtexec --onnx=model.onnx --fp16" in (bundle / "build_engine.sh").read_text()
    meta = json.loads((bundle / "model.onnx.edgeseg.json").read_text())
    assert meta["precision"] == "fp16" and meta["imgsz"] == [640, 640]
    predictor = rt.load(bundle / "model.onnx")  # the bundle's ONNX also runs here, through the runtime
    assert predictor.metadata.precision == "fp16" and predictor.predict(coco8 / "images" / "val" / "000000000036.jpg")


def test_a_target_whose_toolchain_is_missing_fails_clearly(checkpoint, tmp_path, monkeypatch):
    from edgeseg.converters.targets import export_target
    from edgeseg.converters.tflite_export import TFLiteExporter
    from edgeseg.runtime.errors import NotAvailableError

    monkeypatch.setattr(TFLiteExporter, "available", classmethod(lambda cls: (False, "onnx2tf is not installed")))
    with pytest.raises(NotAvailableError, match="target android-cpu needs tflite .fp32.*onnx2tf is not installed"):
        export_target(checkpoint, "android-cpu", tmp_path)
    assert not list(tmp_path.iterdir())


def test_int8_targets_need_a_calibration_source(checkpoint, tmp_path):
    from edgeseg.converters.targets import export_target
    from edgeseg.runtime.errors import UsageError

    for target in ("intel-cpu", "coral-edgetpu"):
        with pytest.raises(UsageError, match=f"target {target} is INT8: pass --calib DIR"):
            export_target(checkpoint, target, tmp_path)
    assert not list(tmp_path.iterdir())


def test_ios_and_raspberry_pi_targets_produce_their_artifacts(checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("coremltools", reason="CoreML export needs coremltools (pip install 'edgeseg[export]')")
    pytest.importorskip("pnnx", reason="ncnn export needs pnnx (pip install 'edgeseg[export]')")
    from edgeseg.converters.targets import export_target

    ios = export_target(checkpoint, "ios-ane", tmp_path)
    assert ios.path.name == "model_ios-ane.mlpackage" and ios.metadata.precision == "fp16"
    assert ios.metadata.imgsz == (640, 640) and "needs macOS" in ios.report.summary()
    from edgeseg.converters.tflite_export import TFLiteExporter

    # tflite first; ncnn is the profile's next format when the TFLite toolchain is missing
    monkeypatch.setattr(TFLiteExporter, "available", classmethod(lambda cls: (False, "onnx2tf is not installed")))
    rpi = export_target(checkpoint, "raspberry-pi-5", tmp_path)
    assert rpi.path.name == "model_raspberry-pi-5_ncnn_model" and rpi.metadata.imgsz == (320, 320)


@pytest.mark.parametrize("profile,engine", [("x86-cpu", "onnxruntime"), ("intel-cpu", "openvino")])
def test_profile_engine_order_is_used_by_predict(artifacts, coco8, profile, engine, capsys, tmp_path):
    from edgeseg.cli import main

    path = artifacts("onnx").path
    assert main(["predict", "--model", str(path), "--source", str(coco8 / "images" / "val"), "--profile", profile,
                 "--verbose", "--no-save", "--no-save-json", "--project", str(tmp_path)]) == 0
    assert f"using {engine}/fp32" in capsys.readouterr().err


def test_jetson_bundle_with_calibration_carries_a_tensorrt_cache(checkpoint, synthetic_data, tmp_path):
    """TensorRT is not installable here: the INT8 engine is built on the device from the bundle's ONNX and a cache
    of activation ranges measured on our calibration set (TensorRT's text format: header, `tensor: hex(scale)`)."""
    pytest.importorskip("onnxruntime", reason="the cache is measured with onnxruntime")
    import struct

    from edgeseg.calibration.dataset import build_calibration_set
    from edgeseg.converters.targets import export_target

    calib = build_calibration_set(synthetic_data, tmp_path / "calib", n=3, imgsz=(640, 640))
    result = export_target(checkpoint, "jetson-orin-nano", tmp_path / "out", quant={"calib": calib.directory})
    bundle = result.path
    names = sorted(p.name for p in bundle.iterdir())
    assert {"calib.cache", "build_engine_int8.sh", "calibration_manifest.json", "model.onnx"} <= set(names)
    assert "--int8 --fp16 --calib=calib.cache" in (bundle / "build_engine_int8.sh").read_text()
    lines = (bundle / "calib.cache").read_text().splitlines()
    assert lines[0].startswith("TRT-") and len(lines) > 200  # every activation of the graph
    entries = dict(line.split(": ") for line in lines[1:])
    image_scale = struct.unpack(">f", bytes.fromhex(entries["images"]))[0]
    assert 0.6 / 127 < image_scale <= 1.0 / 127 + 1e-7  # the input is in [0, 1] (bright synthetic photos)
    assert json.loads((bundle / "calibration_manifest.json").read_text())["count"] == 3
