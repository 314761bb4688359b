"""Model summary: per-layer table, parameter count and FLOPs (torch.utils.flop_counter, no extra dependency).

FLOPs follow the usual convention (2 x multiply-accumulates for convolutions, 2 per element for
unfused BatchNorm); activations, pooling and resizes are not counted.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .model import SegmentationModel

aten = torch.ops.aten


def _batch_norm_flops(*_args, out_shape=None, **_kwargs) -> int:
    shape = out_shape[0] if isinstance(out_shape, (tuple, list)) and isinstance(out_shape[0], (tuple, list, torch.Size)) else out_shape
    return 2 * math.prod(shape)


_EXTRA_FORMULAS = {
    aten._native_batch_norm_legit_no_training: _batch_norm_flops,
    aten.native_batch_norm: _batch_norm_flops,
    aten._native_batch_norm_legit: _batch_norm_flops,
}


def count_flops(model: torch.nn.Module, imgsz: int | tuple[int, int] = 640) -> int:
    """FLOPs of one forward pass at batch 1 (model left in its original train/eval mode)."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        x = torch.zeros(1, 3, h, w, dtype=param.dtype, device=param.device)
        with FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter, torch.no_grad():
            model(x)
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)


def layer_table(model: SegmentationModel) -> list[dict[str, Any]]:
    """Index, source layers, repeats, parameters and module type of each top-level layer."""
    rows = []
    for i, (layer, src) in enumerate(zip(model.model, model.froms)):
        repeats = len(layer.m) if hasattr(layer, "m") and isinstance(layer.m, torch.nn.ModuleList) else 1
        rows.append({
            "index": i,
            "from": src if isinstance(src, int) else list(src),
            "n": repeats,
            "params": sum(p.numel() for p in layer.parameters()),
            "module": type(layer).__name__,
        })
    return rows


def model_info(model: SegmentationModel, imgsz: int = 640) -> dict[str, Any]:
    """What `edgeseg info` prints: layers, params, gradients, GFLOPs at imgsz."""
    params = sum(p.numel() for p in model.parameters())
    return {
        "name": model.cfg.name,
        "config": model.cfg.to_dict(),
        "layers": len(model.model),
        "leaf_modules": sum(1 for m in model.modules() if not any(True for _ in m.children())),
        "params": params,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "imgsz": imgsz,
        "gflops": round(count_flops(model, imgsz) / 1e9, 3),
        "table": layer_table(model),
    }
