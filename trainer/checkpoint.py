"""edgeseg checkpoints (plain tensors + JSON-able metadata, loaded with torch.load(weights_only=True)) and the
single entry point that loads any .pt a user passes: ours, or an Ultralytics one through the safe importer."""
from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeseg.runtime.errors import ModelFormatError, OutputError, UnsafeFileError
from edgeseg.runtime.metadata import ModelMetadata, edgeseg_version, parse_names
from edgeseg.runtime.paths import sha256_file

from .config import ModelConfig
from .model import SegmentationModel
from .safe_pickle import is_allowed_global, pickle_globals
from .ultralytics_import import read_ultralytics_checkpoint

CHECKPOINT_FORMAT = "edgeseg.checkpoint/1"


@dataclass
class LoadedModel:
    model: SegmentationModel
    metadata: ModelMetadata
    checkpoint: dict[str, Any]  # the raw dict (train state for resume, etc.)
    source: str  # "edgeseg" or "ultralytics"


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file in the same directory, fsync, then rename: readers never see a partial file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write checkpoint ({err.strerror or err})") from err
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):  # disk full, read-only: the previous file at `path` is untouched
            raise OutputError(f"{path}: cannot write checkpoint ({err.strerror or err}); the previous file is kept") from err
        raise
    return path


def checkpoint_dict(model: SegmentationModel, names: dict[int, str], imgsz: int | tuple[int, int], **extra: Any) -> dict:
    """The on-disk layout: only tensors, numbers, strings, lists and dicts (weights_only-loadable)."""
    size = [imgsz, imgsz] if isinstance(imgsz, int) else list(imgsz)
    return {
        "format": CHECKPOINT_FORMAT,
        "edgeseg_version": edgeseg_version(),
        "task": "segment",
        "model_config": model.cfg.to_dict(),
        "names": {int(k): str(v) for k, v in names.items()},
        "imgsz": size,
        "stride": [8, 16, 32],
        "state_dict": {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)  # whatever layout trained
                       for k, v in model.state_dict().items()},
        **extra,
    }


def save_checkpoint(path: str | Path, model: SegmentationModel, names: dict[int, str], imgsz=640, **extra: Any) -> Path:
    return atomic_torch_save(checkpoint_dict(model, names, imgsz, **extra), path)


def _build(cfg: ModelConfig, state: dict[str, torch.Tensor], origin: str) -> SegmentationModel:
    model = SegmentationModel(cfg)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)) if keys
        )
        raise ModelFormatError(f"{origin}: weights do not fit a YOLOv8-seg {cfg.name} with {cfg.nc} classes ({detail})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelFormatError(f"{origin}: {len(bad)} weight tensors hold NaN or Inf (e.g. {', '.join(bad[:3])}): a "
                               f"training run that diverged; use an earlier checkpoint")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def _load_edgeseg(path: Path) -> LoadedModel:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeFileError(f"{path}: refusing to load: {str(err).splitlines()[0]}") from None
    except Exception as err:
        raise ModelFormatError(f"{path}: corrupt checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelFormatError(f"{path}: not an edgeseg or Ultralytics YOLOv8-seg checkpoint")
    if ckpt.get("task", "segment") != "segment":
        raise ModelFormatError(f"{path}: this is a {ckpt.get('task')} checkpoint; edgeseg needs a segmentation model")
    cfg = ModelConfig.from_dict(ckpt["model_config"], str(path))
    names = parse_names(ckpt["names"], str(path))
    model = _build(cfg, ckpt["state_dict"], str(path))
    meta = model.metadata(names, imgsz=tuple(ckpt.get("imgsz", (640, 640))), dynamic=True,
                          source_sha256=sha256_file(path))
    return LoadedModel(model, meta, ckpt, "edgeseg")


def _load_ultralytics(path: Path) -> LoadedModel:
    data = read_ultralytics_checkpoint(path)
    state = {k: torch.from_numpy(v.copy()) for k, v in data["state_dict"].items()}
    model = _build(data["config"], state, str(path))
    meta = model.metadata(data["names"], imgsz=(640, 640), dynamic=True, source_sha256=sha256_file(path))
    return LoadedModel(model, meta, {"imported_from": "ultralytics", **data["info"]}, "ultralytics")


def load_checkpoint(path: str | Path) -> LoadedModel:
    """Load any supported .pt without running code from it: the pickle's globals decide the reader."""
    path = Path(path)
    refs = pickle_globals(path)
    if any(ref.startswith("ultralytics.") for ref in refs):
        return _load_ultralytics(path)
    refused = sorted(ref for ref in refs if not is_allowed_global(ref, allow_inert=False))
    if refused:
        raise UnsafeFileError(
            f"{path}: refusing to load: the file references {', '.join(refused[:3])}, which an edgeseg checkpoint "
            f"never contains (loading it with plain pickle could run code)"
        )
    return _load_edgeseg(path)
