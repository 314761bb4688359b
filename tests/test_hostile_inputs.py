"""Careless and hostile inputs (tests/helpers/hostile_inputs.py) through every command: numbers out of range are a
one-line usage error naming the option or file (exit 2, no traceback, nothing written); bombs are refused before
they are expanded; strings from files reach the terminal as plain text; non-finite weights never pass."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.hostile_inputs import (BAD_SIDECAR_VALUES, CALIB_OPTIONS, EXPORT_OPTIONS, HOSTILE_NAMES, PREDICT_OPTIONS,
                                    TRAIN_OPTIONS, VAL_OPTIONS)

from edgeseg.cli import main
from edgeseg.runtime.datasets.synthetic import generate_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("hostile"), n_train=2, n_val=2, seed=5)


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _one_line_usage_error(argv: list[str], wanted: str, capsys, cwd: Path) -> None:
    before = _snapshot(cwd)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (argv, code, err)
    assert len(err) == 1 and wanted in err[0] and "Traceback" not in err[0] and "bug" not in err[0], (argv, err)
    assert _snapshot(cwd) == before, f"{argv} wrote files before refusing"


@pytest.mark.parametrize("tail,wanted", PREDICT_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_predict_option_out_of_range(tail, wanted, checkpoint, data, tmp_path, capsys):
    source = data.parent / "images" / "val"
    _one_line_usage_error(["predict", "--model", str(checkpoint), "--source", str(source), "--project",
                           str(tmp_path / "p"), *tail], wanted, capsys, tmp_path)


@pytest.mark.parametrize("tail,wanted", TRAIN_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_train_option_out_of_range(tail, wanted, data, tmp_path, capsys, torch_or_skip):
    _one_line_usage_error(["train", "--data", str(data), "--project", str(tmp_path / "r"), *tail], wanted, capsys,
                          tmp_path)


@pytest.mark.parametrize("tail,wanted", EXPORT_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_export_option_out_of_range(tail, wanted, checkpoint, tmp_path, capsys):
    _one_line_usage_error(["export", "--model", str(checkpoint), "--format", "onnx", "--output",
                           str(tmp_path / "m.onnx"), *tail], wanted, capsys, tmp_path)


@pytest.mark.parametrize("tail,wanted", VAL_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_val_option_out_of_range(tail, wanted, checkpoint, data, tmp_path, capsys):
    _one_line_usage_error(["val", "--model", str(checkpoint), "--data", str(data), "--project", str(tmp_path / "v"),
                           *tail], wanted, capsys, tmp_path)


@pytest.mark.parametrize("tail,wanted", CALIB_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_calib_option_out_of_range(tail, wanted, data, tmp_path, capsys):
    _one_line_usage_error(["calib", "build", "--data", str(data), "--out", str(tmp_path / "c"), *tail], wanted, capsys,
                          tmp_path)


@pytest.fixture(scope="module")
def onnx_artifact(artifacts):
    return artifacts("onnx")


@pytest.mark.parametrize("key,value,wanted", BAD_SIDECAR_VALUES, ids=lambda v: str(v)[:20])
def test_bad_sidecar_value_names_the_file_and_key(key, value, wanted, onnx_artifact, data, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(onnx_artifact.path, model)
    meta = json.loads(Path(str(onnx_artifact.path) + ".edgeseg.json").read_text())
    meta[key] = value
    Path(str(model) + ".edgeseg.json").write_text(json.dumps(meta))
    from edgeseg.runtime.errors import ModelFormatError
    from edgeseg.runtime.loader import load

    with pytest.raises(ModelFormatError, match=wanted):
        load(model, backend="onnxruntime")
    _one_line_usage_error(["predict", "--model", str(model), "--source", str(data.parent / "images" / "val"),
                           "--no-save", "--no-save-json"], "m.onnx", capsys, tmp_path)


@pytest.fixture(scope="module")
def hostile_checkpoint(seeded_model, tmp_path_factory) -> Path:
    """The seeded model whose class names would rewrite a terminal, forge an error line or crash a markup printer."""
    from edgeseg.trainer.checkpoint import save_checkpoint

    names = dict(enumerate(HOSTILE_NAMES.values()))
    names.update({i: f"c{i}" for i in range(len(names), 80)})
    return save_checkpoint(tmp_path_factory.mktemp("names") / "hostile.pt", seeded_model, names, imgsz=320)


def test_hostile_class_names_print_as_plain_text(hostile_checkpoint, tmp_path, capsys):
    """Every name is printed escaped and cut: no escape byte, no forged line, no markup error, results kept."""
    image = tmp_path / "scene.jpg"
    from edgeseg.runtime.datasets.synthetic import make_image

    cv2.imwrite(str(image), make_image(np.random.default_rng(1), 320, 320)[0])
    code = main(["predict", "--model", str(hostile_checkpoint), "--source", str(image), "--conf", "0.01",
                 "--project", str(tmp_path), "--name", "run", "--verbose",
                 *[t for i in range(len(HOSTILE_NAMES)) for t in ("--classes", str(i))]])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert code == 0, out[-2000:]
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert not any(line.startswith("error:") for line in out.splitlines())
    assert max(len(line) for line in out.splitlines()) < 3000
    assert (tmp_path / "run" / "predictions.json").is_file()


def test_val_table_in_a_pipe_prints_every_figure_in_full(checkpoint, data, tmp_path, capsys):
    data80 = tmp_path / "data80.yaml"  # the generated images, scored with the test model's 80 class names
    data80.write_text(f"path: {data.parent}\ntrain: images/train\nval: images/val\nnames: {list(range(80))}\n")
    assert main(["val", "--model", str(checkpoint), "--data", str(data80), "--project", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and "mask mAP50-95" in out
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("all"))
    assert len([c for c in row.split("│") if c.strip()]) == 9, row


def test_nan_weights_are_refused_by_every_command(seeded_model, data, tmp_path, capsys):
    import torch

    from edgeseg.trainer.checkpoint import save_checkpoint

    broken = {k: v.clone() for k, v in seeded_model.state_dict().items()}
    key = next(k for k, v in broken.items() if v.is_floating_point() and v.ndim == 4)
    broken[key][0, 0, 0, 0] = float("nan")
    model = type(seeded_model)(seeded_model.cfg)
    model.load_state_dict(broken)
    path = save_checkpoint(tmp_path / "nan.pt", model, {i: f"c{i}" for i in range(80)}, imgsz=320)
    for argv in (["predict", "--model", str(path), "--source", str(data.parent / "images" / "val")],
                 ["val", "--model", str(path), "--data", str(data)],
                 ["export", "--model", str(path), "--format", "onnx", "--output", str(tmp_path / "x.onnx")]):
        _one_line_usage_error(argv, "NaN or Inf", capsys, tmp_path)
    assert torch.isnan(broken[key]).any()


def test_checkpoint_compression_bomb_is_refused_before_unpacking(checkpoint, tmp_path, capsys):
    """A deflated member that claims to unpack 1000x its stored size is refused from the zip directory alone."""
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(checkpoint) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        root = src.namelist()[0].split("/")[0]
        dst.writestr(f"{root}/data/9999", b"\x00" * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
    _one_line_usage_error(["predict", "--model", str(bomb), "--source", str(tmp_path)], "compression bomb", capsys,
                          tmp_path)


def test_export_verification_fails_on_non_finite_outputs(checkpoint, tmp_path, monkeypatch):
    """A graph that outputs NaN is never written, even when the PyTorch model agrees that it is NaN."""
    from edgeseg.converters import verify
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    real = verify.load

    def nan_outputs(*args, **kwargs):
        predictor = real(*args, **kwargs)
        run_raw = predictor.run_raw
        predictor.run_raw = lambda x: {k: np.full_like(v, np.nan) for k, v in run_raw(x).items()}
        return predictor

    monkeypatch.setattr(verify, "load", nan_outputs)
    with pytest.raises(verify.ExportVerificationError, match="NaN or Inf"):
        export(checkpoint, ExportOptions(format="onnx", imgsz=(320, 320), output=tmp_path / "nan.onnx"))
    assert not (tmp_path / "nan.onnx").exists()


def test_training_stops_at_the_first_non_finite_loss(data, tmp_path, monkeypatch, torch_or_skip):
    """The loss turns NaN in epoch 2: a clear error, and epoch 1's last.pt is what remains (loadable, finite)."""
    from edgeseg.runtime.errors import EdgesegError
    from edgeseg.trainer import loss as loss_module
    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.checkpoint import load_checkpoint
    from edgeseg.trainer.engine import Trainer

    calls = {"n": 0}
    real_call = loss_module.SegmentationLoss.__call__

    def poisoned(self, preds, batch):
        calls["n"] += 1
        total, parts = real_call(self, preds, batch)
        return (total * float("nan"), parts * float("nan")) if calls["n"] > 1 else (total, parts)

    monkeypatch.setattr(loss_module.SegmentationLoss, "__call__", poisoned)
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    args = TrainArgs(data=str(data), epochs=2, imgsz=64, batch=2, workers=0, max_batches=1, plots=False,
                     project=str(tmp_path), name="run", warmup_epochs=0)
    with pytest.raises(EdgesegError, match="epoch 2, batch 1: the loss is not finite.*last.pt"):
        Trainer(args, log=lambda m: None).train()
    loaded = load_checkpoint(tmp_path / "run" / "weights" / "last.pt")
    assert loaded.checkpoint["epoch"] == 0


def test_a_second_resume_of_one_run_refuses(data, tmp_path, monkeypatch, torch_or_skip):
    from edgeseg.runtime.errors import UsageError
    from edgeseg.trainer.run_io import lock_run_dir

    run = tmp_path / "run"
    run.mkdir()
    held = lock_run_dir(run)
    try:
        with pytest.raises(UsageError, match="another edgeseg process is training"):
            lock_run_dir(run)
    finally:
        held.close()
    lock_run_dir(run).close()  # free again once the first process is done
