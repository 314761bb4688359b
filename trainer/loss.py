"""YOLOv8-seg loss: CIoU + DFL box loss, BCE classification, per-instance mask BCE on prototypes x coefficients
cropped to the box and normalised by box area; gains box 7.5 (also for masks), cls 0.5, dfl 1.5."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .assigner import TaskAlignedAssigner
from .boxes import bbox2dist, bbox_iou, dist2bbox
from .nn.head import make_anchors


@dataclass(frozen=True)
class LossGains:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


def crop_mask(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero everything outside each (n,4) xyxy box of (n,h,w) masks."""
    _, h, w = masks.shape
    x1, y1, x2, y2 = torch.chunk(boxes[:, :, None], 4, 1)
    cols = torch.arange(w, device=masks.device, dtype=boxes.dtype)[None, None, :]
    rows = torch.arange(h, device=masks.device, dtype=boxes.dtype)[None, :, None]
    return masks * ((cols >= x1) * (cols < x2) * (rows >= y1) * (rows < y2))


def dfl_loss(pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss: cross-entropy to the two bins around each continuous target distance."""
    left = target.long()
    right = left + 1
    wl = right - target
    wr = 1 - wl
    reg = pred_dist.shape[-1]
    ce_l = F.cross_entropy(pred_dist.view(-1, reg), left.view(-1), reduction="none").view(left.shape)
    ce_r = F.cross_entropy(pred_dist.view(-1, reg), right.clamp(max=reg - 1).view(-1), reduction="none").view(left.shape)
    return (ce_l * wl + ce_r * wr).mean(-1, keepdim=True)


class SegmentationLoss:
    def __init__(self, model, gains: LossGains = LossGains()):
        head = model.head
        self.nc, self.nm, self.reg_max, self.strides = head.nc, head.nm, head.reg_max, head.strides
        self.gains = gains
        self.assigner = TaskAlignedAssigner(self.nc, topk=10, alpha=0.5, beta=6.0)
        self.proj = torch.arange(self.reg_max, dtype=torch.float32)

    def _targets(self, batch: dict, b: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-image padded (B,M,1) labels, (B,M,4) xyxy boxes and (B,M,1) validity."""
        idx = batch["batch_idx"].to(device)
        counts = torch.bincount(idx, minlength=b) if len(idx) else torch.zeros(b, dtype=torch.long, device=device)
        m = int(counts.max()) if len(idx) else 0
        labels = torch.zeros((b, m, 1), device=device)
        boxes = torch.zeros((b, m, 4), device=device)
        for i in range(b):
            sel = idx == i
            k = int(sel.sum())
            if k:
                labels[i, :k, 0] = batch["cls"].to(device)[sel].float()
                boxes[i, :k] = batch["boxes"].to(device)[sel]
        return labels, boxes, (boxes.sum(-1, keepdim=True) > 0).float()

    def __call__(self, preds: dict, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (loss to backpropagate = sum of weighted parts x batch size, detached parts [box, seg, cls, dfl])."""
        feats, coeffs, protos = preds["feats"], preds["mask_coeffs"], preds["protos"]
        b, device = protos.shape[0], protos.device
        flat = torch.cat([f.view(b, self.reg_max * 4 + self.nc, -1) for f in feats], 2)
        pred_distri, pred_scores = flat.split((self.reg_max * 4, self.nc), 1)
        pred_distri, pred_scores = pred_distri.permute(0, 2, 1).contiguous(), pred_scores.permute(0, 2, 1).contiguous()
        coeffs = coeffs.permute(0, 2, 1).contiguous()
        anchors, stride = make_anchors(feats, self.strides)
        imgsz = torch.tensor(feats[0].shape[2:], device=device, dtype=torch.float32) * self.strides[0]
        labels, gt_boxes, mask_gt = self._targets(batch, b, device)
        pd = pred_distri.view(b, -1, 4, self.reg_max).softmax(3).matmul(self.proj.to(device))
        pred_boxes = dist2bbox(pd, anchors)  # grid units
        _, target_boxes, target_scores, fg, gt_idx = self.assigner(
            pred_scores.detach().sigmoid(), (pred_boxes.detach() * stride).to(gt_boxes.dtype), anchors * stride,
            labels, gt_boxes, mask_gt)
        denom = max(target_scores.sum(), 1)
        loss = torch.zeros(4, device=device)
        loss[2] = F.binary_cross_entropy_with_logits(pred_scores, target_scores.to(pred_scores.dtype), reduction="none").sum() / denom
        if fg.sum():
            weight = target_scores.sum(-1)[fg].unsqueeze(-1)
            tb = target_boxes / stride
            iou = bbox_iou(pred_boxes[fg], tb[fg], ciou=True)
            loss[0] = ((1.0 - iou) * weight).sum() / denom
            ltrb = bbox2dist(anchors, tb, self.reg_max - 1)
            loss[3] = (dfl_loss(pred_distri.view(b, -1, 4, self.reg_max)[fg], ltrb[fg]) * weight).sum() / denom
            loss[1] = self._mask_loss(fg, gt_idx, target_boxes, batch, protos, coeffs, imgsz)
        loss[0] *= self.gains.box
        loss[1] *= self.gains.box
        loss[2] *= self.gains.cls
        loss[3] *= self.gains.dfl
        return loss.sum() * b, loss.detach()

    def _mask_loss(self, fg, gt_idx, target_boxes, batch, protos, coeffs, imgsz) -> torch.Tensor:
        b, _, mh, mw = protos.shape
        masks = batch["masks"].to(protos.device).float()
        if masks.shape[1:] != (mh, mw):
            masks = F.interpolate(masks[None], (mh, mw), mode="nearest")[0]
        idx = batch["batch_idx"].to(protos.device)
        total = torch.zeros((), device=protos.device)
        scale = torch.tensor([mw, mh, mw, mh], device=protos.device) / imgsz[[1, 0, 1, 0]]
        for i in range(b):
            sel = fg[i]
            if not sel.any():
                continue
            gt = masks[idx == i][gt_idx[i][sel]]
            boxes = target_boxes[i][sel]
            norm = boxes / imgsz[[1, 0, 1, 0]]
            area = ((norm[:, 2] - norm[:, 0]) * (norm[:, 3] - norm[:, 1])).clamp(min=1e-9)
            logits = torch.einsum("in,nhw->ihw", coeffs[i][sel], protos[i])
            bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
            total = total + (crop_mask(bce, boxes * scale).mean(dim=(1, 2)) / area).sum()
        return total / fg.sum()
