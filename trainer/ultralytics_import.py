"""Import Ultralytics segmentation checkpoints (yolov8n-seg.pt, yolo11n-seg.pt, yolo26n-seg.pt, a user's best.pt)
without ultralytics installed.

The checkpoint is read through safe_pickle (nothing from the file runs). From the pickled model we take its module
tree's parameters and buffers (as a flat state dict), `yaml` (its layer rows, scale, nc), `names` and `stride`.
The family is the one whose description has the same layer rows (from, repeats, block); the weights then load into
our SegmentationModel, whose layer names match the reference layout one to one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.runtime.errors import ModelFormatError
from edgeseg.runtime.metadata import parse_names

from .config import ModelConfig
from .family import Family, families
from .safe_pickle import InertObject, safe_load

SEGMENT_HEADS = ("Segment", "Segment26")
BLOCK_ALIASES = {"nn.Upsample": "Upsample", "Segment26": "Segment"}  # the reference's row names -> ours

TASK_BY_CLASS = {
    "SegmentationModel": "segment", "DetectionModel": "detect", "ClassificationModel": "classify",
    "PoseModel": "pose", "OBBModel": "obb", "WorldModel": "detect", "RTDETRDetectionModel": "detect",
}


def flatten_state(module: InertObject, prefix: str = "") -> dict[str, np.ndarray]:
    """Parameters and persistent buffers of an inert module tree, keyed like torch's state_dict()."""
    state = module.state
    out: dict[str, np.ndarray] = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, value in (state.get(kind) or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = np.asarray(value)
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, InertObject):
            out.update(flatten_state(child, f"{prefix}{name}."))
    return out


def _head_class(model: InertObject) -> str:
    seq = (model.state.get("_modules") or {}).get("model")
    layers = list((seq.state.get("_modules") or {}).values()) if isinstance(seq, InertObject) else []
    return layers[-1].class_name if layers and isinstance(layers[-1], InertObject) else "?"


def _rows(yaml_cfg: dict) -> list[tuple]:
    rows = list(yaml_cfg.get("backbone") or []) + list(yaml_cfg.get("head") or [])
    return [(row[0] if isinstance(row[0], int) else tuple(row[0]), int(row[1]), BLOCK_ALIASES.get(row[2], row[2]))
            for row in rows if isinstance(row, (list, tuple)) and len(row) >= 3]


def family_of(yaml_cfg: dict, path: Path) -> Family:
    """The family whose layer rows (from, repeats, block) are the checkpoint's."""
    rows = _rows(yaml_cfg)
    for family in families().values():
        if [(src, n, kind) for src, n, kind, _ in family.layers] == rows:
            return family
    blocks = sorted({kind for _, _, kind in rows})
    raise ModelFormatError(f"{path}: an architecture no known family describes (blocks {', '.join(blocks)[:160]}; "
                           f"known families: {', '.join(families())})")


def _scale_of(yaml_cfg: dict, family: Family, path: Path) -> tuple[str | None, float, float, int]:
    scale = yaml_cfg.get("scale")
    if scale in family.scales:
        depth, width, max_ch = family.scales[scale]
        table = yaml_cfg.get("scales") or {}
        if scale in table:
            depth, width, max_ch = (float(table[scale][0]), float(table[scale][1]), int(table[scale][2]))
        return scale, depth, width, max_ch
    if "depth_multiple" in yaml_cfg and "width_multiple" in yaml_cfg:
        return None, float(yaml_cfg["depth_multiple"]), float(yaml_cfg["width_multiple"]), int(yaml_cfg.get("max_channels", 1024))
    raise ModelFormatError(f"{path}: the checkpoint's model yaml names no scale (n/s/m/l/x) or depth/width multiples")


def read_ultralytics_checkpoint(path: str | Path) -> dict[str, Any]:
    """-> {'config': ModelConfig, 'state_dict': {key: ndarray}, 'names': {i: name}, 'stride': [...], 'info': {...}}."""
    path = Path(path)
    ckpt = safe_load(path)
    if not isinstance(ckpt, dict):
        raise ModelFormatError(f"{path}: expected a checkpoint dict, found {type(ckpt).__name__}")
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, InertObject):
        raise ModelFormatError(f"{path}: the checkpoint holds no pickled model under 'ema' or 'model'")
    task = TASK_BY_CLASS.get(model.class_name, model.class_name)
    head = _head_class(model)
    if task != "segment" or head not in SEGMENT_HEADS:
        raise ModelFormatError(
            f"{path}: this is a {task} checkpoint ({model.class_name} with a {head} head); edgeseg needs a "
            f"segmentation model (SegmentationModel with a {' or '.join(SEGMENT_HEADS)} head)"
        )
    yaml_cfg = model.state.get("yaml")
    if not isinstance(yaml_cfg, dict):
        raise ModelFormatError(f"{path}: the checkpoint's model has no yaml description")
    family = family_of(yaml_cfg, path)
    scale, depth, width, max_ch = _scale_of(yaml_cfg, family, path)
    names = parse_names(model.state.get("names") or {i: str(i) for i in range(int(yaml_cfg.get("nc", 80)))}, str(path))
    head_args = _segment_args(yaml_cfg)
    cfg = ModelConfig(depth, width, max_ch, nc=len(names), num_masks=head_args[0], proto_channels=head_args[1],
                      scale=scale, family=family.name)
    stride = model.state.get("stride")
    return {
        "config": cfg,
        "state_dict": flatten_state(model),
        "names": names,
        "stride": [int(s) for s in np.asarray(stride).ravel()] if stride is not None else [8, 16, 32],
        "info": {"ultralytics_version": ckpt.get("version"), "date": ckpt.get("date"), "epoch": ckpt.get("epoch")},
    }


def _segment_args(yaml_cfg: dict) -> tuple[int, int]:
    """(num_masks, proto_channels) from the yaml's Segment line, defaulting to the YOLOv8 values."""
    for row in yaml_cfg.get("head") or []:
        if isinstance(row, (list, tuple)) and len(row) >= 4 and row[2] in SEGMENT_HEADS:
            args = list(row[3]) + [None, None, None]
            return int(args[1] or 32), int(args[2] or 256)
    return 32, 256
