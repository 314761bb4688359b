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

    return export(checkpoint, ExportOptions(format=fmt, imgsz=(64, 64), output=output, check_outputs=False))


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


def test_a_new_output_without_the_formats_ending_is_refused_before_any_work(small_checkpoint, tmp_path):
    """`--output x` for OpenVINO once wrote a folder `x` that `predict` then could not recognise."""
    with pytest.raises(UsageError, match="must end in '_openvino_model'.*x_openvino_model"):
        _export(small_checkpoint, tmp_path / "x", "openvino")
    assert list(tmp_path.iterdir()) == []


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


# ---- every other command that writes: --project/--name, --out, --output pointed at ., a folder of user files, a file

def _cli(argv: list[str]) -> int:
    from edgeseg.cli import main

    return main(argv)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from edgeseg.runtime.datasets.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("tiny"), n_train=2, n_val=2, seed=11)


def _commands(kind: str, target: Path, data: Path, images: Path, model: Path) -> list[list[str]]:
    """The writing commands with their output aimed at `target` (a directory, or a file for kind 'file')."""
    images = str(images)
    # a run directory named like the user's file, or like their folder of photos, reused with --exist-ok
    project = ["--project", str(target.parent if kind == "file" else target),
               "--name", target.name if kind == "file" else "photos"]
    return [
        ["predict", "--model", str(model), "--source", images, *project],  # a new photos2/ beside theirs
        ["predict", "--model", str(model), "--source", images, *project, "--exist-ok"],
        ["val", "--model", str(model), "--data", str(data), *project, "--exist-ok"],
        ["calib", "build", "--data", str(data), "--out", str(target), "--imgsz", "64"],
        ["train", "--data", str(data), "--epochs", "1", "--max-batches", "1", "--imgsz", "64", "--batch", "2",
         "--workers", "0", "--no-plots", *project, "--exist-ok"],
    ]


@pytest.mark.parametrize("kind", ["dot", "user-folder", "file"])
def test_no_command_touches_a_file_it_did_not_create(kind, small_checkpoint, tiny_data, tmp_path, monkeypatch):
    """predict/val/train with --project/--name --exist-ok and calib build --out, aimed at the current directory, a
    folder of the user's files, or a user's file: each refuses (exit 2) or writes beside, never over, their files."""
    monkeypatch.setenv("EDGESEG_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "work"
    before = _user_files(folder)
    monkeypatch.chdir(folder)
    target = {"dot": Path("."), "user-folder": folder, "file": folder / "notes.txt"}[kind]
    data80 = tmp_path / "data80.yaml"  # the generated images with the test model's 80 class names
    data80.write_text(f"path: {tiny_data.parent}\ntrain: images/train\nval: images/val\nnames: {list(range(80))}\n")
    codes = []
    for argv in _commands(kind, target, data80, tiny_data.parent / "images" / "val", small_checkpoint):
        codes.append(_cli(argv))
        assert codes[-1] in (0, 2), (argv, codes[-1])
        after = _snapshot(folder)
        assert {k: after.get(k) for k in before} == before, f"{argv[0]} changed a user file"
    assert codes[0] == 0 and codes[1:] == [2, 2, 2, 2], codes  # written beside; every reuse or overwrite refused
    if kind != "file":
        assert (folder / "photos2" / "predictions.json").is_file()
