"""Deterministic test models whose predictions are non-empty without training."""
from __future__ import annotations


def make_seeded_model(scale: str = "n", nc: int = 80, seed: int = 0):
    """YOLOv8-seg with seeded weights: BN statistics perturbed to trained-like scale, and random class/box head
    weights around a -3.5 class bias, so scores vary with the image (a few percent) instead of sitting at the prior."""
    import torch
    from dataclasses import replace

    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.model import build_model

    model = build_model(replace(config_from_name(f"yolov8{scale}-seg"), nc=nc), seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=gen) * 0.4 - 0.2)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
        for branch, std in [(b, 1.0) for b in model.head.cv3] + [(b, 0.05) for b in model.head.cv2]:
            branch[-1].weight.copy_(torch.randn(branch[-1].weight.shape, generator=gen) * std)
        for branch in model.head.cv3:
            branch[-1].bias.fill_(-3.5)
    return model.eval()
