"""ncnn and CoreML targets: what can be checked on this Linux host. (ncnn parity against PyTorch is in
test_export_roundtrip.py with the other formats.)"""
from __future__ import annotations

import dataclasses
import json
import platform

import pytest

pytest.importorskip("torch")

import edgeseg.runtime as rt  # noqa: E402
from edgeseg.runtime.errors import ModelFormatError, NotAvailableError  # noqa: E402


def _needs(module: str):
    return pytest.importorskip(module, reason=f"{module} not installed (pip install 'edgeseg[export]')")


@pytest.mark.parametrize("kw,precision,max_mb", [({}, "fp32", 16), ({"half": True}, "fp16", 8),
                                                  ({"int8": True}, "int8", 4.5)])
def test_coreml_export_spec_and_metadata(artifacts, kw, precision, max_mb):
    _needs("coremltools")
    from edgeseg.converters.coreml_export import read_spec

    result = artifacts("coreml", **kw)
    assert result.path.suffix == ".mlpackage" and result.size_bytes < max_mb * 1e6
    assert "runtime parity not checked: CoreML prediction needs macOS" in result.report.summary() or \
        platform.system() == "Darwin"
    spec = read_spec(result.path)
    (image,) = spec.description.input
    assert image.name == "images" and image.type.WhichOneof("Type") == "imageType"
    assert (image.type.imageType.height, image.type.imageType.width) == (320, 320)
    outputs = {o.name: list(o.type.multiArrayType.shape) for o in spec.description.output}
    assert outputs == {"boxes": [1, 2100, 4], "scores": [1, 2100, 80], "mask_coeffs": [1, 2100, 32],
                       "protos": [1, 32, 80, 80]}
    embedded = json.loads(spec.description.metadata.userDefined["edgeseg"])
    assert embedded["precision"] == precision and embedded["imgsz"] == [320, 320] and len(embedded["names"]) == 80
    if precision == "int8":
        assert embedded["quantization"]["scheme"].startswith("int8 weights")


def test_coreml_spec_check_catches_a_mismatch(artifacts):
    _needs("coremltools")
    from edgeseg.converters.coreml_export import check_spec
    from edgeseg.converters.verify import ExportVerificationError

    result = artifacts("coreml")
    with pytest.raises(ExportVerificationError, match="input is 320x320, metadata says"):
        check_spec(result.path, dataclasses.replace(result.metadata, imgsz=(640, 640)))


@pytest.mark.skipif(platform.system() == "Darwin", reason="CoreML predicts on macOS")
def test_coreml_prediction_off_macos_is_a_clear_error(artifacts):
    _needs("coremltools")
    result = artifacts("coreml")
    with pytest.raises(NotAvailableError, match="CoreML prediction needs macOS"):
        rt.load(result.path)


def test_ncnn_truncated_weights_are_refused_before_inference(artifacts, tmp_path):
    _needs("pnnx")
    _needs("ncnn")
    import shutil

    result = artifacts("ncnn")
    broken = tmp_path / "broken_ncnn_model"
    shutil.copytree(result.path, broken)
    weights = broken / "model.ncnn.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    with pytest.raises(ModelFormatError, match="ncnn cannot load"):
        rt.load(broken)
    (broken / "model.ncnn.param").unlink()
    with pytest.raises(ModelFormatError, match="needs model.ncnn.param"):
        rt.load(broken)


def test_ncnn_export_options_and_layout(artifacts, checkpoint):
    _needs("pnnx")
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.runtime.errors import UsageError

    with pytest.raises(UsageError, match="--batch 1"):
        export(checkpoint, ExportOptions(format="ncnn", imgsz=(320, 320), batch=2))
    with pytest.raises(UsageError, match="--dynamic is not supported"):
        export(checkpoint, ExportOptions(format="ncnn", dynamic=True))
    result = artifacts("ncnn", half=True)
    assert sorted(p.name for p in result.path.iterdir()) == ["edgeseg.json", "model.ncnn.bin", "model.ncnn.param"]
    assert result.size_bytes < 8e6  # fp16 weight storage
    predictor = rt.load(result.path)
    assert predictor.backend.describe() == "ncnn/fp32" and predictor.metadata.precision == "fp16"
