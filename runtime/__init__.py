"""edgeseg.runtime: torch-free inference for YOLOv8-seg models on any exported format.

This package never imports torch or any other part of edgeseg; engines that need torch plug in
through the `edgeseg.backends` entry point group.
"""
from __future__ import annotations

from pathlib import Path

from .backends import Artifact, BackendOptions, select_backend
from .errors import EdgesegError, ModelFormatError, NotAvailableError, UnsafeFileError, UsageError
from .formats import detect_format
from .letterbox import LetterboxInfo, letterbox, letterbox_geometry
from .metadata import SIDECAR_NAME, ModelMetadata
from .postprocess import PostprocessConfig, postprocess
from .predictor import Predictor
from .results import Results

__all__ = [
    "EdgesegError", "ModelFormatError", "NotAvailableError", "UnsafeFileError", "UsageError",
    "LetterboxInfo", "letterbox", "letterbox_geometry", "ModelMetadata", "PostprocessConfig",
    "postprocess", "Predictor", "Results", "load", "detect_format",
]


def _sidecar_metadata(path: Path) -> ModelMetadata | None:
    sidecar = (path if path.is_dir() else path.parent) / SIDECAR_NAME
    return ModelMetadata.from_json_file(sidecar) if sidecar.is_file() else None


def load(
    path: str | Path,
    backend: str | None = None,
    options: BackendOptions | None = None,
    preference: tuple[str, ...] | None = None,
) -> Predictor:
    """Open any artifact with the best available engine (or `backend`, when forced)."""
    path = Path(path)
    fmt = detect_format(path)
    cls = select_backend(fmt, backend, preference)
    artifact = Artifact(path, fmt, _sidecar_metadata(path))
    return Predictor(cls.load(artifact, options or BackendOptions()))
