"""Export targets by format name, from the one format table (edgeseg.runtime.formats.FORMATS); modules are imported
only when their target is asked for."""
from __future__ import annotations

import importlib

from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.formats import FORMATS, export_formats, exporter_path

from .base import Exporter

__all__ = ["export_formats", "get_exporter"]


def get_exporter(fmt: str) -> type[Exporter]:
    if fmt not in FORMATS or FORMATS[fmt].exporter is None:
        raise UsageError(f"unknown export format '{fmt}' (available: {', '.join(export_formats())})")
    module_name, attr = exporter_path(fmt)
    return getattr(importlib.import_module(module_name), attr)
