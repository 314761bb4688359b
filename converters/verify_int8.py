"""The one verification of quantised artifacts, on what users see: real images (the val split when --data is given,
else the calibration set's held-out part) go through the artifact and the FP32 PyTorch model, the shared
post-processing turns both into detections and masks, and the artifact's are scored against the FP32 model's
confident ones (agreement mAP). Raw outputs are compared only on the anchors that matter: those the FP32 model
is confident about (or its best ones when it is confident about none). Non-finite outputs always fail."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgeseg.calibration.dataset import CalibrationSet
from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.datasets.yolo import load_data_yaml
from edgeseg.runtime.letterbox import letterbox, to_input_tensor
from edgeseg.runtime.loader import load
from edgeseg.runtime.sources import read_image

from .verify import (CONFIDENT, INT8_MIN_AGREEMENT, INT8_MIN_ANCHOR_COSINE, INT8_MIN_LOW_AGREEMENT, LOW_CONF,
                     MIN_DETECTIONS, TOP_ANCHORS, TOP_PER_IMAGE, ExportVerificationError, VerifyReport, _torch_raw,
                     check_finite, cosine)

VERIFY_IMAGES = 32  # val images the check runs on (the mAP budget, when asked, already scores the whole split)
ANCHOR_KEYS = ("boxes", "scores", "mask_coeffs")


def val_images(data: str, imgsz: tuple[int, int], n: int = VERIFY_IMAGES) -> list[np.ndarray]:
    """The first n readable images of the val split, letterboxed as every artifact sees them."""
    out = []
    for path in load_data_yaml(data).splits.get("val", []):
        if len(out) >= n:
            break
        try:
            out.append(letterbox(read_image(path), imgsz)[0])
        except Exception:  # an unreadable image is the dataset's problem, reported by val; here it is just skipped
            continue
    return out


def verification_images(data: str | None, holdout: CalibrationSet | None, imgsz) -> tuple[list[np.ndarray], str]:
    """(letterboxed images, what they are): the val split's when there is one, else held-out calibration images."""
    if data:
        images = val_images(data, tuple(imgsz))
        if images:
            return images, f"{len(images)} val images of {data}"
    if holdout is not None and len(holdout):
        return list(holdout.images), f"{len(holdout)} held-out calibration images"
    raise ExportVerificationError("INT8 verification needs real images: --data with a val split, or a calibration set "
                                  "large enough to hold some images out")


def _confident(scores: np.ndarray) -> np.ndarray:
    best = scores.max(-1)
    idx = np.flatnonzero(best >= CONFIDENT)
    return idx if len(idx) >= TOP_ANCHORS // 10 else np.argsort(-best)[:TOP_ANCHORS]


def verify_quantized(path: Path, model: torch.nn.Module, engine: str, images: list[np.ndarray], label: str,
                     names: dict[int, str]) -> VerifyReport:
    """Raise ExportVerificationError unless the artifact's detections agree with the FP32 model's."""
    from .gate import letterboxed_detections

    predictor = load(path, backend=engine, options=BackendOptions())
    report = VerifyReport(predictor.backend.describe(), [], images=label)
    ref, got, pairs = {}, {}, {k: ([], []) for k in ANCHOR_KEYS}
    for i, image in enumerate(images):
        x = to_input_tensor([image])
        out = predictor.run_raw(x)
        check_finite(path, out)
        want = _torch_raw(model, x)
        sel = _confident(want["scores"][0])
        for key in ANCHOR_KEYS:
            pairs[key][0].append(want[key][0][sel])
            pairs[key][1].append(out[key][0][sel])
        ref[str(i)] = letterboxed_detections(want, image.shape[:2], names)
        got[str(i)] = letterboxed_detections(out, image.shape[:2], names)
    report.shapes = [tuple(to_input_tensor(images[:1]).shape)]
    report.cosine = {k: cosine(np.concatenate(a), np.concatenate(b)) for k, (a, b) in pairs.items()}
    bad, what = _judge(report, ref, got, names)
    if bad:
        raise ExportVerificationError(f"{path.name}: INT8 verification failed on {label}: {what} with the FP32 "
                                      f"model; the artifact was not written")
    return report


def _above(detections: dict[str, tuple], conf: float) -> dict[str, tuple]:
    return {k: _subset(d, np.flatnonzero(d[1] >= conf)) for k, d in detections.items()}


def top_detections(detections: dict[str, tuple], k: int) -> dict[str, tuple]:
    """The k best-scored detections of each image: a weak model's ranking, where no threshold leaves enough."""
    return {key: _subset(d, np.argsort(-d[1], kind="stable")[:k]) for key, d in detections.items()}


def _subset(d: tuple, idx: np.ndarray) -> tuple:
    boxes, scores, classes, masks = d
    return boxes[idx], scores[idx], classes[idx], masks.select(idx)


def _judge(report: VerifyReport, ref: dict, got: dict, names: dict[int, str]) -> tuple[dict, str]:
    """(failed measurements, what failed): agreement with the FP32 model's detections at the deployment threshold
    when it has MIN_DETECTIONS there; else down to LOW_CONF; else its TOP_PER_IMAGE best of each image against the
    artifact's (a weak model's ranking); else (it detects nothing at all) its best anchors' cosine."""
    from .gate import agreement_of

    top = TOP_PER_IMAGE
    # the top tier compares best with best: the artifact's 4th detection of one image may outscore another image's
    # best, which would count as a false positive against a per-image truth (FP32 scores 0.62 against itself)
    tiers = ((f"its detections >= {CONFIDENT:g}", _above(ref, CONFIDENT), got, INT8_MIN_AGREEMENT),
             (f"its detections >= {LOW_CONF:g}", _above(ref, LOW_CONF), got, INT8_MIN_LOW_AGREEMENT),
             (f"the {top} best detections of each image", top_detections(ref, top), top_detections(got, top),
              INT8_MIN_LOW_AGREEMENT))
    for i, (on, truth, candidate, floor) in enumerate(tiers):
        count = sum(len(d[1]) for d in truth.values())
        if count >= MIN_DETECTIONS or (i == len(tiers) - 1 and count):
            box, mask = agreement_of(truth, candidate, names, conf=0.0)
            report.agreement, report.agreement_on = {"box": round(box, 4), "mask": round(mask, 4)}, f"{count} of {on}"
            bad = {k: v for k, v in report.agreement.items() if not v >= floor}
            return bad, f"{', '.join(f'{k} agreement mAP50-95 {v:.3f}' for k, v in bad.items())} < {floor} " \
                        f"(on {report.agreement_on})"
    bad = {k: v for k, v in report.cosine.items() if k != "boxes" and not v >= INT8_MIN_ANCHOR_COSINE}
    return bad, f"cosine on the FP32 model's best anchors {', '.join(f'{k} {v:.3f}' for k, v in bad.items())} " \
                f"< {INT8_MIN_ANCHOR_COSINE} (it has no detection there)"
