"""Optimiser, LR schedule, warmup and EMA, as the reference (Ultralytics 8.4.190) runs them: param groups
[weights with decay, norm weights, biases], optimizer=auto picks AdamW with an lr fitted to the class count (and
no bias warmup) for short schedules, warmup lasts min(warmup_epochs, epochs - 1) epochs."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

def build_optimizer(model: nn.Module, name: str, lr0: float, momentum: float, weight_decay: float,
                    nc: int, iterations: int) -> tuple[torch.optim.Optimizer, str, float, float, bool]:
    """Three parameter groups, tagged by `param_group`: decayed weights, norm weights (no decay), biases (no decay;
    their own warmup start). name="auto" picks SGD(0.01) for long schedules (>10k iterations; the reference's MuSGD
    is not reproduced), else AdamW with a class-count-fitted lr. Returns (optimizer, name, lr0, momentum,
    whether the bias warmup start applies: not for auto, as in the reference)."""
    bias_warmup = name != "auto"
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
    groups = [{"params": weights, "weight_decay": weight_decay, "param_group": "weight"},
              {"params": norms, "weight_decay": 0.0, "param_group": "bn"},
              {"params": biases, "weight_decay": 0.0, "param_group": "bias"}]
    if name in ("Adam", "AdamW"):
        opt = getattr(torch.optim, name)(groups, lr=lr0, betas=(momentum, 0.999))
    elif name == "SGD":
        opt = torch.optim.SGD(groups, lr=lr0, momentum=momentum, nesterov=True)
    else:
        raise ValueError(f"unknown optimizer '{name}' (auto, SGD, Adam, AdamW)")
    return opt, name, lr0, momentum, bias_warmup


def lr_lambda(kind: str, epochs: int, lrf: float):
    """Multiplier of lr0 at each epoch: linear or cosine from 1 to lrf."""
    if kind == "cosine":
        return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return lambda x: max(1 - x / epochs, 0) * (1.0 - lrf) + lrf


def warmup_step(opt: torch.optim.Optimizer, ni: int, nw: int, epoch: int, lf, lr0: float, momentum: float,
                warmup_bias_lr: float = 0.1, warmup_momentum: float = 0.8) -> None:
    """During the first nw iterations: bias lr falls from warmup_bias_lr, other lrs rise from 0, momentum rises."""
    for group in opt.param_groups:
        start = warmup_bias_lr if group.get("param_group") == "bias" else 0.0
        group["lr"] = float(_interp(ni, nw, start, lr0 * lf(epoch)))
        if "momentum" in group:  # SGD only: Adam's beta1 stays as set, as in the reference
            group["momentum"] = float(_interp(ni, nw, warmup_momentum, momentum))


def _interp(x: float, x1: float, y0: float, y1: float) -> float:
    return y0 + (y1 - y0) * min(max(x / x1, 0.0), 1.0) if x1 > 0 else y1


def warmup_iterations(warmup_epochs: float, epochs: int, batches: int) -> int:
    """Warmup length in iterations; the last epoch always trains at the scheduled lr (0: no warmup)."""
    return round(min(warmup_epochs, max(epochs - 1, 0)) * batches) if warmup_epochs > 0 else 0


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
