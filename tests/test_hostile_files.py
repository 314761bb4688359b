"""Files that could be hostile: a checkpoint whose unpickling would run code is refused by every command that
takes one (the marker file never appears), and a damaged artifact or sidecar fails with a clear error naming the
file before any inference."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgeseg.runtime as rt
from edgeseg.runtime.backends import probe_all
from edgeseg.runtime.errors import ModelFormatError, UsageError
from edgeseg.runtime.metadata import sidecar_path


class _System:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Subprocess:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.call, (["touch", self.marker],))


class _Exec:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import builtins

        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


def _unknown_class_payload(marker) -> bytes:
    """REDUCE on a global from a module no allow-list knows; tests plant that module so importing it leaves the marker."""
    return b"(dp0\nVmodel\np1\ncedgeseg_test_evil\nEvil\np2\n(V" + str(marker).encode() + b"\ntp3\nRp4\ns."


PAYLOADS = {
    "os.system": lambda m: pickle.dumps({"model": _System(m)}, protocol=2),
    "subprocess": lambda m: pickle.dumps({"model": _Subprocess(m)}, protocol=2),
    "builtins.exec": lambda m: pickle.dumps({"model": _Exec(m)}, protocol=2),
    "unknown_class": _unknown_class_payload,
    "plain_pickle_file": None,  # not a zip at all: pickle bytes straight in the .pt
}


def _hostile_checkpoint(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    (tmp_path / "edgeseg_test_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nEvil = print\n")
    path = tmp_path / "evil.pt"
    if kind == "plain_pickle_file":
        path.write_bytes(pickle.dumps({"model": _System(marker)}, protocol=2))
        return path, marker
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", PAYLOADS[kind](marker))
        zf.writestr("archive/version", "3\n")
    return path, marker


def _commands(ckpt: Path, tmp_path: Path, data: Path) -> dict[str, list[str]]:
    image = tmp_path / "img.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    return {
        "predict": ["predict", "--model", str(ckpt), "--source", str(image), "--no-save", "--no-save-json"],
        "val": ["val", "--model", str(ckpt), "--data", str(data), "--project", str(tmp_path / "v")],
        "export": ["export", "--model", str(ckpt), "--format", "onnx", "--output", str(tmp_path / "out.onnx")],
        "train --pretrained": ["train", "--data", str(data), "--pretrained", str(ckpt), "--epochs", "1", "--imgsz", "64",
                               "--project", str(tmp_path / "t")],
        "train --resume": ["train", "--resume", str(ckpt)],
        "info": ["info", "--model", str(ckpt)],
    }


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("command", ["predict", "val", "export", "train --pretrained", "train --resume", "info"])
def test_hostile_checkpoint_is_refused_by_every_command(kind, command, tmp_path, synthetic_data, capsys, monkeypatch,
                                                         torch_or_skip):
    from edgeseg.cli import main

    monkeypatch.syspath_prepend(str(tmp_path))  # the planted module is importable: a loader that imports it fails

    ckpt, marker = _hostile_checkpoint(tmp_path, kind)
    code = main(_commands(ckpt, tmp_path, synthetic_data)[command])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "evil.pt" in err and ("refusing to load" in err or "not a PyTorch checkpoint" in err), err
    assert not marker.exists()
    assert not (tmp_path / "out.onnx").exists()


def test_hostile_checkpoint_in_a_fresh_interpreter_runs_nothing(tmp_path):
    """The same, end to end in a subprocess (no test-process state such as already-imported modules helps)."""
    ckpt, marker = _hostile_checkpoint(tmp_path, "os.system")
    out = subprocess.run([sys.executable, "-m", "edgeseg", "predict", "--model", str(ckpt), "--source", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "refusing" in out.stderr and not marker.exists()


TRUNCATIONS = {  # case -> (format, suffix of the file inside the artifact to damage, how)
    "onnx": ("onnx", "", "half"),
    "torchscript": ("torchscript", "", "half"),
    "openvino_bin": ("openvino", ".bin", "zeros"),
    "openvino_xml": ("openvino", ".xml", "half"),
    "tflite": ("tflite", "", "half"),
    "ncnn_bin": ("ncnn", ".ncnn.bin", "half"),
    "ncnn_param": ("ncnn", ".ncnn.param", "half"),
    "tfjs_shard": ("tfjs", "shard4of4.bin", "half"),
    "tfjs_json": ("tfjs", "model.json", "half"),
    "paddle_params": ("paddle", "model.pdiparams", "half"),
    "paddle_graph": ("paddle", "model.json", "half"),
}
ENGINE = {"tflite": "litert", "ncnn": "ncnn", "openvino": "openvino", "tfjs": "tfjs", "paddle": "paddle"}


def _copy_artifact(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst)
        return
    shutil.copy(src, dst)
    if sidecar_path(src).is_file():
        shutil.copy(sidecar_path(src), sidecar_path(dst))


@pytest.mark.parametrize("case", sorted(TRUNCATIONS))
def test_damaged_artifact_fails_at_load_naming_the_file(case, artifacts, tmp_path):
    from conftest import SUFFIX

    fmt, member, how = TRUNCATIONS[case]
    if fmt in ENGINE:
        probe = next(p for p in probe_all(fmt) if p.engine == ENGINE[fmt])
        if not probe.available:
            pytest.skip(f"{fmt} engine {probe.engine} not available here: {probe.reason}")
    dst = tmp_path / f"damaged{SUFFIX[fmt]}"
    _copy_artifact(artifacts(fmt).path, dst)
    target = next(p for p in sorted(dst.iterdir()) if p.name.endswith(member)) if member else dst
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2] if how == "half" else b"\0" * 100)
    with pytest.raises(ModelFormatError) as err:
        rt.load(dst)  # before any inference: loading alone must find the damage
    assert dst.name in str(err.value)


@pytest.mark.parametrize("field,value,message", [
    ("names", "cat", "names"), ("imgsz", [320], "imgsz"), ("imgsz", ["a", "b"], "imgsz"), ("stride", "big", "stride"),
    ("names", {"0": 5}, "names"), ("batch", -1, "batch"),
])
def test_sidecar_with_wrong_json_types_is_a_clear_error(field, value, message, artifacts, tmp_path):
    import onnx

    src = artifacts("onnx").path
    dst = tmp_path / "m.onnx"
    model = onnx.load(str(src))
    del model.metadata_props[:]  # the sidecar is then the only metadata
    onnx.save(model, str(dst))
    meta = json.loads(sidecar_path(src).read_text())
    sidecar_path(dst).write_text(json.dumps({**meta, field: value}))
    with pytest.raises(ModelFormatError, match=message) as err:
        rt.load(dst)
    assert "m.onnx" in str(err.value)  # the message names the artifact (or its sidecar)
    sidecar_path(dst).write_text("{not json")
    with pytest.raises((ModelFormatError, UsageError), match="m.json|m.onnx"):
        rt.load(dst)
