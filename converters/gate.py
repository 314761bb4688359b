"""The parity gate: an artifact and its source checkpoint are validated through the same runtime code on the same
split, and compared on box/mask mAP, on agreement mAP (the artifact's predictions scored against the
checkpoint's confident predictions as ground truth: meaningful even for a lightly trained model) and on speed.
A drop beyond the precision's tolerance fails the gate."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeseg.runtime.errors import EdgesegError
from edgeseg.runtime.metrics import Evaluator, GroundTruth, SegmentMetrics
from edgeseg.runtime.validate import validate

TOLERANCE_POINTS = {"fp32": 0.1, "fp16": 0.3, "bf16": 0.3}  # mAP points (0-100 scale); INT8 takes --max-drop
AGREEMENT_CONF = 0.25  # the reference's predictions at the usual deployment threshold become the ground truth


class ParityGateError(EdgesegError):
    """An artifact scores worse than its checkpoint by more than the tolerance."""

    exit_code = 3


@dataclass
class Evaluation:
    """One model validated on one split, with its per-image predictions kept for agreement scoring."""

    label: str
    engine: str
    metrics: SegmentMetrics
    predictions: dict[str, tuple] = field(default_factory=dict)
    seconds: float = 0.0


def evaluate(predictor, data, split: str = "val", label: str = "", imgsz=None) -> Evaluation:
    predictions: dict[str, tuple] = {}

    def keep(path, res) -> None:
        predictions[str(path)] = (res.boxes, res.scores, res.class_ids, res.instance_masks)

    t0 = time.perf_counter()
    metrics = validate(predictor, data, split, imgsz=imgsz, on_result=keep)
    return Evaluation(label, predictor.backend.describe(), metrics, predictions, time.perf_counter() - t0)


def agreement(reference: Evaluation, candidate: Evaluation) -> tuple[float, float]:
    """(box, mask) mAP50-95 of the candidate against the reference's predictions with score >= AGREEMENT_CONF."""
    return agreement_of(reference.predictions, candidate.predictions, reference.metrics.names)


def agreement_of(reference: dict[str, tuple], candidate: dict[str, tuple], names: dict[int, str],
                 conf: float = AGREEMENT_CONF) -> tuple[float, float]:
    """The same on raw prediction maps {image key: (boxes, scores, class_ids, InstanceMasks)}; `conf` lower than
    the deployment threshold measures a weak model on enough of its detections."""
    evaluator = Evaluator(names)
    for key, (boxes, scores, classes, masks) in reference.items():
        sel = np.flatnonzero(scores >= conf)
        ref_masks = masks.select(sel)
        gt = GroundTruth(boxes[sel], classes[sel], ref_masks, ref_masks.areas(), np.zeros(len(sel), dtype=bool))
        cb, cs, cc, cm = candidate[key]
        evaluator.add(gt, cb, cs, cc, cm)
    result = evaluator.result()
    return float(result.box.map), float(result.seg.map)


def letterboxed_detections(raw: dict[str, np.ndarray], shape: tuple[int, int], names: dict[int, str]) -> tuple:
    """Validation-style detections (boxes, scores, classes, masks) of one already letterboxed image, which is its
    own original: how quantisers and INT8 verification compare an artifact with the FP32 model on real pictures."""
    from edgeseg.runtime.letterbox import letterbox_geometry
    from edgeseg.runtime.postprocess import VAL_CONFIG, postprocess

    (res,) = postprocess(raw, [letterbox_geometry(shape, shape)], names, VAL_CONFIG)
    return res.boxes, res.scores, res.class_ids, res.instance_masks


@dataclass
class GateRow:
    """One line of the parity table; mAP figures on the 0-100 scale."""

    format: str
    precision: str
    engine: str
    size_mb: float
    box_map50: float
    box_map: float
    mask_map50: float
    mask_map: float
    d_box: float
    d_mask: float
    agree_box: float
    agree_mask: float
    pre_ms: float
    infer_ms: float
    post_ms: float
    tolerance: float
    passed: bool
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _points(x: float) -> float:
    return round(100.0 * x, 2)


def compare(reference: Evaluation, candidate: Evaluation, fmt: str, precision: str, size_bytes: int,
            tolerance: float, note: str = "") -> GateRow:
    """Δ = candidate - reference (negative is a drop); the gate fails when a drop exceeds the tolerance."""
    r, c = reference.metrics, candidate.metrics
    d_box, d_mask = _points(c.box.map - r.box.map), _points(c.seg.map - r.seg.map)
    agree_box, agree_mask = agreement(reference, candidate)
    sp = c.speed
    passed = -d_box <= tolerance and -d_mask <= tolerance
    return GateRow(fmt, precision, candidate.engine, round(size_bytes / 1e6, 2), _points(c.box.map50), _points(c.box.map),
                   _points(c.seg.map50), _points(c.seg.map), d_box, d_mask, round(agree_box, 3), round(agree_mask, 3),
                   round(sp.get("preprocess", 0), 2), round(sp.get("inference", 0), 2), round(sp.get("postprocess", 0), 2),
                   tolerance, passed, note)


def reference_row(reference: Evaluation, size_bytes: int) -> GateRow:
    m, sp = reference.metrics, reference.metrics.speed
    return GateRow("checkpoint", "fp32", reference.engine, round(size_bytes / 1e6, 2), _points(m.box.map50),
                   _points(m.box.map), _points(m.seg.map50), _points(m.seg.map), 0.0, 0.0, 1.0, 1.0,
                   round(sp.get("preprocess", 0), 2), round(sp.get("inference", 0), 2),
                   round(sp.get("postprocess", 0), 2), 0.0, True, "reference")


HEADER = ("format", "precision", "engine", "size MB", "box mAP50", "box mAP50-95", "mask mAP50", "mask mAP50-95",
          "Δ box", "Δ mask", "agree box", "agree mask", "pre ms", "infer ms", "post ms", "gate")


def row_cells(row: GateRow) -> list[str]:
    gate = {"reference": "ref", "as exported": "–"}.get(row.note, "pass" if row.passed else f"FAIL (> {row.tolerance})")
    return [row.format, row.precision, row.engine, f"{row.size_mb:.1f}", f"{row.box_map50:.2f}", f"{row.box_map:.2f}",
            f"{row.mask_map50:.2f}", f"{row.mask_map:.2f}", f"{row.d_box:+.2f}", f"{row.d_mask:+.2f}",
            f"{row.agree_box:.3f}", f"{row.agree_mask:.3f}", f"{row.pre_ms:.1f}", f"{row.infer_ms:.1f}",
            f"{row.post_ms:.1f}", gate]


def markdown_table(rows: list[GateRow]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def check(rows: list[GateRow], origin: str | Path = "") -> None:
    failed = [r for r in rows if not r.passed]
    if failed:
        detail = "; ".join(f"{r.format}/{r.precision}: Δ box {r.d_box:+.2f}, Δ mask {r.d_mask:+.2f} "
                           f"(tolerance {r.tolerance})" for r in failed)
        raise ParityGateError(f"{origin}: parity gate failed: {detail}")
