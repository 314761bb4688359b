"""Model summary: per-layer table, parameter count and GFLOPs, counted the way the reference's `model.info()` counts
them (ultralytics-thop's module rules, measured against the real tool: tests/fixtures/ultralytics_8_4_190/
model_info.json): multiply-accumulates of each Conv2d (output elements x input channels per group x kernel area)
and ConvTranspose2d (input elements x output channels per group x kernel area), 4 per element for each affine
BatchNorm, the two attention matmuls (q.k and attn.v per head), nothing for activations, pooling, nearest
upsampling or the DFL softmax; the total x 2. Like the reference's, a YOLO26 forward also runs the branch it does
not return.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .model import SegmentationModel
from .nn.attention import Attention


def _conv_ops(module: nn.Module, inputs, output) -> int:
    x = inputs[0]
    kernel = math.prod(module.weight.shape[2:])
    if isinstance(module, nn.ConvTranspose2d):
        return x.numel() * (module.out_channels // module.groups) * kernel
    return output.numel() * (module.in_channels // module.groups) * kernel


def _norm_ops(module: nn.Module, inputs, output) -> int:
    return 2 * inputs[0].numel() * (2 if module.affine else 1)


def _attention_ops(module: nn.Module, inputs, output) -> int:
    b, _, h, w = inputs[0].shape
    return b * module.num_heads * (h * w) ** 2 * (module.key_dim + module.head_dim)


RULES = {nn.Conv2d: _conv_ops, nn.ConvTranspose2d: _conv_ops, nn.BatchNorm2d: _norm_ops, Attention: _attention_ops}


def count_flops(model: torch.nn.Module, imgsz: int | tuple[int, int] = 640) -> int:
    """FLOPs of one forward pass at batch 1 (model left in its original train/eval mode)."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    total, hooks = [0], []
    for module in model.modules():
        rule = RULES.get(type(module))
        if rule is not None:
            hooks.append(module.register_forward_hook(lambda m, i, o, rule=rule: total.__setitem__(0, total[0] + rule(m, i, o))))
    was_training, head = model.training, getattr(model, "head", None)
    model.eval()
    if head is not None:
        head.run_both_branches = True
    try:
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, h, w, dtype=param.dtype, device=param.device))
        return 2 * total[0]
    finally:
        for hook in hooks:
            hook.remove()
        if head is not None:
            head.run_both_branches = False
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
