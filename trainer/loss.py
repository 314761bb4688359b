"""Training losses, as the reference (Ultralytics 8.4.190) computes them.

YOLOv8/YOLO11-seg: task-aligned assignment (top-k 10), CIoU + DFL box loss, BCE classes, per-instance mask BCE on
prototypes x coefficients cropped to the box and normalised by its area; gains box 7.5 (masks too), cls 0.5, dfl 1.5.
YOLO26-seg (one-to-one head, reg_max 1): the same per branch with an L1 loss on image-normalised box distances in
the DFL slot and a mask-aware assignment (trainer/assigner.py); the one-to-many (top-k 10) and one-to-one (top-k 7,
then 1 per object) branches are weighted 0.8/0.2 at the start and 0.1/0.9 at the end, and Proto26's semantic map
gets a BCE + Dice loss against the per-class union of the instance masks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .assigner import MaskAwareAssigner, TaskAlignedAssigner
from .boxes import bbox2dist, bbox_iou, dist2bbox
from .mask_loss import cropped_mask_loss
from .nn.head import make_anchors

PARTS = ("box", "seg", "cls", "dfl", "sem")  # "dfl" holds the L1 box loss for reg_max 1 heads


@dataclass(frozen=True)
class LossGains:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


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


def padded_targets(batch: dict, b: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


def padded_masks(batch: dict, b: int, m: int, size: tuple[int, int], device) -> torch.Tensor:
    """(B,M,h,w) instance masks at the prototype resolution, in the same slots as padded_targets."""
    masks = batch["masks"].to(device).float()
    if masks.numel() and masks.shape[1:] != size:
        masks = F.interpolate(masks[None], size, mode="nearest")[0]
    out = torch.zeros((b, m, *size), device=device)
    idx = batch["batch_idx"].to(device)
    for i in range(b):
        sel = masks[idx == i]
        out[i, : len(sel)] = sel
    return out


class SegmentationLoss:
    """One branch's loss (boxes, masks, classes); __call__ on the model's training outputs (both branches and the
    semantic map for end-to-end heads) -> (loss to backpropagate = sum of weighted parts x batch, detached parts)."""

    def __init__(self, model, gains: LossGains = LossGains(), topk: int = 10, topk2: int | None = None):
        head = model.head
        self.nc, self.nm, self.reg_max, self.strides = head.nc, head.nm, head.reg_max, head.strides
        self.gains = gains
        assigner = MaskAwareAssigner if head.reg_max == 1 else TaskAlignedAssigner  # YOLO26 scores masks too
        self.assigner = assigner(self.nc, topk=topk, alpha=0.5, beta=6.0, strides=self.strides, topk2=topk2)
        self.proj = torch.arange(self.reg_max, dtype=torch.float32)

    def __call__(self, preds: dict, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        b = preds["protos"].shape[0]
        parts = self.branch(preds, batch)
        return parts.sum() * b, parts.detach()

    def branch(self, preds: dict, batch: dict) -> torch.Tensor:
        """The five weighted parts (box, seg, cls, dfl|l1, 0) of one head branch."""
        feats, coeffs, protos = preds["feats"], preds["mask_coeffs"], preds["protos"]
        b, device = protos.shape[0], protos.device
        flat = torch.cat([f.view(b, self.reg_max * 4 + self.nc, -1) for f in feats], 2)
        pred_distri, pred_scores = flat.split((self.reg_max * 4, self.nc), 1)
        pred_distri, pred_scores = pred_distri.permute(0, 2, 1).contiguous(), pred_scores.permute(0, 2, 1).contiguous()
        coeffs = coeffs.permute(0, 2, 1).contiguous()
        anchors, stride = make_anchors(feats, self.strides)
        imgsz = torch.tensor(feats[0].shape[2:], device=device, dtype=torch.float32) * self.strides[0]
        labels, gt_boxes, mask_gt = padded_targets(batch, b, device)
        pred_boxes = dist2bbox(self._distances(pred_distri), anchors)  # grid units
        extra = {}
        if isinstance(self.assigner, MaskAwareAssigner):
            extra = dict(coeffs=coeffs.detach(), protos=protos.detach(), imgsz=imgsz,
                         gt_masks=padded_masks(batch, b, gt_boxes.shape[1], tuple(protos.shape[2:]), device))
        _, target_boxes, target_scores, fg, gt_idx = self.assigner(
            pred_scores.detach().sigmoid(), (pred_boxes.detach() * stride).to(gt_boxes.dtype), anchors * stride,
            labels, gt_boxes, mask_gt, **extra)
        self.last_positives = fg  # for inspection (the recipe-parity harness)
        denom = max(target_scores.sum(), 1)
        loss = torch.zeros(len(PARTS), device=device)
        loss[2] = F.binary_cross_entropy_with_logits(pred_scores, target_scores.to(pred_scores.dtype), reduction="none").sum() / denom
        if fg.sum():
            weight = target_scores.sum(-1)[fg].unsqueeze(-1)
            tb = target_boxes / stride
            iou = bbox_iou(pred_boxes[fg], tb[fg], ciou=True)
            loss[0] = ((1.0 - iou) * weight).sum() / denom
            loss[3] = (self._distance_loss(pred_distri, anchors, tb, stride, imgsz, fg) * weight).sum() / denom
            loss[1] = self._mask_loss(fg, gt_idx, target_boxes, batch, protos, coeffs, imgsz)
        return loss * torch.tensor([self.gains.box, self.gains.box, self.gains.cls, self.gains.dfl, 0.0], device=device)

    def _distances(self, pred_distri: torch.Tensor) -> torch.Tensor:
        """Box distances in grid units: the DFL expectation, or the regressed values themselves (reg_max 1)."""
        if self.reg_max == 1:
            return pred_distri
        b, n = pred_distri.shape[:2]
        return pred_distri.view(b, n, 4, self.reg_max).softmax(3).matmul(self.proj.to(pred_distri.device))

    def _distance_loss(self, pred_distri, anchors, tb, stride, imgsz, fg) -> torch.Tensor:
        """DFL on the distance bins (reg_max > 1), else L1 on the distances normalised by the image size."""
        if self.reg_max > 1:
            ltrb = bbox2dist(anchors, tb, self.reg_max - 1)
            b = pred_distri.shape[0]
            return dfl_loss(pred_distri.view(b, -1, 4, self.reg_max)[fg], ltrb[fg])
        lt, rb = tb.chunk(2, -1)
        scale = stride / imgsz[[1, 0, 1, 0]]  # grid units -> fraction of the image, per axis
        target = torch.cat((anchors - lt, rb - anchors), -1) * scale
        return F.l1_loss(pred_distri[fg] * scale.expand_as(pred_distri)[fg], target[fg], reduction="none").mean(-1, keepdim=True)

    def _mask_loss(self, fg, gt_idx, target_boxes, batch, protos, coeffs, imgsz) -> torch.Tensor:
        """Per-positive BCE of its mask inside its instance's box, averaged over the prototype grid and divided by
        the box's normalised area, then averaged over positives (the reference's formula; computed per box)."""
        b, _, mh, mw = protos.shape
        masks = batch["masks"].to(protos.device).float()
        if masks.shape[1:] != (mh, mw):
            masks = F.interpolate(masks[None], (mh, mw), mode="nearest")[0]
        counts = torch.bincount(batch["batch_idx"].to(protos.device), minlength=b)
        first_row = torch.cumsum(counts, 0) - counts  # each image's first row in the batch's masks
        image_index = torch.nonzero(fg)[:, 0]
        boxes = target_boxes[fg]
        norm = boxes / imgsz[[1, 0, 1, 0]]
        areas = ((norm[:, 2] - norm[:, 0]) * (norm[:, 3] - norm[:, 1])).clamp(min=1e-9)
        scale = torch.tensor([mw, mh, mw, mh], device=protos.device) / imgsz[[1, 0, 1, 0]]
        total = cropped_mask_loss(coeffs[fg], protos, masks, first_row[image_index] + gt_idx[fg], image_index,
                                  boxes * scale, areas)
        return total / fg.sum()


class EndToEndSegmentationLoss:
    """YOLO26: one-to-many + one-to-one branches with decaying weights, plus the semantic-map loss; the reported
    parts are the one-to-one branch's (what inference with the NMS-free head uses), as the reference reports."""

    START_O2M, FINAL_O2M = 0.8, 0.1

    def __init__(self, model, gains: LossGains = LossGains(), epochs: int = 100):
        self.one2many = SegmentationLoss(model, gains, topk=10)
        self.one2one = SegmentationLoss(model, gains, topk=7, topk2=1)
        self.gains, self.epochs, self.o2m = gains, epochs, self.START_O2M

    def set_epoch(self, epoch: int) -> None:
        """The one-to-many weight falls linearly from 0.8 to 0.1 over the run (updated once per epoch)."""
        frac = max(1 - epoch / max(self.epochs - 1, 1), 0)
        self.o2m = frac * (self.START_O2M - self.FINAL_O2M) + self.FINAL_O2M

    def __call__(self, preds: dict, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        b = preds["protos"].shape[0]
        many = self.one2many.branch(preds, batch)
        one = self.one2one.branch(preds["one2one"], batch)
        sem = semantic_loss(preds["semantic"], batch, self.one2many.nc) * self.gains.box
        slot = torch.tensor([0, 0, 0, 0, 1.0], device=one.device)
        many = many + slot * sem  # the semantic map learns with the one-to-many weight; the one-to-one branch sees
        one = one + slot * sem.detach()  # detached prototypes, so it only reports the value
        total = many.sum() * self.o2m + one.sum() * (1 - self.o2m)
        return total * b, one.detach()


def semantic_loss(pred: torch.Tensor, batch: dict, nc: int) -> torch.Tensor:
    """BCE + Dice (0.5 each) of the semantic logits (B,nc,h,w) against each class's union of instance masks."""
    b, _, h, w = pred.shape
    masks = batch["masks"].to(pred.device).float()
    target = torch.zeros((b, nc, *masks.shape[1:]), device=pred.device)
    idx, cls = batch["batch_idx"].to(pred.device), batch["cls"].to(pred.device).long()
    for k in range(len(masks)):
        target[idx[k], cls[k]] = torch.maximum(target[idx[k], cls[k]], masks[k])
    if target.shape[2:] != (h, w):
        target = F.interpolate(target, (h, w), mode="nearest")
    bce = F.binary_cross_entropy_with_logits(pred, target)
    prob = pred.sigmoid()
    dice = 1 - (2 * (prob * target).sum((2, 3)) + 1) / (prob.sum((2, 3)) + target.sum((2, 3)) + 1)
    return 0.5 * bce + 0.5 * dice.mean()


def build_loss(model, gains: LossGains, epochs: int):
    """The family's loss: end-to-end for models with a one-to-one head, else the one-to-many loss."""
    return EndToEndSegmentationLoss(model, gains, epochs) if model.head.has_one2one else SegmentationLoss(model, gains)
