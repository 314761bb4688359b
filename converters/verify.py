"""Every export ends here: the artifact is loaded through the runtime and its raw outputs are compared with the
PyTorch model's on a few images. A failed check fails the export."""
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

# INT8 is judged by the mAP gate on real images; on the synthetic probes this only catches broken graphs.
COSINE_MIN = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.85}


class ExportVerificationError(EdgesegError):
    """The exported artifact does not reproduce the PyTorch model's outputs closely enough."""


@dataclass
class VerifyReport:
    engine: str
    shapes: list[tuple[int, ...]]
    cosine: dict[str, float] = field(default_factory=dict)
    max_box_px: float = 0.0
    note: str = ""  # set instead of the figures when the engine cannot run here (e.g. CoreML off macOS)

    def summary(self) -> str:
        if self.note:
            return f"{self.engine}: {self.note}"
        cos = ", ".join(f"{k} {v:.6f}" for k, v in self.cosine.items())
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


def verify_artifact(path: Path, model: torch.nn.Module, engine: str, precision: str, imgsz, batch: int,
                    dynamic: bool) -> VerifyReport:
    """Compare canonical raw outputs of artifact vs model; raise ExportVerificationError below the bound."""
    predictor = load(path, backend=engine, options=BackendOptions())
    report = VerifyReport(predictor.backend.describe(), [])
    threshold = COSINE_MIN.get(precision, COSINE_MIN["fp16"])
    for x in probe_batches(tuple(imgsz), batch, dynamic):
        report.shapes.append(tuple(x.shape))
        got = predictor.run_raw(x)
        with torch.no_grad():
            want = {k: v.numpy() for k, v in model.eval()(torch.from_numpy(x)).items()}
        for key in RAW_KEYS:
            if got[key].shape != want[key].shape:
                raise ExportVerificationError(f"{path}: output {key} has shape {got[key].shape}, expected {want[key].shape}")
            c = cosine(got[key], want[key])
            report.cosine[key] = min(c, report.cosine.get(key, 1.0))
        report.max_box_px = max(report.max_box_px, float(np.abs(got["boxes"] - want["boxes"]).max()))
    bad = {k: v for k, v in report.cosine.items() if v < threshold}
    if bad:
        raise ExportVerificationError(
            f"{path.name}: exported outputs differ from the PyTorch model (cosine {bad} < {threshold} for "
            f"{precision}); the artifact was not written")
    return report
