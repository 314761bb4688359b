"""Backend registry: built-in engines by module path, plug-ins (e.g. the torch backend) by entry point.

Nothing is imported until a backend is asked for, so importing the runtime has no side effects and stays fast.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from ..errors import NotAvailableError, UsageError
from ..formats import FORMATS
from .base import Backend

ENTRY_POINT_GROUP = "edgeseg.backends"

# Engines that ship inside the runtime: name -> "module:Class" (filled as each backend lands).
BUILTIN_BACKENDS: dict[str, str] = {
    "onnxruntime": "edgeseg.runtime.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "openvino": "edgeseg.runtime.backends.openvino_backend:OpenVinoBackend",
    "ncnn": "edgeseg.runtime.backends.ncnn_backend:NcnnBackend",
    "coreml": "edgeseg.runtime.backends.coreml_backend:CoreMLBackend",
    "litert": "edgeseg.runtime.backends.litert_backend:LiteRTBackend",
    "tensorflow": "edgeseg.runtime.backends.tensorflow_backend:TensorFlowBackend",
    "tfjs": "edgeseg.runtime.backends.tfjs_backend:TfjsBackend",
    "paddle": "edgeseg.runtime.backends.paddle_backend:PaddleBackend",
}



@dataclass(frozen=True)
class Probe:
    """Why an engine was or was not chosen, for `edgeseg backends` and --verbose."""

    engine: str
    runs_format: bool
    available: bool
    reason: str


def _declared() -> dict[str, str]:
    declared = dict(BUILTIN_BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        declared.setdefault(ep.name, ep.value)
    return declared


def engine_names() -> list[str]:
    return sorted(_declared())


def get_backend_class(engine: str) -> type[Backend]:
    """Import and return an engine's class; an unknown name lists the known ones."""
    declared = _declared()
    if engine not in declared:
        raise UsageError(f"unknown backend '{engine}'; known backends: {', '.join(sorted(declared))}")
    module_name, _, attr = declared[engine].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise NotAvailableError(f"backend '{engine}' cannot be imported: {err}") from err
    return getattr(module, attr)


def runs_format(engine: str, fmt: str) -> bool:
    """Whether `engine` runs `fmt` artifacts: the format table's engines column says so."""
    return fmt in FORMATS and engine in FORMATS[fmt].engines


def formats_of(engine: str) -> list[str]:
    return [name for name, spec in FORMATS.items() if engine in spec.engines]


def _probe(name: str, fmt: str) -> Probe:
    if name not in _declared():
        return Probe(name, False, False, "not a known backend")
    if not runs_format(name, fmt):
        return Probe(name, False, False, f"does not run '{fmt}' artifacts")
    try:
        cls = get_backend_class(name)
    except NotAvailableError as err:
        return Probe(name, False, False, str(err))
    ok, reason = cls.available()
    return Probe(name, True, ok, reason)


def _order(fmt: str, preference: tuple[str, ...] | None) -> list[str]:
    """A device profile's engine order first, then the format's own engines (table order), then the rest."""
    names = list(preference or ()) + list(FORMATS[fmt].engines if fmt in FORMATS else ())
    names = list(dict.fromkeys(names))
    return names + [n for n in engine_names() if n not in names]


def probe_all(fmt: str, preference: tuple[str, ...] | None = None) -> list[Probe]:
    """Every engine in preference order (then the rest), with whether it runs `fmt` here and why not."""
    return [_probe(name, fmt) for name in _order(fmt, preference)]


def select_backend(fmt: str, forced: str | None = None, preference: tuple[str, ...] | None = None) -> type[Backend]:
    """The first available engine for `fmt` (or the forced one, checked); a clear error lists why none fits."""
    if forced:
        cls = get_backend_class(forced)
        if not runs_format(forced, fmt):
            raise UsageError(f"backend '{forced}' does not run '{fmt}' artifacts (it runs: {', '.join(formats_of(forced))})")
        ok, reason = cls.available()
        if not ok:
            raise NotAvailableError(f"backend '{forced}' is not available: {reason}")
        return cls
    probes = []
    for name in _order(fmt, preference):  # lazily: engines after the chosen one are never imported
        probe = _probe(name, fmt)
        if probe.runs_format and probe.available:
            return get_backend_class(probe.engine)
        probes.append(probe)
    tried = "; ".join(f"{p.engine}: {p.reason}" for p in probes if p.runs_format) or "no engine runs this format"
    raise NotAvailableError(f"no available backend for '{fmt}' artifacts ({tried})")
