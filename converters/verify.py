"""Every export ends here: the artifact is loaded through the runtime and checked against the PyTorch model before
anything is written. FP32/FP16: raw outputs on a few images (cosine per output). INT8: what users see, on real
images: the detections and masks after the shared post-processing, scored against the FP32 model's (agreement
mAP), plus raw outputs on the anchors that survive the score threshold (over every anchor the near-zero
background coefficients dominate the cosine and say nothing). Non-finite outputs always fail. A failed check
fails the export and names the measurement and by how much."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.datasets.synthetic import make_image
from edgeseg.runtime.decode import RAW_KEYS
from edgeseg.runtime.errors import EdgesegError
from edgeseg.runtime.letterbox import letterbox, to_input_tensor
from edgeseg.runtime.loader import load

COSINE_MIN = {"fp32": 0.9999, "fp16": 0.999}  # raw-output checks (INT8 weight-only graphs take the FP16 bound)
INT8_MIN_AGREEMENT = 0.7  # box and mask agreement mAP50-95 with the FP32 model: a broken quantisation scores ~0
INT8_MIN_ANCHOR_COSINE = 0.9  # scores/coefficients on the FP32 model's best anchors, when it has no detection at all
# Agreement needs enough FP32 detections to mean something (with 2, one flip moves it by 0.5): a weak model with
# fewer than MIN_DETECTIONS at CONFIDENT is judged on its detections down to LOW_CONF, and with fewer there too on
# its TOP_PER_IMAGE best detections of each image. Near such low scores detections flip in and out with any
# perturbation, so agreement is lower for every quantisation (yolov8n person: 1.00 at 0.25, 0.85-0.89 at 0.05; the
# reference's own OpenVINO INT8 of a 50-epoch YOLO26n: mask 0.69-0.73 at 0.05) while a broken one still scores ~0
MIN_DETECTIONS, TOP_PER_IMAGE = 20, 3
LOW_CONF, INT8_MIN_LOW_AGREEMENT = 0.05, 0.5
CONFIDENT = 0.25  # the anchors and detections that matter: the usual deployment threshold
TOP_ANCHORS = 100  # when fewer anchors are confident, the FP32 model's best ones stand in


class ExportVerificationError(EdgesegError):
    """The exported artifact does not reproduce the PyTorch model's outputs closely enough."""


@dataclass
class VerifyReport:
    engine: str
    shapes: list[tuple[int, ...]]
    cosine: dict[str, float] = field(default_factory=dict)
    max_box_px: float = 0.0
    note: str = ""  # set instead of the figures when the engine cannot run here (e.g. CoreML off macOS)
    agreement: dict[str, float] = field(default_factory=dict)  # INT8: box/mask agreement mAP with FP32
    images: str = ""  # INT8: what the check ran on
    agreement_on: str = ""  # INT8: which FP32 detections the agreement was scored on

    def summary(self) -> str:
        if self.note:
            return f"{self.engine}: {self.note}"
        cos = ", ".join(f"{k} {v:.6f}" for k, v in self.cosine.items())
        if self.agreement:
            agree = ", ".join(f"{k} {v:.3f}" for k, v in self.agreement.items())
            return (f"verified on {self.engine} against the FP32 model on {self.images}: agreement mAP50-95 {agree} "
                    f"(on {self.agreement_on}); cosine on confident anchors {cos}")
        return f"verified on {self.engine} at {self.shapes}: cosine {cos}; max box error {self.max_box_px:.3g} px"


def probe_batches(imgsz: tuple[int, int], batch: int, dynamic: bool, n_images: int = 3) -> list[np.ndarray]:
    """Deterministic synthetic photos, letterboxed: one batch at the export size (and a rectangular one if dynamic)."""
    rng = np.random.default_rng(1234)
    images = [make_image(rng, 360 + 40 * i, 480)[0] for i in range(max(n_images, batch))]
    batches = [to_input_tensor([letterbox(img, imgsz)[0] for img in images[:batch]])]
    if dynamic:
        rect = [letterbox(img, imgsz, rect=True)[0] for img in images[:1]]
        batches.append(to_input_tensor(rect))
        batches.append(to_input_tensor([letterbox(img, imgsz)[0] for img in images[:2]]))
    return batches


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else float(np.array_equal(a, b))


def _torch_raw(model: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: v.numpy() for k, v in model.eval()(torch.from_numpy(x)).items()}


def check_finite(path: Path, raw: dict[str, np.ndarray]) -> None:
    bad = [k for k in RAW_KEYS if not np.isfinite(raw[k]).all()]
    if bad:
        raise ExportVerificationError(f"{path.name}: the exported model outputs NaN or Inf in {bad} (non-finite "
                                      f"weights or an overflowing graph); the artifact was not written")


def verify_artifact(path: Path, model: torch.nn.Module, engine: str, precision: str, imgsz, batch: int,
                    dynamic: bool) -> VerifyReport:
    """Compare canonical raw outputs of artifact vs model; raise ExportVerificationError below the bound."""
    predictor = load(path, backend=engine, options=BackendOptions())
    report = VerifyReport(predictor.backend.describe(), [])
    threshold = COSINE_MIN.get(precision, COSINE_MIN["fp16"])
    for x in probe_batches(tuple(imgsz), batch, dynamic):
        report.shapes.append(tuple(x.shape))
        got = predictor.run_raw(x)
        check_finite(path, got)
        want = _torch_raw(model, x)
        check_finite(Path("the PyTorch model"), want)
        for key in RAW_KEYS:
            if got[key].shape != want[key].shape:
                raise ExportVerificationError(f"{path}: output {key} has shape {got[key].shape}, expected {want[key].shape}")
            c = cosine(got[key], want[key])
            report.cosine[key] = min(c, report.cosine.get(key, 1.0))
        report.max_box_px = max(report.max_box_px, float(np.abs(got["boxes"] - want["boxes"]).max()))
    bad = {k: v for k, v in report.cosine.items() if not v >= threshold}  # NaN fails too
    if bad:
        raise ExportVerificationError(
            f"{path.name}: exported outputs differ from the PyTorch model (cosine {bad} < {threshold} for "
            f"{precision}); the artifact was not written")
    return report
