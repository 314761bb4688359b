"""The Python facade, shaped like the reference's `YOLO(...)` so its users' scripts port line for line.

torch is imported only by what needs it: building/loading a torch model, training, exporting.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgeseg.runtime import Predictor, Results
from edgeseg.runtime import load as runtime_load
from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.text import plain
from edgeseg.runtime.errors import NotAvailableError, UsageError

MODEL_FILE_SUFFIXES = (".yaml", ".yml", ".toml")


MODEL_NAME = re.compile(r"^yolov8[nsmlx]-seg(\.ya?ml)?$", re.IGNORECASE)


def _is_model_description(spec: str) -> bool:
    """A scale name (yolov8n-seg) or an existing YAML/TOML model description, as opposed to a weights file."""
    path = Path(spec)
    if path.is_file():
        return path.suffix.lower() in MODEL_FILE_SUFFIXES
    return bool(MODEL_NAME.match(spec))


def build_torch_predictor(spec: str, nc: int | None = None, seed: int = 0, options: BackendOptions | None = None) -> Predictor:
    """A freshly initialised (seeded) model from a name like yolov8n-seg or a YAML/TOML description."""
    try:
        from edgeseg.trainer.config import config_from_file, config_from_name
        from edgeseg.trainer.model import build_model
        from edgeseg.trainer.torch_backend import TorchBackend
    except ImportError as err:
        raise NotAvailableError(f"building '{spec}' needs torch: pip install 'edgeseg[train]' ({err})") from None
    from dataclasses import replace


    cfg = config_from_file(spec) if Path(spec).is_file() else config_from_name(spec)
    if nc is not None:
        cfg = replace(cfg, nc=nc)
    model = build_model(cfg, seed=seed)
    meta = model.metadata({i: str(i) for i in range(cfg.nc)}, imgsz=(640, 640), dynamic=True)
    return Predictor(TorchBackend.from_model(model, meta, options))


def open_predictor(spec: str | Path, backend: str | None = None, options: BackendOptions | None = None, report=None,
                   preference: tuple[str, ...] | None = None, **build: Any) -> Predictor:
    """Name/description -> a fresh torch model; any file -> the runtime's format detection and engine choice."""
    spec = str(spec)
    if _is_model_description(spec):
        return build_torch_predictor(spec, options=options, **build)
    if not Path(spec).exists() and not Path(spec).suffix:
        from edgeseg.trainer.family import model_names

        raise UsageError(f"unknown model name '{plain(spec, 80)}' (expected one of {', '.join(model_names())}, a "
                         f"YAML/TOML model description, or a model file)")
    if not Path(spec).exists():
        hint = " (edgeseg never downloads weights: pass a local file, or a name like yolov8n-seg for a fresh model)"
        raise UsageError(f"{spec}: no such model file{hint if spec.endswith('.pt') else ''}")
    return runtime_load(spec, backend=backend, options=options, report=report, preference=preference)


class Model:
    """`Model("yolov8n-seg.pt" | "yolov8n-seg" | "model.onnx" | ...)`, then `.predict(src)` or `model(src)`."""

    def __init__(self, model: str | Path = "yolov8n-seg", backend: str | None = None, device: str = "cpu", **build: Any):
        self.source = str(model)
        self.predictor = open_predictor(model, backend, BackendOptions(device=device), **build)

    @property
    def names(self) -> dict[int, str]:
        return self.predictor.names

    @property
    def metadata(self):
        return self.predictor.metadata

    def predict(self, source: Any, stream: bool = False, **kwargs: Any) -> list[Results] | Any:
        """Predict on images/dirs/globs/videos/arrays; kwargs: imgsz, conf, iou, max_det, classes, agnostic, ..."""
        if stream:
            return self.predictor.stream(source, **kwargs)
        return self.predictor.predict(source, **kwargs)

    __call__ = predict

    def val(self, data: str | Path, split: str = "val", imgsz: int | None = None, save_json: str | Path | None = None,
            **kwargs: Any):
        """COCO-exact box/mask metrics: `m.val(data="d.yaml").seg.map` like the reference's metrics object."""
        from edgeseg.runtime.validate import validate

        return validate(self.predictor, data, split, imgsz=imgsz, save_json=save_json, **kwargs)

    def train(self, **kwargs: Any):
        """`m.train(data="d.yaml", epochs=30, imgsz=320)`: trains from this model (its weights when it is a
        checkpoint), then this Model serves the best weights. Returns the final validation metrics."""
        try:
            from edgeseg.trainer.args import TrainArgs
            from edgeseg.trainer.engine import Trainer
        except ImportError as err:
            raise NotAvailableError(f"training needs torch: pip install 'edgeseg[train]' ({err})") from None
        if getattr(self.predictor.backend, "engine", "") != "torch" or getattr(self.predictor.backend, "scripted", False):
            raise UsageError("train needs a PyTorch model (.pt or a model name), not an exported artifact")
        result = Trainer(TrainArgs(model=self.source, **kwargs)).train()
        if result is not None:
            self.source = str(result.best)
            self.predictor = open_predictor(result.best)
            return result.metrics
        return None

    def export(self, format: str = "onnx", imgsz: int | tuple[int, int] = 640, **kwargs: Any) -> str:
        """Export like the reference: returns the artifact path. kwargs: batch, dynamic, half, opset, simplify,
        layout, output."""
        from edgeseg.converters.export import export as run_export
        from edgeseg.converters.options import ExportOptions
        from edgeseg.runtime.checks import parse_imgsz

        backend = self.predictor.backend
        if getattr(backend, "engine", "") != "torch" or getattr(backend, "scripted", False):
            raise UsageError(f"export needs a PyTorch model (.pt or a model name), not a {backend.engine} artifact")
        source = self.source if Path(self.source).is_file() else InMemoryModel(backend.module, self.metadata)
        return str(run_export(source, ExportOptions(format=format, imgsz=parse_imgsz(imgsz), **kwargs)).path)

    def __repr__(self) -> str:
        return f"Model({self.source!r}, engine={self.predictor.backend.engine})"


class InMemoryModel:
    """A model built in memory (no file), shaped like a loaded checkpoint for the exporter."""

    def __init__(self, model, metadata):
        self.model, self.metadata = model, metadata


def load(path: str | Path, **kwargs: Any) -> Model:
    """`edgeseg.load(path).predict(source)`."""
    return Model(path, **kwargs)
