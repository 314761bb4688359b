"""Task-aligned assignment (TOOD): each ground truth takes the top-k anchors by score^alpha * IoU^beta among
anchors whose centre lies inside it; an anchor claimed by several ground truths goes to the one it overlaps most."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .boxes import bbox_iou


class TaskAlignedAssigner:
    def __init__(self, num_classes: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9):
        self.nc, self.topk, self.alpha, self.beta, self.eps = num_classes, topk, alpha, beta, eps

    @torch.no_grad()
    def __call__(self, pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt):
        """pd_scores (B,N,C) probabilities, pd_bboxes (B,N,4) xyxy px, anchors (N,2) px, gt_labels (B,M,1),
        gt_bboxes (B,M,4) xyxy px, mask_gt (B,M,1). Returns target labels, boxes, scores, fg mask, gt index."""
        b, n = pd_scores.shape[:2]
        m = gt_bboxes.shape[1]
        if m == 0:
            zeros = torch.zeros_like
            return (torch.full((b, n), self.nc, device=pd_scores.device), zeros(pd_bboxes), zeros(pd_scores),
                    torch.zeros((b, n), dtype=torch.bool, device=pd_scores.device),
                    torch.zeros((b, n), dtype=torch.long, device=pd_scores.device))
        in_gts = self._anchors_in_boxes(anchors, gt_bboxes)  # (B,M,N)
        align, overlaps = self._metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, in_gts * mask_gt)
        topk = self._topk(align, mask_gt.expand(-1, -1, self.topk).bool())
        mask_pos = topk * in_gts * mask_gt
        gt_idx, fg, mask_pos = self._resolve_multiple(mask_pos, overlaps, m)
        labels, boxes, scores = self._targets(gt_labels, gt_bboxes, gt_idx, fg)
        align = align * mask_pos
        pos_align = align.amax(dim=-1, keepdim=True)
        pos_overlaps = (overlaps * mask_pos).amax(dim=-1, keepdim=True)
        norm = (align * pos_overlaps / (pos_align + self.eps)).amax(-2).unsqueeze(-1)
        return labels, boxes, scores * norm, fg.bool(), gt_idx

    def _anchors_in_boxes(self, anchors, gt_bboxes):
        b, m = gt_bboxes.shape[:2]
        lt, rb = gt_bboxes.view(-1, 1, 4).chunk(2, 2)
        deltas = torch.cat((anchors[None] - lt, rb - anchors[None]), dim=2).view(b, m, anchors.shape[0], -1)
        return deltas.amin(3).gt_(self.eps).to(gt_bboxes.dtype)

    def _metrics(self, pd_scores, pd_bboxes, gt_labels, gt_bboxes, mask):
        b, n = pd_scores.shape[:2]
        m = gt_bboxes.shape[1]
        mask = mask.bool()
        overlaps = torch.zeros((b, m, n), dtype=pd_bboxes.dtype, device=pd_bboxes.device)
        scores = torch.zeros((b, m, n), dtype=pd_scores.dtype, device=pd_scores.device)
        batch_ind = torch.arange(b, device=pd_scores.device).view(-1, 1).expand(-1, m)
        scores[mask] = pd_scores[batch_ind, :, gt_labels.squeeze(-1).long()][mask]
        pd = pd_bboxes.unsqueeze(1).expand(-1, m, -1, -1)[mask]
        gt = gt_bboxes.unsqueeze(2).expand(-1, -1, n, -1)[mask]
        overlaps[mask] = bbox_iou(gt, pd, ciou=True).squeeze(-1).clamp_(0)
        return scores.pow(self.alpha) * overlaps.pow(self.beta), overlaps

    def _topk(self, metrics, topk_mask):
        _, idx = torch.topk(metrics, min(self.topk, metrics.shape[-1]), dim=-1, largest=True)
        idx = idx.masked_fill(~topk_mask[..., : idx.shape[-1]], 0)
        count = torch.zeros(metrics.shape, dtype=torch.int8, device=idx.device)
        ones = torch.ones_like(idx[:, :, :1], dtype=torch.int8)
        for k in range(idx.shape[-1]):
            count.scatter_add_(-1, idx[:, :, k : k + 1], ones)
        count.masked_fill_(count > 1, 0)  # index 0 was used as the filler for masked-out slots
        return count.to(metrics.dtype)

    @staticmethod
    def _resolve_multiple(mask_pos, overlaps, m):
        fg = mask_pos.sum(-2)
        if fg.max() > 1:
            multi = (fg.unsqueeze(1) > 1).expand(-1, m, -1)
            best = F.one_hot(overlaps.argmax(1), m).permute(0, 2, 1).to(overlaps.dtype)
            mask_pos = torch.where(multi, best, mask_pos).float()
            fg = mask_pos.sum(-2)
        return mask_pos.argmax(-2), fg, mask_pos

    def _targets(self, gt_labels, gt_bboxes, gt_idx, fg):
        b, m = gt_bboxes.shape[:2]
        flat_idx = gt_idx + torch.arange(b, device=gt_labels.device)[:, None] * m
        labels = gt_labels.long().flatten()[flat_idx].clamp_(0)
        boxes = gt_bboxes.view(-1, gt_bboxes.shape[-1])[flat_idx]
        scores = F.one_hot(labels, self.nc).to(gt_bboxes.dtype)
        scores = torch.where(fg[:, :, None].repeat(1, 1, self.nc) > 0, scores, 0)
        return labels, boxes, scores
