"""YOLOv8-seg as a layer list (backbone + PAN neck + Segment head), built for any scale and class count.

Layer indices and module names follow the published architecture, so state-dict keys (model.<i>.<...>)
line up one-to-one with checkpoints in the reference layout.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig
from .nn.blocks import C2f, Concat, Conv, SPPF
from .nn.head import Segment

# (from, repeats, module, args) with channel counts before width scaling; "nc" etc. are filled in below.
LAYOUT: list[tuple[int | tuple[int, ...], int, str, tuple]] = [
    (-1, 1, "Conv", (64, 3, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C2f", (128, True)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C2f", (256, True)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 6, "C2f", (512, True)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 3, "C2f", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C2f", (512,)),  # 12
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C2f", (256,)),  # 15 P3 out
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 12), 1, "Concat", ()),
    (-1, 3, "C2f", (512,)),  # 18 P4 out
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 9), 1, "Concat", ()),
    (-1, 3, "C2f", (1024,)),  # 21 P5 out
    ((15, 18, 21), 1, "Segment", ()),
]


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


class SegmentationModel(nn.Module):
    """YOLOv8-seg. eval(): dict(boxes, scores, mask_coeffs, protos); train(): dict(feats, mask_coeffs, protos)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        layers, self.froms, channels = [], [], []
        for i, (src, n, kind, args) in enumerate(LAYOUT):
            layer, c_out = self._build_layer(kind, src, n, args, channels)
            layers.append(layer)
            self.froms.append(src)
            channels.append(c_out)
        self.model = nn.Sequential(*layers)
        self.saved = {j for f in self.froms for j in ((f,) if isinstance(f, int) else f) if j != -1}
        self.head.bias_init()

    def _build_layer(self, kind: str, src, n: int, args: tuple, channels: list[int]) -> tuple[nn.Module, int]:
        cfg = self.cfg
        c_in = channels[src] if isinstance(src, int) and channels else (channels[-1] if channels else 3)
        scale_c = lambda c: make_divisible(min(c, cfg.max_channels) * cfg.width, 8)  # noqa: E731
        repeats = max(round(n * cfg.depth), 1) if n > 1 else n
        if kind == "Conv":
            c_out = scale_c(args[0])
            return Conv(c_in, c_out, *args[1:]), c_out
        if kind == "C2f":
            c_out = scale_c(args[0])
            return C2f(c_in, c_out, repeats, *args[1:]), c_out
        if kind == "SPPF":
            c_out = scale_c(args[0])
            return SPPF(c_in, c_out, *args[1:]), c_out
        if kind == "Upsample":
            return nn.Upsample(None, 2, "nearest"), c_in
        if kind == "Concat":
            return Concat(1), sum(channels[j] for j in src)
        if kind == "Segment":
            ch = tuple(channels[j] for j in src)
            npr = make_divisible(min(cfg.proto_channels, cfg.max_channels) * cfg.width, 8)
            return Segment(cfg.nc, cfg.num_masks, npr, ch, cfg.reg_max), 0
        raise ValueError(f"unknown layer kind {kind}")

    @property
    def head(self) -> Segment:
        return self.model[-1]

    @property
    def stride(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> dict:
        outputs: list[torch.Tensor | None] = []
        for i, (layer, src) in enumerate(zip(self.model, self.froms)):
            if isinstance(src, int):
                inp = x if src == -1 else outputs[src]
            else:
                inp = [x if j == -1 else outputs[j] for j in src]
            x = layer(inp)
            outputs.append(x if i in self.saved else None)
        return x

    def fuse(self) -> "SegmentationModel":
        """Fold every BatchNorm into its conv (inference speed); irreversible, so call it on a copy for training."""
        for module in self.modules():
            if isinstance(module, Conv) and hasattr(module, "bn"):
                module.fuse()
        return self


def build_model(cfg: ModelConfig, seed: int | None = 0) -> SegmentationModel:
    """A freshly initialised model; with a seed the weights are reproducible."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SegmentationModel(cfg)
    return SegmentationModel(cfg)
