"""`--format engine`: a clear error naming what to install when TensorRT's trtexec is absent (as on these hosts),
and, with a trtexec on PATH, the exact build command, the untouched engine file and its sidecar. The trtexec used
here is a stand-in script that records its arguments: TensorRT cannot be installed on either machine."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="export toolchain not installed (pip install 'edgeseg[export]')")

from edgeseg.runtime.metadata import sidecar_path  # noqa: E402

FAKE_TRTEXEC = """#!/bin/sh
printf '%s\\n' "$@" > "{log}"
[ -n "{fail}" ] && {{ echo "[E] Error[4]: [network.cpp::validate] unsupported"; exit 1; }}
for arg in "$@"; do case "$arg" in --saveEngine=*) printf 'PLANBYTES' > "${{arg#--saveEngine=}}";; esac; done
"""


def fake_trtexec(folder: Path, fail: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "trtexec"
    script.write_text(FAKE_TRTEXEC.format(log=folder / "args.txt", fail="1" if fail else ""))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder / "args.txt"


def test_without_tensorrt_the_error_says_what_to_install(checkpoint, tmp_path, capsys, monkeypatch):
    from edgeseg.cli import main

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    code = main(["export", "--model", str(checkpoint), "--format", "engine", "--output", str(tmp_path / "m.engine")])
    err = capsys.readouterr().err
    assert code == 2 and "trtexec" in err and "--target nvidia-gpu" in err and "NVIDIA's package index" in err
    assert not (tmp_path / "m.engine").exists()


def test_fp16_engine_is_built_by_trtexec_without_a_header(checkpoint, tmp_path, monkeypatch):
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    log = fake_trtexec(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    out = tmp_path / "m.engine"
    result = export(checkpoint, ExportOptions(format="engine", imgsz=(320, 320), half=True, output=out))
    args = log.read_text().split()
    assert args[0].startswith("--onnx=") and args[0].endswith(".onnx") and "--fp16" in args and "--int8" not in args
    assert out.read_bytes() == b"PLANBYTES"  # exactly trtexec's output: no JSON header in front
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["precision"] == "fp16" and meta["imgsz"] == [320, 320] and "trtexec" in result.report.note


def test_int8_engine_gets_a_calibration_cache(checkpoint, tmp_path, monkeypatch, synthetic_data):
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    log = fake_trtexec(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    export(checkpoint, ExportOptions(format="engine", imgsz=(320, 320), int8=True, data=str(synthetic_data), calib_n=4,
                                     output=tmp_path / "m.engine"))
    args = log.read_text().split()
    calib = next(a for a in args if a.startswith("--calib=")).split("=", 1)[1]
    assert "--int8" in args and "--fp16" in args and calib.endswith("calib.cache")


def test_a_failed_build_leaves_nothing(checkpoint, tmp_path, monkeypatch):
    from edgeseg.converters.engine_export import BuildError
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    fake_trtexec(tmp_path / "bin", fail=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    with pytest.raises(BuildError, match="network.cpp::validate"):
        export(checkpoint, ExportOptions(format="engine", imgsz=(320, 320), output=tmp_path / "out" / "m.engine"))
    assert not any((tmp_path / "out").iterdir())
