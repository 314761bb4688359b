"""edgeseg.runtime: torch-free inference for YOLOv8-seg models on any exported format.

This package never imports torch or any other part of edgeseg; engines that need torch plug in
through the `edgeseg.backends` entry point group.
"""
from __future__ import annotations

from .backends import BackendOptions
from .errors import EdgesegError, ModelFormatError, NotAvailableError, UnsafeFileError, UsageError
from .formats import detect_format
from .loader import load
from .letterbox import LetterboxInfo, letterbox, letterbox_geometry
from .metadata import ModelMetadata
from .postprocess import PostprocessConfig, postprocess
from .predictor import Predictor
from .results import Results

__all__ = [
    "EdgesegError", "ModelFormatError", "NotAvailableError", "UnsafeFileError", "UsageError",
    "LetterboxInfo", "letterbox", "letterbox_geometry", "ModelMetadata", "PostprocessConfig",
    "postprocess", "Predictor", "Results", "load", "detect_format", "BackendOptions",
]
