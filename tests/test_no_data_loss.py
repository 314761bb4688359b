"""No command deletes or changes a file it did not create: `export --output` pointed at `.`, at a folder of user
files, at a user's file and at an earlier export. (`export --output .` once deleted the current directory.)"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edgeseg.runtime.errors import UsageError


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "photos").mkdir(exist_ok=True)
    (folder / "photos" / "a.jpg").write_bytes(os.urandom(256))
    (folder / "other.onnx.bak").write_bytes(b"keep me")
    return _snapshot(folder)


def _export(checkpoint, output, fmt: str = "onnx"):
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    return export(checkpoint, ExportOptions(format=fmt, imgsz=(64, 64), output=output, verify=False))


@pytest.fixture()
def small_checkpoint(checkpoint):
    pytest.importorskip("onnx", reason="export toolchain not installed (pip install 'edgeseg[export]')")
    return checkpoint


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_output_dot_puts_the_artifact_inside_the_current_directory(small_checkpoint, tmp_path, monkeypatch, fmt):
    if fmt == "openvino":
        pytest.importorskip("openvino")
    before = _user_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = _export(small_checkpoint, Path("."), fmt)
    after = _snapshot(tmp_path)
    assert {k: after[k] for k in before} == before, "a user file changed"
    assert result.path.parent.resolve() == tmp_path.resolve() and result.path.name.startswith("model")


def test_output_folder_of_user_files_keeps_every_file(small_checkpoint, tmp_path):
    folder = tmp_path / "exports"
    before = _user_files(folder)
    result = _export(small_checkpoint, folder)
    assert result.path == folder / "model.onnx" and result.path.is_file()
    after = _snapshot(folder)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"model.onnx", "model.onnx.edgeseg.json"}


@pytest.mark.parametrize("kind", ["user-file", "symlink"])
def test_a_path_that_is_not_an_artifact_of_the_format_is_refused_untouched(small_checkpoint, tmp_path, kind):
    _user_files(tmp_path)
    target = tmp_path / "notes.txt"
    if kind == "symlink":
        target = tmp_path / "link.onnx"
        target.symlink_to(tmp_path / "notes.txt")
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError, match="refusing to replace"):
        _export(small_checkpoint, target)
    assert _snapshot(tmp_path) == before and (kind != "symlink" or target.is_symlink())


def test_a_user_folder_named_like_an_artifact_receives_the_artifact_inside(small_checkpoint, tmp_path):
    folder = tmp_path / "photos.onnx"
    before = _user_files(folder)
    result = _export(small_checkpoint, folder)
    assert result.path == folder / "model.onnx"
    after = _snapshot(folder)
    assert {k: after[k] for k in before} == before


def test_an_earlier_export_of_the_same_format_is_replaced_and_nothing_else(small_checkpoint, tmp_path):
    before = _user_files(tmp_path)
    first = _export(small_checkpoint, tmp_path / "m.onnx")
    old = first.path.read_bytes()
    second = _export(small_checkpoint, tmp_path / "m.onnx")
    assert second.path == first.path and second.path.stat().st_size > 0
    assert second.path.read_bytes() == old  # same checkpoint and options: the same graph, replaced in place
    after = _snapshot(tmp_path)
    assert {k: after[k] for k in before} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".edgeseg-export-")]
