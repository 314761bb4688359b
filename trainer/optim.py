"""Optimiser, LR schedule, warmup and EMA, following the YOLOv8 recipe (no weight decay on norms and biases)."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

NOMINAL_BATCH = 64


def build_optimizer(model: nn.Module, name: str, lr0: float, momentum: float, weight_decay: float,
                    nc: int, iterations: int) -> tuple[torch.optim.Optimizer, str, float, float]:
    """Three parameter groups: biases (group 0, warmup bias lr), decayed weights, norm weights (no decay).
    name="auto" picks SGD(0.01) for long schedules (>10k iterations), else AdamW with a class-count-fitted lr."""
    if name == "auto":
        if iterations > 10000:
            name, lr0, momentum = "SGD", 0.01, 0.9
        else:
            name, lr0, momentum = "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9
    biases, weights, norms = [], [], []
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if pname == "bias":
                biases.append(param)
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
                norms.append(param)
            else:
                weights.append(param)
    if name in ("Adam", "AdamW"):
        opt = getattr(torch.optim, name)(biases, lr=lr0, betas=(momentum, 0.999), weight_decay=0.0)
    elif name == "SGD":
        opt = torch.optim.SGD(biases, lr=lr0, momentum=momentum, nesterov=True)
    else:
        raise ValueError(f"unknown optimizer '{name}' (auto, SGD, Adam, AdamW)")
    opt.add_param_group({"params": weights, "weight_decay": weight_decay})
    opt.add_param_group({"params": norms, "weight_decay": 0.0})
    return opt, name, lr0, momentum


def lr_lambda(kind: str, epochs: int, lrf: float):
    """Multiplier of lr0 at each epoch: linear or cosine from 1 to lrf."""
    if kind == "cosine":
        return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return lambda x: max(1 - x / epochs, 0) * (1.0 - lrf) + lrf


def warmup_step(opt: torch.optim.Optimizer, ni: int, nw: int, epoch: int, lf, lr0: float, momentum: float,
                warmup_bias_lr: float = 0.1, warmup_momentum: float = 0.8) -> None:
    """During the first nw iterations: bias lr falls from warmup_bias_lr, other lrs rise from 0, momentum rises."""
    for j, group in enumerate(opt.param_groups):
        start = warmup_bias_lr if j == 0 else 0.0
        group["lr"] = float(_interp(ni, nw, start, lr0 * lf(epoch)))
        if "momentum" in group:
            group["momentum"] = float(_interp(ni, nw, warmup_momentum, momentum))
        if "betas" in group:
            group["betas"] = (float(_interp(ni, nw, warmup_momentum, momentum)), group["betas"][1])


def _interp(x: float, x1: float, y0: float, y1: float) -> float:
    return y0 + (y1 - y0) * min(max(x / x1, 0.0), 1.0) if x1 > 0 else y1


class ModelEMA:
    """Exponential moving average of weights and buffers; decay ramps up as d * (1 - exp(-updates / tau))."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000, updates: int = 0):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
