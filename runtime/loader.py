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
    """The best available engine for the artifact (or `backend`, when forced). `report(line)` hears why each
    engine was considered or skipped."""
    path = Path(path)
    fmt = detect_format(path)
    if report is not None:
        for probe in probe_all(fmt, preference):
            report(f"engine {probe.engine}: {'ok' if probe.available else 'skipped: ' + probe.reason}")
    cls = select_backend(fmt, backend, preference)
    sidecar_file = find_sidecar(path)
    sidecar = ModelMetadata.from_json_file(sidecar_file) if sidecar_file else find_foreign_metadata(path)
    engine = cls.load(Artifact(path, fmt, sidecar), options or BackendOptions())
    engine.metadata = resolve_metadata(sidecar, engine.embedded_metadata, str(path))
    check_graph(engine.metadata, engine.inputs, engine.outputs, str(path))
    if report is not None:
        report(f"using {engine.describe()} for {path} ({fmt}, layout {engine.metadata.layout})")
    return Predictor(engine)
