"""OpenVINO INT8, two candidate routes, chosen by measurement:

- NNCF post-training quantisation, MIXED preset (symmetric per-channel weights, asymmetric activations), the float
  nodes in its ignored scope (selected by the ONNX node names OpenVINO keeps);
- the ONNX Runtime recipe's QDQ graph (measured calibration method, same float nodes), which OpenVINO compiles to
  the same int8 kernels.

Both are scored by agreement mAP with the FP32 graph on held-out calibration images and timed here; the more
accurate one is kept, and of two equally accurate ones (within AGREEMENT_TIE, e.g. when the model has no confident
detection there) the faster, raw-output error breaking what remains. Scores and latencies go into the metadata.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

import numpy as np

from edgeseg.calibration.adapters import nncf_dataset
from edgeseg.calibration.dataset import CalibrationSet
from edgeseg.runtime.decode import RAW_KEYS

from .base import QuantizeResult, Quantizer
from .ort import OrtQuantizer, output_error, predictions, raw_outputs

SCORING_IMAGES = 16


def ignored_scope(keep_float: list[str]):
    """OpenVINO names a converted ONNX node after it, and splits a conv's bias into '<name>/WithoutBiases' + add;
    a pattern per node catches both."""
    import nncf

    patterns = [f"^{re.escape(name)}(/.*)?$" for name in keep_float]
    return nncf.IgnoredScope(patterns=patterns, validate=False)


def _save(model, out_dir: Path) -> Path:
    import openvino as ov

    out_dir.mkdir(parents=True)
    ov.save_model(model, str(out_dir / "model.xml"), compress_to_fp16=False)
    return out_dir


def ov_raw_outputs(model_dir: Path, feeds: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(model_dir / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    outs = []
    for x in feeds:
        result = request.infer({0: x})
        outs.append({key: np.asarray(result[compiled.output(key)]) for key in RAW_KEYS})
    return outs


def nncf_route(fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], out_dir: Path) -> Path:
    import nncf
    import openvino as ov

    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = ov.convert_model(str(fp32_onnx))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantized = nncf.quantize(model, nncf_dataset(calib), preset=nncf.QuantizationPreset.MIXED,
                                  subset_size=len(calib), ignored_scope=ignored_scope(keep_float))
    return _save(quantized, out_dir)


AGREEMENT_TIE = 0.01  # agreement mAP differences below this, on 16 scoring images, are not a real difference


def choose_route(scores: dict[str, tuple[float, float, float]], latency: dict[str, float]) -> str:
    """The most accurate candidate (mask, then box agreement with FP32); among those within AGREEMENT_TIE of it,
    the fastest. The two routes can differ by 20% in speed (the QDQ graph quantises each SiLU's Sigmoid and Mul,
    which keeps OpenVINO from fusing them: 237 FakeQuantize nodes against NNCF's 75 on yolov8n-seg)."""
    top = max(scores.values())
    tied = [k for k, v in scores.items() if top[0] - v[0] < AGREEMENT_TIE and top[1] - v[1] < AGREEMENT_TIE]
    return min(tied, key=lambda k: (latency[k], -scores[k][2]))


def ov_latency_ms(candidates: dict[str, Path], feed: np.ndarray, rounds: int = 5, runs: int = 10) -> dict[str, float]:
    """Median ms per inference of each candidate, the candidates interleaved so a busy spell hits them all."""
    import time

    import openvino as ov

    core = ov.Core()
    requests = {k: core.compile_model(str(p / "model.xml"), "CPU").create_infer_request() for k, p in candidates.items()}
    times: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(rounds):
        for name, request in requests.items():
            request.infer({0: feed})
            start = time.perf_counter()
            for _ in range(runs):
                request.infer({0: feed})
            times[name].append((time.perf_counter() - start) * 1000 / runs)
    return {k: float(np.median(v)) for k, v in times.items()}


class FullRangeQdq(OrtQuantizer):
    """The QDQ graph for OpenVINO to compile: its CPU kernels do not saturate u8 x s8 products, so weights keep all
    8 bits (the OpenVINO INT8 test passes on an AVX2-only AMD Zen 3 with them)."""

    reduce_range = False


class NncfQuantizer(Quantizer):
    engine = "openvino"
    requires = ("openvino", "nncf", "onnxruntime")
    dynamic_shapes = True  # FakeQuantize ranges are per tensor, not per shape
    # static unless --dynamic: a symbolic int8 graph runs ~30% slower until the runtime has bought a shape its own
    # compile (openvino_backend: once that shape has run long enough), which a folder of one-off shapes never does
    dynamic_by_default = False

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        import openvino as ov

        from edgeseg.converters.gate import agreement_of

        qdq = None
        if method != "nncf":
            (workdir / "qdq").mkdir(parents=True, exist_ok=True)
            qdq = FullRangeQdq().quantize(fp32_onnx, calib, keep_float, workdir / "qdq", method)
        candidates = {"nncf-mixed": nncf_route(fp32_onnx, calib, keep_float, workdir / "nncf_openvino_model")}
        if qdq is not None:
            candidates[f"qdq-{qdq.details['method']}"] = _save(ov.convert_model(str(qdq.artifact)),
                                                              workdir / "qdq_openvino_model")
        scoring = calib.split(SCORING_IMAGES)[1]
        feeds = [scoring.nchw(i) for i in range(len(scoring))]
        ref_raw = raw_outputs(fp32_onnx, feeds)
        ref = predictions(ref_raw, scoring)
        names = {c: str(c) for c in range(ref_raw[0]["scores"].shape[-1])}
        scores, latency = {}, ov_latency_ms(candidates, feeds[0])
        for name, path in candidates.items():
            got_raw = ov_raw_outputs(path, feeds)
            box, mask = agreement_of(ref, predictions(got_raw, scoring), names)
            scores[name] = (round(mask, 4), round(box, 4), -round(output_error(ref_raw, got_raw), 6))
        best = choose_route(scores, latency)
        details = {"engine": self.engine, "route": best, "method": qdq.details["method"] if qdq and best != "nncf-mixed"
                   else "nncf-mixed", "route_scores": {k: {"agree_mask": v[0], "agree_box": v[1], "raw_error": -v[2],
                                                          "latency_ms": round(latency[k], 2)} for k, v in scores.items()},
                   "scheme": "NNCF PTQ MIXED (s8 symmetric per-channel weights, u8 activations)" if best == "nncf-mixed"
                   else "QDQ u8 activations per-tensor, s8 weights per-channel, compiled by OpenVINO",
                   "calibration_images": len(calib)}
        if qdq is not None:
            details["method_scores"] = qdq.details.get("method_scores", {})
        return QuantizeResult(candidates[best], details)

