"""Build checkpoints in the Ultralytics layout without ultralytics installed (for importer tests).

What `ultralytics` writes with `model.save()` / its trainer, and what this builder reproduces as far as the
importer reads it: `torch.save(dict)` (zip format, pickle protocol 2) of
    {"date": str, "version": str, "license": str, "docs": str, "ema": None | <model>, "model": <model>, ...}
where <model> is an `ultralytics.nn.tasks.SegmentationModel` instance pickled with its whole module tree
(NEWOBJ + BUILD of each module's __dict__): `_modules["model"]` is a torch Sequential of layers whose
classes live in `ultralytics.nn.modules.{conv,block,head}` (Conv, C2f, Bottleneck, SPPF, Concat, Segment,
DFL, Proto) and torch.nn (Conv2d, BatchNorm2d, SiLU, MaxPool2d, Upsample, ConvTranspose2d, ModuleList,
Sequential); tensors are fp16 `_rebuild_parameter(_rebuild_tensor_v2(HalfStorage ...))`; plus the model
attributes `yaml` (dict with scale, scales, nc, backbone, head), `names` ({int: str}) and `stride` (tensor).
"""
from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path

import torch
from torch import nn

from edgeseg.trainer.family import get_family
from edgeseg.trainer.model import SegmentationModel

MODULE_OF = {
    "Conv": "ultralytics.nn.modules.conv", "Concat": "ultralytics.nn.modules.conv",
    "C2f": "ultralytics.nn.modules.block", "Bottleneck": "ultralytics.nn.modules.block",
    "SPPF": "ultralytics.nn.modules.block", "DFL": "ultralytics.nn.modules.block",
    "Proto": "ultralytics.nn.modules.block", "Segment": "ultralytics.nn.modules.head",
    "Detect": "ultralytics.nn.modules.head", "Classify": "ultralytics.nn.modules.head",
}
TASKS_MODULE = "ultralytics.nn.tasks"


@contextlib.contextmanager
def fake_ultralytics_modules():
    """Register importable stand-in modules so pickle can name classes 'ultralytics.…'; removed afterwards."""
    created: dict[str, types.ModuleType] = {}
    classes: dict[str, type] = {}
    for name in ["ultralytics", "ultralytics.nn", "ultralytics.nn.modules", TASKS_MODULE, *set(MODULE_OF.values())]:
        created[name] = types.ModuleType(name)
    for cls_name, mod_name in list(MODULE_OF.items()) + [(n, TASKS_MODULE) for n in
                                                       ("SegmentationModel", "DetectionModel", "ClassificationModel")]:
        cls = type(cls_name, (nn.Module,), {"__module__": mod_name})
        setattr(created[mod_name], cls_name, cls)
        classes[cls_name] = cls
    saved = {k: sys.modules.get(k) for k in created}
    sys.modules.update(created)
    try:
        yield classes
    finally:
        for key, old in saved.items():
            if old is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = old


def _yaml_for(model: SegmentationModel, head_name: str) -> dict:
    family = get_family(model.cfg.family)
    rows = [[f if isinstance(f, int) else list(f), n, kind if kind != "Upsample" else "nn.Upsample", list(args)]
            for f, n, kind, args in family.layers]
    rows[-1] = [[15, 18, 21], 1, head_name, ["nc", 32, 256] if head_name == "Segment" else ["nc"]]
    return {"nc": model.cfg.nc, "scales": {k: list(v) for k, v in family.scales.items()}, "scale": model.cfg.scale,
            "backbone": rows[:10], "head": rows[10:], "yaml_file": f"yolov8{model.cfg.scale}-seg.yaml", "ch": 3}


def _retag(module: nn.Module, classes: dict[str, type]) -> None:
    """Give every edgeseg layer the matching ultralytics class identity (same state, foreign class name)."""
    for child in module.modules():
        name = type(child).__name__
        if name in classes and type(child).__module__.startswith("edgeseg"):
            child.__class__ = classes[name]


def write_ultralytics_checkpoint(model: SegmentationModel, path: str | Path, names: dict[int, str] | None = None,
                                 task_class: str = "SegmentationModel", head_name: str = "Segment",
                                 use_ema: bool = False) -> Path:
    """Save `model`'s weights as an Ultralytics-style checkpoint at `path` (the model itself is not modified)."""
    import copy

    with fake_ultralytics_modules() as classes:
        body = copy.deepcopy(model.model).half()
        if head_name != "Segment":
            classes[head_name] = classes.setdefault(head_name, classes["Detect"])
        _retag(body, classes)
        if head_name != "Segment":
            body[-1].__class__ = classes[head_name]
        wrapper = classes[task_class]()
        wrapper.model = body
        wrapper.yaml = _yaml_for(model, head_name)
        wrapper.names = names or {i: str(i) for i in range(model.cfg.nc)}
        wrapper.stride = torch.tensor([8.0, 16.0, 32.0])
        wrapper.task = "segment"
        ckpt = {"date": "2026-11-25T00:00:00", "version": "8.4.190", "license": "AGPL-3.0", "docs": "",
                "epoch": -1, "best_fitness": None, "ema": wrapper if use_ema else None,
                "model": wrapper if not use_ema else None, "optimizer": None, "train_args": {"imgsz": 640}}
        torch.save(ckpt, path)
    return Path(path)
