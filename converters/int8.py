"""The INT8 recipe, for every engine that has a quantiser: calibrate on a checked calibration set, keep the decode
tail and final head convs in float, and, when a validation split is given, hold a mask-mAP budget (`max_drop`)
by returning the most sensitive layers to float until the drop fits or nothing is left."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edgeseg.calibration.dataset import DEFAULT_CALIB_N, CalibrationSet, build_calibration_set, load_calibration_set
from edgeseg.runtime.errors import NotAvailableError, UsageError
from edgeseg.runtime.loader import load
from edgeseg.runtime.metadata import ModelMetadata

from .gate import evaluate
from .options import ExportOptions
from .quantize.base import QuantizeResult, Quantizer, get_quantizer
from .quantize.graph import conv_blocks, float_tail_nodes, layer_sensitivity
from .quantize.rewrite import rewritten_graph


def cache_root() -> Path:
    """Where sets built from --data live: the user's cache (EDGESEG_CACHE_DIR), never beside the dataset."""
    from edgeseg.runtime.paths import cache_dir

    return cache_dir("calibration")

SENSITIVITY_IMAGES = 8


def calibration_for(options: ExportOptions, metadata: ModelMetadata, origin: str, say=lambda m: None) -> CalibrationSet:
    """--calib DIR, or a set built from --data's training split into the cache (never beside the dataset); without
    --calib-n it takes up to DEFAULT_CALIB_N images, all the split has when that is fewer, and says so."""
    if options.calib:
        calib = load_calibration_set(options.calib)
    elif options.data:
        key = hashlib.sha256(f"{Path(options.data).resolve()}|{options.imgsz}|{options.calib_n}".encode()).hexdigest()[:16]
        calib = build_calibration_set(options.data, cache_root() / key, "train", options.calib_n, tuple(options.imgsz))
        if options.calib_n is None and len(calib) < DEFAULT_CALIB_N:
            say(f"calibrating on all {len(calib)} training images (the split has fewer than the default "
                f"{DEFAULT_CALIB_N}; more representative images usually help INT8)")
    else:
        raise UsageError("INT8 export needs a calibration set: --calib DIR (from `edgeseg calib build`) or "
                         "--data d.yaml (its training split is used)")
    calib.check_matches(metadata, origin)
    return calib


def check_request(options: ExportOptions) -> None:
    """Before any work: the format has an INT8 path here and a calibration source was given."""
    quantizer = quantizer_for(options.format)
    if options.layout not in quantizer.layouts:
        raise UsageError(f"INT8 {options.format} export supports --layout {' or '.join(quantizer.layouts)}, "
                         f"not {options.layout}")
    if options.dynamic and not quantizer.dynamic_shapes:
        raise UsageError(f"INT8 {options.format} exports are static-shape (calibrated and compiled at one input "
                         "size); drop --dynamic")
    if not options.calib and not options.data:
        raise UsageError("INT8 export needs a calibration set: --calib DIR (from `edgeseg calib build`) or "
                         "--data d.yaml (its training split is used)")


def quantizer_for(fmt: str) -> Quantizer:
    cls = get_quantizer(fmt)
    if cls is None:
        from .quantize.base import int8_formats

        raise NotAvailableError(f"INT8 export is not available for {fmt} here (INT8 formats: {', '.join(int8_formats())})")
    missing = cls.missing()
    if missing:
        raise NotAvailableError(f"INT8 {fmt} export needs {', '.join(missing)}: pip install 'edgeseg[export]'")
    return cls()


def rank_layers(fp32_onnx: Path, calib: CalibrationSet, keep: list[str], workdir: Path) -> list[list[str]]:
    """Conv blocks (conv + activation node names) not yet in float, most sensitive first (measured on an ONNX
    Runtime fake-quant graph, which models weight and activation rounding the same way for every engine)."""
    from .quantize.ort import quantize_qdq

    probe = workdir / "sensitivity"
    probe.mkdir(exist_ok=True)
    qdq = quantize_qdq(fp32_onnx, probe / "probe_int8.onnx", calib, keep, "minmax")
    feeds = [calib.nchw(i) for i in range(min(SENSITIVITY_IMAGES, len(calib)))]
    import onnx

    blocks = conv_blocks(onnx.load(str(fp32_onnx)))
    return [blocks[name][0] for name, _ in layer_sensitivity(fp32_onnx, qdq, feeds, probe) if name not in keep]


@dataclass
class BudgetStep:
    extra_float: int
    mask_drop: float
    box_drop: float
    infer_ms: float


@dataclass
class Int8Outcome:
    result: QuantizeResult
    keep_float: list[str]
    steps: list[BudgetStep] = field(default_factory=list)


def _drops(reference, candidate) -> tuple[float, float]:
    r, c = reference.metrics, candidate.metrics
    return round(100 * (r.seg.map - c.seg.map), 3), round(100 * (r.box.map - c.box.map), 3)


def quantize_within_budget(fmt: str, fp32_onnx: Path, calib: CalibrationSet, options: ExportOptions,
                           metadata: ModelMetadata, workdir: Path, say=lambda m: None) -> Int8Outcome:
    quantizer = quantizer_for(fmt)
    import onnx

    fp32_onnx = rewritten_graph(fp32_onnx, quantizer.graph_rewrites, calib.nchw(0), workdir / "fp32_rewritten.onnx")
    keep = float_tail_nodes(onnx.load(str(fp32_onnx)), head_convs=quantizer.float_head_convs)
    say(f"quantising for {quantizer.engine} ({len(calib)} calibration images, {len(keep)} tail nodes in float)")
    result = quantizer.quantize(fp32_onnx, calib, keep, _fresh(workdir, 0), options.calib_method)
    if result.details.get("note"):
        say(result.details["note"])
    outcome = Int8Outcome(result, list(keep))
    if options.max_drop is None or not options.data:
        return outcome
    fp32_meta = dataclasses.replace(metadata, precision="fp32", quantization={}, input_layout="NCHW")
    fp32_meta.write_sidecar(fp32_onnx)
    reference = evaluate(load(fp32_onnx, backend=quantizer.reference_engine or quantizer.engine), options.data, "val",
                         "fp32")
    method = {"nncf-mixed": "nncf"}.get(result.details.get("method", "auto"), result.details.get("method", "auto"))
    method = method if method in ("minmax", "percentile", "entropy", "nncf") else "auto"  # re-quantise the same way
    ranked: list[list[str]] | None = None
    extra: list[str] = []
    layers, step = 0, 2
    while True:
        metadata.write_sidecar(result.artifact)
        candidate = evaluate(load(result.artifact, backend=quantizer.engine), options.data, "val", "int8")
        mask_drop, box_drop = _drops(reference, candidate)
        outcome.steps.append(BudgetStep(layers, mask_drop, box_drop, round(candidate.metrics.speed["inference"], 2)))
        say(f"INT8 with {layers} layers returned to float: mask mAP50-95 drop {mask_drop:.2f} (budget {options.max_drop})")
        if mask_drop <= options.max_drop or not quantizer.keeps_float:
            break
        if ranked is None:
            ranked = rank_layers(fp32_onnx, calib, keep, workdir)
        if not ranked:
            break
        extra += [name for block in ranked[:step] for name in block]
        layers += len(ranked[:step])
        ranked, step = ranked[step:], step * 2
        result = quantizer.quantize(fp32_onnx, calib, keep + extra, _fresh(workdir, len(outcome.steps)), method)
    if result is not outcome.result:  # a re-quantisation: keep the measurements of the first pass
        for key in ("method_scores", "route_scores"):
            if not result.details.get(key) and outcome.result.details.get(key):
                result.details[key] = outcome.result.details[key]
    outcome.result, outcome.keep_float = result, keep + extra
    return outcome


def _fresh(workdir: Path, index: int) -> Path:
    path = workdir / f"int8_try{index}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def quantization_metadata(outcome: Int8Outcome, calib: CalibrationSet, max_drop: float | None) -> dict:
    details = dict(outcome.result.details)
    details.update(keep_float=outcome.keep_float, max_drop=max_drop,
                   budget_steps=[dataclasses.asdict(s) for s in outcome.steps],
                   calibration=dict(split=calib.manifest["split"], strategy=calib.manifest["strategy"],
                                    count=len(calib), seed=calib.manifest["seed"]))
    return details
