"""One builder for every model family: the family's description (trainer/families/*.yaml) is a list of layer rows,
and BLOCKS turns each row into a module. Layer indices and module names follow the published architectures, so
state-dict keys (model.<i>.<...>) line up one-to-one with checkpoints in the reference layout.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig
from .family import Family, get_family
from .nn.attention import C2PSA
from .nn.blocks import C2f, C3k2, Concat, Conv, SPPF
from .nn.head import Segment


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


@dataclass(frozen=True)
class LayerContext:
    """What a block builder needs besides its own row: input width(s), repeats, and the config/family."""

    cfg: ModelConfig
    family: Family
    c_in: int
    inputs: tuple[int, ...]  # widths of every input (Concat, Segment)
    repeats: int

    def width(self, channels: int) -> int:
        return make_divisible(min(channels, self.cfg.max_channels) * self.cfg.width, 8)


def _conv(ctx: LayerContext, c2: int, k: int = 1, s: int = 1):
    return Conv(ctx.c_in, ctx.width(c2), k, s), ctx.width(c2)


def _c2f(ctx: LayerContext, c2: int, shortcut: bool = False):
    return C2f(ctx.c_in, ctx.width(c2), ctx.repeats, shortcut), ctx.width(c2)


def _c3k2(ctx: LayerContext, c2: int, c3k: bool = False, e: float = 0.5, attn: bool = False):
    c3k = c3k or ctx.cfg.scale in ctx.family.c3k_scales
    return C3k2(ctx.c_in, ctx.width(c2), ctx.repeats, c3k, e, attn), ctx.width(c2)


def _sppf(ctx: LayerContext, c2: int, k: int = 5, n: int = 3, shortcut: bool = False, cv1_act: bool = True):
    return SPPF(ctx.c_in, ctx.width(c2), k, n, shortcut, cv1_act), ctx.width(c2)


def _c2psa(ctx: LayerContext, c2: int):
    return C2PSA(ctx.c_in, ctx.width(c2), ctx.repeats), ctx.width(c2)


def _segment(ctx: LayerContext):
    cfg, head = ctx.cfg, ctx.family.head
    npr = ctx.width(cfg.proto_channels)
    return Segment(cfg.nc, cfg.num_masks, npr, ctx.inputs, cfg.reg_max or head.reg_max, head.depthwise_cls,
                   head.end2end, head.proto26), 0


BLOCKS: dict[str, Callable[..., tuple[nn.Module, int]]] = {
    "Conv": _conv,
    "C2f": _c2f,
    "C3k2": _c3k2,
    "SPPF": _sppf,
    "C2PSA": _c2psa,
    "Upsample": lambda ctx: (nn.Upsample(None, 2, "nearest"), ctx.c_in),
    "Concat": lambda ctx: (Concat(1), sum(ctx.inputs)),
    "Segment": _segment,
}


class SegmentationModel(nn.Module):
    """A YOLO segmentation model of any family. eval(): dict(boxes, scores, mask_coeffs, protos);
    train(): dict(feats, mask_coeffs, protos[, one2one, semantic])."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        family = get_family(cfg.family)
        layers, self.froms, channels = [], [], []
        for src, n, kind, args in family.layers:
            if kind not in BLOCKS:
                raise ValueError(f"{family.origin}: unknown block '{kind}' (known: {', '.join(BLOCKS)})")
            sources = (src,) if isinstance(src, int) else tuple(src)
            inputs = tuple(channels[j] if channels else 3 for j in sources)
            repeats = max(round(n * cfg.depth), 1) if n > 1 else n
            layer, c_out = BLOCKS[kind](LayerContext(cfg, family, inputs[0], inputs, repeats), *args)
            layers.append(layer)
            self.froms.append(src)
            channels.append(c_out)
        self.model = nn.Sequential(*layers)
        self.saved = {j for f in self.froms for j in ((f,) if isinstance(f, int) else f) if j != -1}
        self.head.bias_init()

    @property
    def head(self) -> Segment:
        return self.model[-1]

    @property
    def stride(self) -> int:
        return 32

    @property
    def end2end(self) -> bool:
        """Its inference outputs are final detections (YOLO26's one-to-one head): no NMS after it."""
        return bool(self.head.end2end and self.head.has_one2one)

    def with_head(self, end2end: bool) -> "SegmentationModel":
        """A copy whose inference runs the one-to-one head (end2end) or the NMS head, this model untouched: an
        export, and the checkpoint it is verified against, must run the same head."""
        if end2end and not self.head.has_one2one:
            from edgeseg.runtime.errors import UsageError

            raise UsageError(f"--end2end needs a model with a one-to-one head (YOLO26); {self.cfg.name} has none")
        model = copy.deepcopy(self)
        model.head.end2end = end2end
        return model

    def metadata(self, names: dict[int, str], **fields):
        """The metadata that describes this model's outputs (edgeseg.runtime.ModelMetadata)."""
        from edgeseg.runtime.metadata import ModelMetadata

        return ModelMetadata(names=names, end2end=self.end2end, architecture=self.cfg.to_dict(), **fields)

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
