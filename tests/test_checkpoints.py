"""Checkpoints: our format round-trips; Ultralytics-layout pickles import exactly; hostile files run nothing."""
from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeseg.runtime.errors import ModelFormatError, UnsafeFileError  # noqa: E402
from edgeseg.trainer.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from helpers.ultralytics_layout import write_ultralytics_checkpoint  # noqa: E402


def _outputs(model, x):
    with torch.no_grad():
        return {k: v.numpy() for k, v in model.eval()(x).items()}


@pytest.fixture(scope="module")
def probe_input():
    return torch.from_numpy(np.random.default_rng(3).random((1, 3, 256, 320), dtype=np.float32))


def test_edgeseg_checkpoint_round_trip(seeded_model, probe_input, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", seeded_model, {i: f"c{i}" for i in range(80)}, imgsz=320)
    loaded = load_checkpoint(path)
    assert loaded.source == "edgeseg"
    assert loaded.metadata.names[5] == "c5" and loaded.metadata.imgsz == (320, 320)
    ref, got = _outputs(seeded_model, probe_input), _outputs(loaded.model, probe_input)
    for key in ref:
        np.testing.assert_array_equal(ref[key], got[key])
    # loadable by plain torch with weights_only=True: no custom classes inside
    assert torch.load(path, weights_only=True)["format"].startswith("edgeseg.checkpoint")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("use_ema", [False, True])
def test_ultralytics_layout_import_matches_raw_outputs(seeded_model, probe_input, tmp_path, use_ema):
    names = {i: f"name{i}" for i in range(80)}
    path = write_ultralytics_checkpoint(seeded_model, tmp_path / "yolov8n-seg.pt", names, use_ema=use_ema)
    loaded = load_checkpoint(path)
    assert loaded.source == "ultralytics"
    assert loaded.model.cfg.scale == "n" and loaded.metadata.names == names
    # the reference stores fp16 weights: compare against our model with the same fp16-rounded weights
    rounded = type(seeded_model)(seeded_model.cfg)
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in seeded_model.state_dict().items()})
    ref, got = _outputs(rounded, probe_input), _outputs(loaded.model, probe_input)
    for key in ref:
        assert np.abs(ref[key] - got[key]).max() <= 1e-4, key


def test_ultralytics_custom_class_count(torch_or_skip, tmp_path):
    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.model import build_model
    from dataclasses import replace

    model = build_model(replace(config_from_name("yolov8s-seg"), nc=3), seed=1)
    path = write_ultralytics_checkpoint(model, tmp_path / "best.pt", {0: "a", 1: "b", 2: "c"})
    loaded = load_checkpoint(path)
    assert loaded.model.cfg.nc == 3 and loaded.model.cfg.scale == "s"
    assert loaded.metadata.names == {0: "a", 1: "b", 2: "c"}


@pytest.mark.parametrize("task_class,head,word", [("DetectionModel", "Detect", "detect"),
                                                  ("ClassificationModel", "Classify", "classify")])
def test_other_task_checkpoint_is_refused(seeded_model, tmp_path, task_class, head, word):
    path = write_ultralytics_checkpoint(seeded_model, tmp_path / "other.pt", task_class=task_class, head_name=head)
    with pytest.raises(ModelFormatError, match=word):
        load_checkpoint(path)


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExecsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def _zip_checkpoint(path, payload):
    """A torch-style zip whose data.pkl is `payload` (no torch.save involved)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    return path


@pytest.mark.parametrize("make", [
    lambda m: pickle.dumps({"model": _RunsCommand(m)}, protocol=2),
    lambda m: pickle.dumps({"model": _ExecsCode(m)}, protocol=2),
    # the same attack hidden behind an ultralytics-looking global, which sends it to the importer
    lambda m: b"\x80\x02cultralytics.nn.tasks\nSegmentationModel\n)\x81" + pickle.dumps(_RunsCommand(m), protocol=2)[2:-1] + b"b.",
])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, make, torch_or_skip):
    marker = tmp_path / "pwned"
    path = _zip_checkpoint(tmp_path / "evil.pt", make(marker))
    with pytest.raises((UnsafeFileError, ModelFormatError)) as err:
        load_checkpoint(path)
    assert "evil.pt" in str(err.value)
    assert not marker.exists()


def test_malicious_pickle_through_the_cli_runs_nothing(tmp_path, torch_or_skip, capsys):
    from edgeseg.cli import main

    marker = tmp_path / "pwned"
    path = _zip_checkpoint(tmp_path / "evil.pt", pickle.dumps({"model": _RunsCommand(marker)}, protocol=2))
    image = tmp_path / "img.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    code = main(["predict", "--model", str(path), "--source", str(image), "--no-save", "--no-save-json"])
    assert code == 2 and not marker.exists()
    assert "refusing to load" in capsys.readouterr().err


def test_truncated_and_non_zip_checkpoints_give_clear_errors(seeded_model, tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", seeded_model, {i: str(i) for i in range(80)})
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="cut.pt"):
        load_checkpoint(cut)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelFormatError, match="not a PyTorch checkpoint"):
        load_checkpoint(text)
