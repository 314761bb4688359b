"""The module that gets exported: a fused copy of the model with named, layout-specific tuple outputs.

The user's model is never touched (it is deep-copied before fusing).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from edgeseg.runtime.layouts import OUTPUT_NAMES

INPUT_NAME = "images"


class ExportWrapper(nn.Module):
    """edgeseg layout: boxes (B,N,4) xyxy px, scores (B,N,nc), mask_coeffs (B,N,nm), protos (B,nm,h,w).
    edgeseg-raw layout: box_logits (B,4*16,N) before the DFL instead of boxes (decoded on the host).
    ultralytics layout: output0 (B, 4+nc+nm, N) with xywh boxes, output1 protos."""

    def __init__(self, model: nn.Module, layout: str = "edgeseg", end2end: bool = False):
        super().__init__()
        self.model = copy.deepcopy(model).float().eval()
        self.model.head.end2end = end2end
        self.model.fuse()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.head.decode = layout != "edgeseg-raw"  # raw: end before the DFL, the host decodes
        self.layout = layout
        self.output_names = OUTPUT_NAMES[layout]

    def forward(self, images: torch.Tensor):
        out = self.model(images)
        if self.layout == "edgeseg":
            return out["boxes"], out["scores"], out["mask_coeffs"], out["protos"]
        if self.layout == "edgeseg-raw":
            return out["box_logits"], out["scores"], out["mask_coeffs"], out["protos"]
        boxes = out["boxes"]
        xywh = torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)
        return torch.cat((xywh, out["scores"], out["mask_coeffs"]), -1).transpose(1, 2), out["protos"]
