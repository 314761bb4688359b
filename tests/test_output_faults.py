"""Outputs under faults: a kill during export leaves no artifact or a complete, loadable one (never a partial file
at the final path); disk full and unwritable output directories give one clear error and leave nothing half-written
(a previous artifact or checkpoint at that path stays intact)."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import edgeseg.runtime as rt
from edgeseg.runtime.errors import OutputError
from edgeseg.runtime.metadata import sidecar_path

pytest.importorskip("onnx", reason="export toolchain not installed (pip install 'edgeseg[export]')")


def _export_cmd(checkpoint: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "edgeseg", "export", "--model", str(checkpoint), "--format", "openvino", "--imgsz", "320",
            "--output", str(out)]


def _assert_absent_or_complete(out: Path) -> bool:
    if not out.exists():
        return False
    predictor = rt.load(out)  # complete: it loads with its own sidecar and runs
    assert predictor.metadata.imgsz == (320, 320)
    predictor.predict(np.zeros((64, 64, 3), np.uint8))
    return True


@pytest.mark.slow
def test_kill_during_export_leaves_nothing_or_a_complete_artifact(checkpoint, tmp_path):
    t0 = time.perf_counter()
    done = subprocess.run(_export_cmd(checkpoint, tmp_path / "timed_openvino_model"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    duration = time.perf_counter() - t0
    staged_at_kill = 0
    for i, fraction in enumerate(sorted(np.random.default_rng(7).uniform(0.4, 1.0, 5))):  # seeded kill points
        out = tmp_path / f"m{i}_openvino_model"
        proc = subprocess.Popen(_export_cmd(checkpoint, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        staged_at_kill += any(s.name.startswith(".edgeseg-export-") for s in tmp_path.iterdir())
        _assert_absent_or_complete(out)
    assert staged_at_kill  # at least one kill landed while the export was writing
    done = subprocess.run(_export_cmd(checkpoint, tmp_path / "m0_openvino_model"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _assert_absent_or_complete(tmp_path / "m0_openvino_model")
    assert not [s for s in tmp_path.iterdir() if s.name.startswith(".edgeseg-export-")]  # killed runs' staging removed


def test_disk_full_during_export_keeps_the_previous_artifact(checkpoint, tmp_path, monkeypatch):
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.converters.registry import get_exporter

    out = tmp_path / "m.onnx"
    export(checkpoint, ExportOptions(format="onnx", imgsz=(320, 320), output=out))
    before = out.read_bytes(), sidecar_path(out).read_bytes()
    cls = get_exporter("onnx")

    def full_disk(self, ctx):
        (ctx.workdir / "partial.onnx").write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cls, "export", full_disk)
    with pytest.raises(OutputError, match="m.onnx: cannot write the export .No space left on device"):
        export(checkpoint, ExportOptions(format="onnx", imgsz=(320, 320), output=out))
    assert (out.read_bytes(), sidecar_path(out).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, sidecar_path(out).name])


def _unwritable_dir() -> Path:
    """A directory this process cannot create files in, even as root (a read-only or kernel filesystem)."""
    for candidate in (Path("/sys/edgeseg-test"), Path("/proc/edgeseg-test")):
        try:
            candidate.mkdir()
        except OSError:
            return candidate
        candidate.rmdir()
    pytest.skip("no unwritable directory on this host (running as root on writable filesystems only)")


@pytest.mark.parametrize("where", ["read_only", "parent_is_a_file"])
def test_unwritable_export_destination_is_one_clear_error(where, checkpoint, tmp_path, capsys):
    from edgeseg.cli import main

    if where == "read_only":
        out = _unwritable_dir() / "m.onnx"
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "m.onnx"
    code = main(["export", "--model", str(checkpoint), "--format", "onnx", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and str(out.parent) in err[-1], err
    assert not out.exists()


def test_disk_full_during_a_checkpoint_write_keeps_the_previous_checkpoint(seeded_model, tmp_path, monkeypatch):
    import torch

    from edgeseg.trainer import checkpoint as ckpt

    path = ckpt.save_checkpoint(tmp_path / "last.pt", seeded_model, {i: str(i) for i in range(80)}, imgsz=320)
    before = path.read_bytes()

    def full_disk(obj, fh, *args, **kwargs):
        fh.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OutputError, match="last.pt: cannot write checkpoint .No space left on device"):
        ckpt.save_checkpoint(path, seeded_model, {i: str(i) for i in range(80)}, imgsz=320)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_training_into_an_unwritable_project_is_one_clear_error(synthetic_data, capsys, torch_or_skip):
    from edgeseg.cli import main

    project = _unwritable_dir()
    code = main(["train", "--data", str(synthetic_data), "--epochs", "1", "--imgsz", "64", "--project", str(project)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and str(project) in err[-1] and err[-1].startswith("error:"), err


def test_predict_into_an_unwritable_project_is_one_clear_error(checkpoint, tmp_path, capsys):
    import cv2

    from edgeseg.cli import main

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    project = _unwritable_dir()
    code = main(["predict", "--model", str(checkpoint), "--source", str(tmp_path / "a.png"), "--project", str(project)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and str(project) in err[-1], err
