"""The YOLOv8 segmentation head: decoupled box/class branches with DFL, mask-coefficient branch and Proto."""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import Conv


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


class Segment(nn.Module):
    """Detect + mask branch. Training returns per-level maps; inference returns the canonical decoded dict:
    boxes (B,N,4) xyxy input pixels, scores (B,N,nc) probabilities, mask_coeffs (B,N,nm), protos (B,nm,H/4,W/4).
    """

    def __init__(self, nc: int, nm: int, npr: int, ch: tuple[int, ...], reg_max: int = 16):
        super().__init__()
        self.nc, self.nm, self.nl, self.reg_max = nc, nm, len(ch), reg_max
        self.no = nc + reg_max * 4
        c2 = max(16, ch[0] // 4, reg_max * 4)
        c3 = max(ch[0], min(nc, 100))
        c4 = max(ch[0] // 4, nm)
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)
        self.proto = Proto(ch[0], npr, nm)
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, nm, 1)) for x in ch)
        self.strides = (8.0, 16.0, 32.0)[: self.nl]  # python floats: exported graphs get constants, not .item() calls
        self.decode = True  # False: stop before the DFL (raw box logits), for graphs that decode on the host

    def bias_init(self) -> None:
        """Box bias 1.0; class bias so that initial scores are ~5 objects per 640 image (the YOLOv8 prior)."""
        for box, cls, s in zip(self.cv2, self.cv3, self.strides):
            box[-1].bias.data[:] = 1.0
            cls[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)

    def forward(self, xs: list[torch.Tensor]) -> dict:
        protos = self.proto(xs[0])
        b = protos.shape[0]
        coeffs = torch.cat([self.cv4[i](xs[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        feats = [torch.cat((self.cv2[i](xs[i]), self.cv3[i](xs[i])), 1) for i in range(self.nl)]
        if self.training:
            return {"feats": feats, "mask_coeffs": coeffs, "protos": protos}
        flat = torch.cat([f.view(b, self.no, -1) for f in feats], 2)
        box_logits, cls_logits = flat.split((self.reg_max * 4, self.nc), 1)
        scores = cls_logits.sigmoid().transpose(1, 2)
        if not self.decode:
            return {"box_logits": box_logits, "scores": scores, "mask_coeffs": coeffs.transpose(1, 2), "protos": protos}
        anchors, stride = make_anchors(feats, self.strides)
        boxes = dist2bbox(self.dfl(box_logits).transpose(1, 2), anchors.unsqueeze(0)) * stride.unsqueeze(0)
        return {"boxes": boxes, "scores": scores, "mask_coeffs": coeffs.transpose(1, 2), "protos": protos}
