"""Inference engines behind one interface; see base.Backend and registry.select_backend."""
from .base import Artifact, Backend, BackendOptions, TensorSpec
from .registry import engine_names, get_backend_class, probe_all, select_backend

__all__ = [
    "Artifact", "Backend", "BackendOptions", "TensorSpec",
    "engine_names", "get_backend_class", "probe_all", "select_backend",
]
