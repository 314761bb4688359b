"""Accuracy/latency matrix: export every (format, precision) that works here, validate each artifact and the
checkpoint through the runtime, and write export_report.md / .json / .png. `benchmark` is the same without
keeping the artifacts."""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeseg.runtime.checks import parse_imgsz
from edgeseg.runtime.errors import EdgesegError
from edgeseg.runtime.loader import load

from .export import artifact_size, engine_available, export
from .gate import TOLERANCE_POINTS, Evaluation, GateRow, compare, evaluate, markdown_table, reference_row
from .options import ExportOptions
from .quantize.base import get_quantizer
from .registry import export_formats, get_exporter

SUFFIX_BY_PRECISION = {"fp32": "", "fp16": "_fp16", "int8": "_int8"}


def matrix_entries(formats: list[str] | None = None) -> list[tuple[str, str]]:
    """(format, precision) pairs that this install can export, in registry order."""
    entries = []
    for fmt in formats or export_formats():
        cls = get_exporter(fmt)
        if not cls.available()[0]:
            continue
        if not cls.int8_only:
            entries.append((fmt, "fp32"))
        if cls.supports_half and not cls.int8_only:
            entries.append((fmt, "fp16"))
        quantizer = get_quantizer(fmt)
        if cls.int8_weights_only or (quantizer is not None and not quantizer.missing()):
            entries.append((fmt, "int8"))
    return entries


def reference_evaluation(source: str, data: str, imgsz: tuple[int, int], end2end: bool = False,
                         dynamic: bool = False) -> tuple[Evaluation, int]:
    """The checkpoint through the runtime's torch engine, at the input shapes the artifact runs (static square, or
    each image's own rectangle for a dynamic one) and with the head it exports (an --end2end artifact is judged
    against the one-to-one head, not against NMS), so only the export itself is measured."""
    from edgeseg.converters.export import load_model
    from edgeseg.runtime.predictor import Predictor
    from edgeseg.trainer.torch_backend import TorchBackend

    model, meta = load_model(source)
    if end2end:
        model = model.with_head(end2end=True)
    meta = dataclasses.replace(meta, imgsz=tuple(imgsz), dynamic=dynamic, end2end=end2end)
    size = Path(source).stat().st_size if Path(str(source)).is_file() else 0
    return evaluate(Predictor(TorchBackend.from_model(model, meta)), data, "val", "checkpoint"), size


def tolerance_for(fmt: str, precision: str, max_drop: float) -> float:
    """FP32/FP16: the fixed tolerances; INT8: the budget asked for, or the quantiser's floor where its scheme cannot
    do better (full-integer TFLite)."""
    if precision != "int8":
        return TOLERANCE_POINTS[precision]
    quantizer = get_quantizer(fmt)
    return max(max_drop, quantizer.drop_budget_floor if quantizer else 0.0)


def gate_artifact(reference: Evaluation, artifact: Path, fmt: str, precision: str, data: str, max_drop: float,
                  size_bytes: int, backend: str | None = None) -> GateRow:
    predictor = load(artifact, backend=backend or get_exporter(fmt).engine)
    candidate = evaluate(predictor, data, "val", f"{fmt}/{precision}")
    return compare(reference, candidate, fmt, precision, size_bytes, tolerance_for(fmt, precision, max_drop))


@dataclass
class MatrixReport:
    rows: list[GateRow] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    unvalidated: dict[str, str] = field(default_factory=dict)  # converted, but its engine cannot run here
    settings: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "rows": [r.as_dict() for r in self.rows],
                           "timings_s": self.timings_s, "failures": self.failures, "unvalidated": self.unvalidated},
                          indent=2)

    def markdown(self) -> str:
        s = self.settings
        lines = [f"# edgeseg export report: {s.get('model')} at {s.get('imgsz')} on {s.get('data')} (val split)", "",
                 markdown_table(self.rows), "",
                 "Δ = artifact − checkpoint in mAP points (0–100); agreement = the artifact's mAP50-95 against the "
                 "checkpoint's predictions (score ≥ 0.25) as ground truth; ms per image on this host.", ""]
        if self.unvalidated:
            lines += ["## Converted, not validated here", ""] + [f"- {k}: {v}" for k, v in self.unvalidated.items()] + [""]
        if self.failures:
            lines += ["## Not produced", ""] + [f"- {k}: {v}" for k, v in self.failures.items()] + [""]
        lines += ["## Where the time went", ""] + [f"- {k}: {v:.1f} s" for k, v in self.timings_s.items()]
        return "\n".join(lines) + "\n"


def artifact_report(path: str | Path, data: str, imgsz: str | None = None, say=lambda m: None) -> MatrixReport:
    """One exported artifact as it is (ours or the reference's): validated and timed through the runtime."""
    from edgeseg.runtime.formats import detect_format

    path = Path(path)
    predictor = load(path)
    size = parse_imgsz(imgsz) if imgsz else tuple(predictor.metadata.imgsz)
    report = MatrixReport(settings={"model": str(path), "data": str(data), "imgsz": list(size)})
    say(f"validating {path} with {predictor.backend.describe()}")
    t0 = time.perf_counter()
    evaluation = evaluate(predictor, data, "val", str(path), imgsz=size)
    report.timings_s[f"validate {path.name}"] = time.perf_counter() - t0
    row = reference_row(evaluation, artifact_size(path))
    report.rows.append(dataclasses.replace(row, format=detect_format(path), precision=predictor.metadata.precision,
                                           note="as exported"))
    return report


def layout_for(fmt: str, precision: str) -> str:
    """The output layout an entry is exported with: the target's required one, else its quantiser's preference for
    INT8 (full-integer graphs end before the DFL), else the default."""
    cls, quantizer = get_exporter(fmt), get_quantizer(fmt)
    if cls.required_layout:
        return cls.required_layout
    return quantizer.preferred_layout if precision == "int8" and quantizer is not None else "edgeseg"


def run_matrix(source: str, data: str, imgsz: tuple[int, int], out_dir: Path | None, calib: Path | None = None,
               calib_n: int | None = None, max_drop: float = 0.5, formats: list[str] | None = None, say=lambda m: None,
               entries: list[tuple[str, str]] | None = None) -> MatrixReport:
    """Export, validate and compare every entry (format, precision) this install can make (or just `entries`);
    out_dir None exports into a temporary directory (benchmark)."""
    report = MatrixReport(settings={"model": str(source), "data": str(data), "imgsz": list(imgsz), "max_drop": max_drop})
    t0 = time.perf_counter()
    reference, ref_size = reference_evaluation(source, data, imgsz)
    report.timings_s["validate checkpoint"] = time.perf_counter() - t0
    report.rows.append(reference_row(reference, ref_size))
    with tempfile.TemporaryDirectory(prefix="edgeseg-bench-") as tmp:
        base = Path(out_dir) if out_dir else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        stem = Path(str(source)).stem
        for fmt, precision in entries or matrix_entries(formats):
            key = f"{fmt}/{precision}"
            say(f"exporting {key}")
            cls = get_exporter(fmt)
            path = base / f"{stem}{SUFFIX_BY_PRECISION[precision]}{cls.artifact_suffix}"
            options = ExportOptions(format=fmt, imgsz=imgsz, half=precision == "fp16", int8=precision == "int8",
                                    calib=calib, data=str(data), calib_n=calib_n, max_drop=max_drop, output=path,
                                    layout=layout_for(fmt, precision))
            t1 = time.perf_counter()
            try:
                result = export(source, options, say)
            except EdgesegError as err:
                report.failures[key] = str(err)
                continue
            t2 = time.perf_counter()
            report.timings_s[f"export {key}"] = t2 - t1
            if not engine_available(cls.engine):
                note = result.report.note if result.report else ""
                report.unvalidated[key] = f"{result.size_bytes / 1e6:.1f} MB; {note or cls.engine + ' cannot run here'}"
                continue
            report.rows.append(gate_artifact(reference, result.path, fmt, precision, data, max_drop, result.size_bytes))
            report.timings_s[f"validate {key}"] = time.perf_counter() - t2
    report.timings_s["total"] = time.perf_counter() - t0
    return report


def write_report(report: MatrixReport, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "export_report.md", out_dir / "export_report.json"
    md.write_text(report.markdown(), encoding="utf-8")
    js.write_text(report.to_json() + "\n", encoding="utf-8")
    written = [md, js]
    png = plot_report(report, out_dir / "export_report.png")
    return written + ([png] if png else [])


def plot_report(report: MatrixReport, path: Path) -> Path | None:
    """Latency vs mask mAP50-95 per format/precision (needs matplotlib, which the train extra brings)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in report.rows:
        total = row.pre_ms + row.infer_ms + row.post_ms
        ax.scatter(total, row.mask_map, s=40)
        ax.annotate(f"{row.format}/{row.precision}", (total, row.mask_map), fontsize=8, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xlabel("ms per image (pre + inference + post), this host")
    ax.set_ylabel("mask mAP50-95 (points)")
    ax.set_title(f"{Path(report.settings.get('model', '')).name} at {report.settings.get('imgsz')}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
