"""Open any artifact: detect its format, choose an engine, load it, settle and check its metadata."""
from __future__ import annotations

from pathlib import Path

from .backends import Artifact, BackendOptions, probe_all, select_backend
from .foreign import find_foreign_metadata
from .formats import detect_format
from .layouts import check_graph
from .metadata import ModelMetadata, find_sidecar, resolve_metadata
from .predictor import Predictor


def load(
    path: str | Path,
    backend: str | None = None,
    options: BackendOptions | None = None,
    preference: tuple[str, ...] | None = None,
    report=None,
) -> Predictor:
    """The artifact on an engine: `backend` when forced; "auto": the fastest engine x execution precision whose
    outputs agree with the artifact's FP32 reference (measured once per machine, runtime/autoselect.py); None: the
    first available engine in the format's (or the device profile's) order, at the artifact's own precision.
    `report(line)` hears why each engine was considered or skipped."""
    path = Path(path)
    fmt = detect_format(path)
    options = options or BackendOptions()
    if report is not None:
        for probe in probe_all(fmt, preference):
            report(f"engine {probe.engine}: {'ok' if probe.available else 'skipped: ' + probe.reason}")
    sidecar_file = find_sidecar(path)
    sidecar = ModelMetadata.from_json_file(sidecar_file) if sidecar_file else find_foreign_metadata(path)
    if backend == "auto" and options.exec_precision is None and preference is None:
        backend, options = _auto(path, fmt, sidecar, options, report)
    cls = select_backend(fmt, None if backend == "auto" else backend, preference)
    engine = cls.load(Artifact(path, fmt, sidecar), options)
    engine.metadata = resolve_metadata(sidecar, engine.embedded_metadata, str(path))
    check_graph(engine.metadata, engine.inputs, engine.outputs, str(path))
    if report is not None:
        report(f"using {engine.describe()} for {path} ({fmt}, layout {engine.metadata.layout})")
    return Predictor(engine)


def _auto(path: Path, fmt: str, sidecar: ModelMetadata | None, options: BackendOptions, report):
    """(engine, options) chosen by measurement; artifacts whose metadata only the engine can read are loaded once
    through the format's first engine to learn it."""
    from dataclasses import replace

    from .autoselect import choose, describe

    meta = sidecar
    if meta is None:
        first = load(path, None, options)
        meta = first.metadata
    best, table, cached = choose(path, fmt, meta, sidecar, options)
    if report is not None:
        report(f"backend auto ({'cached' if cached else 'measured'}): " + " | ".join(describe(table, best)[1:]))
    return best.engine, replace(options, exec_precision=best.exec_precision)
