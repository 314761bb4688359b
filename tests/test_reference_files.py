"""The reference tool's real files (../shared/fixtures/ultralytics-8.4.190), run as they are: metadata read
leniently and checked, every layout mapped to the canonical outputs, raw outputs equal to the reference model's,
and predict / val / benchmark running each file with no extra flag."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.reference import (
    METADATA_KEYS, SHARED_EXPORTS, reference_outputs, require_fixtures, stem_of, synth3_yaml,
)

from edgeseg.runtime import load
from edgeseg.runtime.decode import from_ultralytics_layout
from edgeseg.runtime.errors import ModelFormatError
from edgeseg.runtime.foreign import from_ultralytics

ENGINE_OF = {".onnx": "onnxruntime", "_openvino_model": "openvino", ".torchscript": "torch", "_ncnn_model": "ncnn"}
RTOL = 1e-4  # max abs difference relative to each output's scale (FP32 engines)


def _engine(name: str) -> str:
    return next(engine for ending, engine in ENGINE_OF.items() if name.endswith(ending))


@pytest.fixture(scope="module")
def outputs():
    return reference_outputs()


@pytest.mark.parametrize("name", sorted(SHARED_EXPORTS))
def test_reference_export_loads_with_its_metadata_and_layout(name):
    pytest.importorskip({"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch",
                         "ncnn": "ncnn"}[_engine(name)])
    predictor = load(require_fixtures() / name)
    meta = predictor.metadata
    assert meta.names == {0: "a", 1: "b", 2: "c"}
    assert meta.imgsz == (320, 320) and meta.stride == 32 and meta.batch == 1
    assert meta.layout == SHARED_EXPORTS[name] and meta.end2end is (SHARED_EXPORTS[name] == "end2end")
    assert meta.edgeseg_version == "ultralytics 8.4.190"
    assert meta.extra["head"] in ("Segment", "Segment26") and "date" in meta.extra  # kept, not interpreted
    assert predictor.backend.engine == _engine(name)


@pytest.mark.parametrize("name", sorted(SHARED_EXPORTS))
def test_reference_export_raw_outputs_equal_the_reference_models(name, outputs):
    """The same input through the reference's export (edgeseg's engine + layout mapping) and through the reference's
    own PyTorch model (recorded): every canonical output agrees to 1e-4 of its scale."""
    pytest.importorskip({"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch",
                         "ncnn": "ncnn"}[_engine(name)])
    predictor = load(require_fixtures() / name)
    raw = predictor.run_raw(outputs["input"])
    stem = stem_of(name)
    expected = from_ultralytics_layout(outputs[f"{stem}/output0"], outputs[f"{stem}/output1"])
    for key, value in expected.items():
        scale = float(np.abs(value).max())
        diff = float(np.abs(raw[key] - value).max())
        assert diff <= RTOL * scale, f"{name} {key}: max diff {diff:.3g} at scale {scale:.3g}"


@pytest.mark.parametrize("name", sorted(SHARED_EXPORTS))
def test_predict_val_and_benchmark_run_each_reference_export_without_flags(name, tmp_path):
    pytest.importorskip({"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch",
                         "ncnn": "ncnn"}[_engine(name)])
    from edgeseg.cli import main

    model = str(require_fixtures() / name)
    data = synth3_yaml(tmp_path)
    source = str(require_fixtures() / "synth3" / "images" / "val")
    for argv in (["predict", "--model", model, "--source", source, "--project", str(tmp_path / "p"), "--no-save"],
                 ["val", "--model", model, "--data", str(data), "--project", str(tmp_path / "v")],
                 ["benchmark", "--model", model, "--data", str(data)]):
        code = _exit_code(main, argv)
        assert code == 0, f"edgeseg {' '.join(argv)} exited {code}"
    assert json.loads((tmp_path / "p" / "exp" / "predictions.json").read_text()) == []  # 1-epoch model: scores ~0.004
    metrics = json.loads(next((tmp_path / "v").rglob("metrics.json")).read_text())
    assert metrics["model"] == model and metrics["engine"].startswith(_engine(name))
    assert 0 <= metrics["metrics/box/mAP50-95"] <= 1 and 0 <= metrics["metrics/seg/mAP50-95"] <= 1


def _exit_code(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as done:
        return done.code or 0


def _metadata_yaml(tmp_path: Path, edit) -> Path:
    """A copy of the reference's OpenVINO export with its metadata.yaml edited by `edit(dict)`."""
    source = require_fixtures() / "yolov8n-seg-user3-best_openvino_model"
    target = tmp_path / source.name
    shutil.copytree(source, target)
    data = yaml.safe_load((target / "metadata.yaml").read_text())
    edit(data)
    (target / "metadata.yaml").chmod(0o644)
    (target / "metadata.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def test_reference_metadata_has_the_measured_keys():
    data = yaml.safe_load((require_fixtures() / "yolov8n-seg-user3-best_openvino_model" / "metadata.yaml").read_text())
    assert set(data) == METADATA_KEYS


@pytest.mark.parametrize("edit", [
    lambda d: d.update(foo="bar"),
    lambda d: d.update(version="9.1.0", quantization_recipe={"scheme": "new"}, kpt_shape=None, dla=None),
    lambda d: d["args"].update(some_future_flag=True, quantize=16),
], ids=["unknown-key", "later-version", "unknown-arg"])
def test_unknown_keys_never_make_a_reference_file_unusable(tmp_path, edit):
    pytest.importorskip("openvino")
    predictor = load(_metadata_yaml(tmp_path, edit))
    assert predictor.metadata.names == {0: "a", 1: "b", 2: "c"}
    raw = predictor.run_raw(np.zeros((1, 3, 320, 320), np.float32))
    assert raw["scores"].shape == (1, 2100, 3)


@pytest.mark.parametrize("key,value", [
    ("stride", [8, 16]), ("stride", 0), ("batch", -3), ("imgsz", "abc"), ("imgsz", [320]), ("names", "nope"),
    ("channels", 1), ("end2end", "maybe"), ("task", "detect"), ("args", "dynamic"),
])
def test_a_needed_key_with_a_bad_value_is_an_error_naming_file_and_key(tmp_path, key, value):
    pytest.importorskip("openvino")
    target = _metadata_yaml(tmp_path, lambda d: d.update({key: value}))
    with pytest.raises(ModelFormatError) as err:
        load(target)
    message = str(err.value)
    assert str(target / "metadata.yaml") in message and (key in message or "segmentation" in message), message
    assert "\n" not in message


@pytest.mark.parametrize("value,expected", [
    ({"stride": "32", "imgsz": "[640, 480]", "names": "{0: 'person'}", "end2end": "True", "batch": "4"},
     dict(imgsz=(640, 480), layout="end2end", end2end=True, batch=4)),
    ({"stride": 32, "imgsz": 640, "names": ["person"], "args": {"nms": True}},
     dict(imgsz=(640, 640), layout="end2end", end2end=True)),
    ({"stride": 32, "imgsz": [320, 320], "names": {"0": "a"}, "args": {"dynamic": True, "half": True}},
     dict(dynamic=True, precision="fp16", layout="ultralytics")),
    ({"stride": 32, "imgsz": [320, 320], "names": {0: "a"}, "args": "{'quantize': 8, 'dynamic': False}"},
     dict(precision="int8")),
])
def test_reference_metadata_values_as_each_format_writes_them(value, expected):
    """Python reprs (ONNX metadata_props), YAML and JSON natives (metadata.yaml, TorchScript config.txt)."""
    meta = from_ultralytics({"task": "segment", **value}, "m")
    for key, want in expected.items():
        assert getattr(meta, key) == want, key


def test_a_yaml_alias_bomb_in_metadata_is_refused_without_expanding(tmp_path):
    pytest.importorskip("openvino")
    target = _metadata_yaml(tmp_path, lambda d: None)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    text = (target / "metadata.yaml").read_text() + bomb
    (target / "metadata.yaml").write_text(text)
    with pytest.raises(ModelFormatError, match="aliases"):
        load(target)
