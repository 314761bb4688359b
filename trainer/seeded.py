"""Deterministic non-trivial weights for tests and benchmarks: predictions that are non-empty, varied and stable
without training (a random-init model detects nothing at usable thresholds)."""
from __future__ import annotations

import numpy as np


def make_seeded_model(scale: str = "n", nc: int = 80, seed: int = 0):
    """YOLOv8-seg with seeded weights whose outputs depend on the image the way a trained model's do:

    BatchNorm statistics are estimated on synthetic photos (so every layer's activations are normalised
    instead of collapsing to a constant), and the final class/box convolutions get random weights around a
    -4 class bias. Scores then vary smoothly from ~0 to ~0.9 across an image, without the exact ties a
    random-init model produces (ties make NMS, and so any prediction-level comparison, unstable).
    """
    import torch
    from dataclasses import replace

    from edgeseg.runtime.datasets.synthetic import make_image
    from edgeseg.runtime.letterbox import letterbox, to_input_tensor
    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.model import build_model

    model = build_model(replace(config_from_name(f"yolov8{scale}-seg"), nc=nc), seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    rng = np.random.default_rng(seed)
    images = [letterbox(make_image(rng, 320, 320)[0], 320)[0] for _ in range(8)]
    x = torch.from_numpy(to_input_tensor(images))
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_running_stats()
                mod.momentum = None  # cumulative average over the calibration batch
        model.train()(x)
        for branch, std in [(b, 0.04) for b in model.head.cv3] + [(b, 0.05) for b in model.head.cv2]:
            branch[-1].weight.copy_(torch.randn(branch[-1].weight.shape, generator=gen) * std)
        for branch in model.head.cv3:
            branch[-1].bias.fill_(-4.0)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = 0.03
    return model.eval()
