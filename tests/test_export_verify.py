"""`edgeseg export --verify` judges the export, not a change of input shape or head: the checkpoint it is compared
with runs as the artifact's metadata says the artifact runs (rectangular inputs for a dynamic export, the
one-to-one head for an --end2end one). Compared with a square-input checkpoint, the default (dynamic) ONNX export
of the person model trained on real photos showed box mAP50 3.37 against 3.06: a shape change counted as export
error."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx", reason="ONNX export toolchain not installed (pip install 'edgeseg[export]')")

from helpers.reference import require_fixtures  # noqa: E402

PERSON_MODEL = str(Path(__file__).parent / "fixtures" / "models" / "person-yolov8n-seg.pt")


def _table_rows(text: str) -> dict[str, list[str]]:
    """The --verify table's rows by their first column (format name, or 'checkpoint')."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 10 and cells[0] not in ("format", "") and not cells[0].startswith("---"):
            rows[cells[0]] = cells
    return rows


@pytest.mark.slow
def test_verify_of_a_default_dynamic_export_matches_the_checkpoint_at_the_same_shapes(coco200_person, tmp_path,
                                                                                      capsys):
    from edgeseg.cli import main

    out = tmp_path / "person.onnx"
    code = main(["export", "--model", PERSON_MODEL, "--format", "onnx", "--imgsz", "320", "--output", str(out),
                 "--data", str(coco200_person / "data.yaml"), "--verify"])
    captured = capsys.readouterr()
    text = captured.out + captured.err  # the CLI's tables go to stderr, its results to stdout
    assert code == 0, text
    rows = _table_rows(text)
    assert {"checkpoint", "onnx"} <= set(rows), text
    checkpoint, artifact = rows["checkpoint"], rows["onnx"]
    assert "dynamic" in text  # the default ONNX export keeps a symbolic input size
    for column in range(4, 8):  # box mAP50, box mAP50-95, mask mAP50, mask mAP50-95: FP32 gives the same detections
        assert abs(float(artifact[column]) - float(checkpoint[column])) <= 0.02, (checkpoint, artifact)


def test_verify_of_an_end2end_export_runs_the_checkpoints_one_to_one_head(tmp_path, monkeypatch, capsys):
    """The YOLO26 fixture exported with --end2end: the reference evaluation is asked for the one-to-one head and
    for the artifact's own input handling (what the table then compares)."""
    from edgeseg.cli import main
    from edgeseg.converters import report

    calls = []
    real = report.reference_evaluation

    def spy(source, data, imgsz, end2end=False, dynamic=False):
        calls.append({"end2end": end2end, "dynamic": dynamic, "imgsz": tuple(imgsz)})
        return real(source, data, imgsz, end2end, dynamic)

    monkeypatch.setattr(report, "reference_evaluation", spy)
    fixtures = require_fixtures()
    out = tmp_path / "e2e.onnx"
    code = main(["export", "--model", str(fixtures / "yolo26n-seg-user3-best.pt"), "--format", "onnx", "--end2end",
                 "--imgsz", "96", "--output", str(out), "--data", str(fixtures / "synth3" / "data.yaml"), "--verify"])
    assert code == 0, capsys.readouterr()
    assert calls == [{"end2end": True, "dynamic": True, "imgsz": (96, 96)}]


def test_with_head_copies_and_refuses_a_model_without_one_to_one_head():
    from edgeseg.runtime.errors import UsageError
    from edgeseg.trainer.checkpoint import load_checkpoint

    fixtures = require_fixtures()
    yolo26 = load_checkpoint(fixtures / "yolo26n-seg-user3-best.pt").model
    switched = yolo26.with_head(end2end=True)
    assert switched.end2end and not yolo26.end2end and switched is not yolo26
    v8 = load_checkpoint(fixtures / "yolov8n-seg-user3-best.pt").model
    with pytest.raises(UsageError, match="one-to-one head"):
        v8.with_head(end2end=True)
