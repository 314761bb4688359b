"""The YOLO segmentation heads (written from the published architectures): decoupled box / class / mask-coefficient
branches per level and mask prototypes. Variants are parameters, not subclasses per family:

- YOLOv8: 16-bin DFL boxes, 3x3 class convs, Proto on the P3 map;
- YOLO11: the same with depthwise-separable class convs;
- YOLO26: direct box regression (reg_max 1, no DFL), a second one-to-one branch whose top-k outputs need no NMS
  (end-to-end; selected by `end2end = True`, e.g. `export --end2end`), and Proto26, which fuses P3-P5 before the
  prototypes (plus a semantic branch used only in training).

Training returns per-level maps; inference returns the canonical decoded dict every backend produces:
boxes (B,N,4) xyxy input pixels, scores (B,N,nc) probabilities, mask_coeffs (B,N,nm), protos (B,nm,H/4,W/4).
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Conv, DWConv


class DFL(nn.Module):
    """Distribution focal loss integral: softmax over reg_max bins, expectation via a fixed 1x1 conv."""

    def __init__(self, c1: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # (B, 4*c1, N)
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Proto(nn.Module):
    """Mask prototypes at 1/4 of the input: conv, 2x transposed-conv upsample, conv, conv to nm maps."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32):
        super().__init__()
        self.cv1 = Conv(c1, c_, k=3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, k=3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Proto26(Proto):
    """YOLO26 prototypes: P4/P5 refined to P3's width, upsampled and added to P3, fused, then Proto; `semseg` is a
    per-class semantic map used only as a training signal."""

    def __init__(self, ch: tuple[int, ...], c_: int = 256, c2: int = 32, nc: int = 80):
        super().__init__(c_, c_, c2)
        self.feat_refine = nn.ModuleList(Conv(x, ch[0], k=1) for x in ch[1:])
        self.feat_fuse = Conv(ch[0], c_, k=3)
        self.semseg = nn.Sequential(Conv(ch[0], c_, k=3), Conv(c_, c_, k=3), nn.Conv2d(c_, nc, 1))

    def fused(self, xs: list[torch.Tensor]) -> torch.Tensor:
        feat = xs[0]
        for i, refine in enumerate(self.feat_refine):
            feat = feat + F.interpolate(refine(xs[i + 1]), scale_factor=2 ** (i + 1), mode="nearest")
        return feat

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return super().forward(self.feat_fuse(self.fused(xs)))


def make_anchors(feats: list[torch.Tensor], strides: tuple[float, ...], offset: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (N,2) in grid units and per-anchor strides (N,1), level by level."""
    points, stride_col = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[2:]
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        gy, gx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((gx, gy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(stride), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_col)


def dist2bbox(distance: torch.Tensor, anchor_points: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """ltrb distances -> xyxy boxes (same units as the anchors)."""
    lt, rb = distance.chunk(2, dim)
    return torch.cat((anchor_points - lt, anchor_points + rb), dim)


def _branch(c_in: int, c_mid: int, c_out: int, depthwise: bool = False) -> nn.Sequential:
    """Two 3x3 convs and a 1x1 output conv; depthwise: each 3x3 conv becomes depthwise 3x3 + pointwise 1x1."""
    if depthwise:
        return nn.Sequential(nn.Sequential(DWConv(c_in, c_in, 3), Conv(c_in, c_mid, 1)),
                             nn.Sequential(DWConv(c_mid, c_mid, 3), Conv(c_mid, c_mid, 1)), nn.Conv2d(c_mid, c_out, 1))
    return nn.Sequential(Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3), nn.Conv2d(c_mid, c_out, 1))


class Segment(nn.Module):
    """Detect + mask branch, for every family (see the module docstring)."""

    def __init__(self, nc: int, nm: int, npr: int, ch: tuple[int, ...], reg_max: int = 16,
                 depthwise_cls: bool = False, end2end: bool = False, proto26: bool = False):
        super().__init__()
        self.nc, self.nm, self.nl, self.reg_max = nc, nm, len(ch), reg_max
        self.no = nc + reg_max * 4
        c2, c3, c4 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100)), max(ch[0] // 4, nm)
        self.cv2 = nn.ModuleList(_branch(x, c2, 4 * reg_max) for x in ch)
        self.cv3 = nn.ModuleList(_branch(x, c3, nc, depthwise_cls) for x in ch)
        self.dfl = DFL(reg_max) if reg_max > 1 else None
        self.proto = Proto26(ch, npr, nm, nc) if proto26 else Proto(ch[0], npr, nm)
        self.cv4 = nn.ModuleList(_branch(x, c4, nm) for x in ch)
        if end2end:
            self.one2one_cv2, self.one2one_cv3, self.one2one_cv4 = (copy.deepcopy(m) for m in (self.cv2, self.cv3, self.cv4))
        self.strides = (8.0, 16.0, 32.0)[: self.nl]  # python floats: exported graphs get constants, not .item() calls
        self.decode = True  # False: stop before the DFL (raw box logits), for graphs that decode on the host
        # inference uses the one-to-one branch (final detections, no NMS) only when asked, as the reference does
        # (8.4.190: predict/val/export default to the one-to-many branch + NMS; nms=False selects one-to-one)
        self.end2end = False
        self.maps_in_eval = False  # eval mode returning the training maps (validation losses)
        self.run_both_branches = False  # eval also runs the unused branch (FLOP counts like the reference's)

    @property
    def has_one2one(self) -> bool:
        return hasattr(self, "one2one_cv2")

    def bias_init(self) -> None:
        """Box bias 2.0 and a class bias giving ~5 objects per 640 image, as the reference (8.4.190) initialises."""
        heads = [(self.cv2, self.cv3)] + ([(self.one2one_cv2, self.one2one_cv3)] if self.has_one2one else [])
        for box_head, cls_head in heads:
            for box, cls, s in zip(box_head, cls_head, self.strides):
                box[-1].bias.data[:] = 2.0
                cls[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)

    def _maps(self, xs: list[torch.Tensor], one2one: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-level (box + class) maps and the flattened (B, nm, N) coefficients of one branch."""
        box, cls, mask = (self.one2one_cv2, self.one2one_cv3, self.one2one_cv4) if one2one else (self.cv2, self.cv3, self.cv4)
        b = xs[0].shape[0]
        coeffs = torch.cat([mask[i](xs[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        return [torch.cat((box[i](xs[i]), cls[i](xs[i])), 1) for i in range(self.nl)], coeffs

    def forward(self, xs: list[torch.Tensor]) -> dict:
        protos = self.proto(xs) if isinstance(self.proto, Proto26) else self.proto(xs[0])
        if self.training or self.maps_in_eval:
            feats, coeffs = self._maps(xs, one2one=False)
            out = {"feats": feats, "mask_coeffs": coeffs, "protos": protos}
            if self.has_one2one:  # the one-to-one branch learns on detached features (it never steers the backbone)
                feats_o2o, coeffs_o2o = self._maps([x.detach() for x in xs], one2one=True)
                out["one2one"] = {"feats": feats_o2o, "mask_coeffs": coeffs_o2o, "protos": protos.detach()}
            if isinstance(self.proto, Proto26):
                out["semantic"] = self.proto.semseg(self.proto.fused(xs))
            return out
        one2one = self.end2end and self.has_one2one
        if self.run_both_branches and self.has_one2one:
            self._maps(xs, one2one=not one2one)
        return self._decode(*self._maps(xs, one2one=one2one), protos)

    def _decode(self, feats: list[torch.Tensor], coeffs: torch.Tensor, protos: torch.Tensor) -> dict:
        b = protos.shape[0]
        flat = torch.cat([f.view(b, self.no, -1) for f in feats], 2)
        box_logits, cls_logits = flat.split((self.reg_max * 4, self.nc), 1)
        scores = cls_logits.sigmoid().transpose(1, 2)
        if not self.decode:
            return {"box_logits": box_logits, "scores": scores, "mask_coeffs": coeffs.transpose(1, 2), "protos": protos}
        anchors, stride = make_anchors(feats, self.strides)
        dist = self.dfl(box_logits) if self.dfl is not None else box_logits
        boxes = dist2bbox(dist.transpose(1, 2), anchors.unsqueeze(0)) * stride.unsqueeze(0)
        return {"boxes": boxes, "scores": scores, "mask_coeffs": coeffs.transpose(1, 2), "protos": protos}
