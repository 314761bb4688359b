"""Task-aligned assignment (TOOD): each ground truth takes the top-k anchors by score^alpha * IoU^beta among
anchors whose centre lies inside it (a box with a side below the middle stride counts as that wide about its centre,
so small objects still get candidates, as in the reference's 8.4 assigner); an anchor claimed by several ground
truths goes to the one it overlaps most; `topk2` (the one-to-one branch) then keeps each one's best."""
from __future__ import annotations

import torch

from .boxes import bbox_iou


class TaskAlignedAssigner:
    def __init__(self, num_classes: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9,
                 strides: tuple[float, ...] = (8.0, 16.0, 32.0), topk2: int | None = None):
        self.nc, self.topk, self.alpha, self.beta, self.eps = num_classes, topk, alpha, beta, eps
        self.min_side = float(strides[1] if len(strides) > 1 else strides[0])
        self.topk2 = topk2 or topk

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
        in_gts = self._anchors_in_boxes(anchors, gt_bboxes, mask_gt)  # (B,M,N)
        align, overlaps = self._metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, in_gts * mask_gt)
        topk = self._topk(align, mask_gt.expand(-1, -1, self.topk).bool())
        mask_pos = topk * in_gts * mask_gt
        gt_idx, fg, mask_pos = self._resolve_multiple(mask_pos, overlaps, m, align)
        labels, boxes, scores = self._targets(gt_labels, gt_bboxes, gt_idx, fg)
        align = align * mask_pos
        pos_align = align.amax(dim=-1, keepdim=True)
        pos_overlaps = (overlaps * mask_pos).amax(dim=-1, keepdim=True)
        norm = (align * pos_overlaps / (pos_align + self.eps)).amax(-2).unsqueeze(-1)
        return labels, boxes, scores * norm, fg.bool(), gt_idx

    def _anchors_in_boxes(self, anchors, gt_bboxes, mask_gt):
        """(B,M,N) 1.0 where anchor n's centre lies strictly inside box m (four comparisons, no (B,M,N,4) array)."""
        centre, wh = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2, gt_bboxes[..., 2:] - gt_bboxes[..., :2]
        wh = torch.where((wh < self.min_side) & mask_gt.bool(), torch.full_like(wh, self.min_side), wh)
        lt, rb = (centre - wh / 2).unsqueeze(2), (centre + wh / 2).unsqueeze(2)  # (B,M,1,2)
        ax, ay = anchors[:, 0], anchors[:, 1]
        inside = (ax - lt[..., 0]) > self.eps
        inside &= (ay - lt[..., 1]) > self.eps
        inside &= (rb[..., 0] - ax) > self.eps
        inside &= (rb[..., 1] - ay) > self.eps
        return inside.to(gt_bboxes.dtype)

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

    def _resolve_multiple(self, mask_pos, overlaps, m, align):
        fg = mask_pos.sum(-2)
        if fg.max() > 1:
            multi = (fg.unsqueeze(1) > 1).expand(-1, m, -1)
            best = (torch.arange(m, device=overlaps.device)[None, :, None] == overlaps.argmax(1)[:, None, :])
            mask_pos = torch.where(multi, best.to(mask_pos.dtype), mask_pos).float()
        if self.topk2 != self.topk:  # one-to-one: each ground truth keeps only its topk2 best-aligned anchors
            best = torch.topk(align * mask_pos, self.topk2, dim=-1).indices
            mask_pos = mask_pos * torch.zeros_like(mask_pos).scatter_(-1, best, 1.0)
        fg = mask_pos.sum(-2)
        return mask_pos.argmax(-2), fg, mask_pos

    def _targets(self, gt_labels, gt_bboxes, gt_idx, fg):
        b, m = gt_bboxes.shape[:2]
        flat_idx = gt_idx + torch.arange(b, device=gt_labels.device)[:, None] * m
        labels = gt_labels.long().flatten()[flat_idx].clamp_(0)
        boxes = gt_bboxes.view(-1, gt_bboxes.shape[-1])[flat_idx]
        scores = torch.zeros((*labels.shape, self.nc), dtype=gt_bboxes.dtype, device=labels.device)
        scores.scatter_(-1, labels.unsqueeze(-1), (fg > 0).unsqueeze(-1).to(gt_bboxes.dtype))  # one-hot on positives
        return labels, boxes, scores


class MaskAwareAssigner(TaskAlignedAssigner):
    """YOLO26's assignment: the overlap of a (ground truth, anchor) pair is the mean of box IoU and mask IoU, so
    positives and soft class targets favour anchors with accurate masks. Mask IoU is computed for each ground
    truth's 3 x top-k best pairs by the box metric (0 for the rest): the anchor's mask (coefficients x prototypes
    > 0, cropped to its box) against the ground-truth mask, at the prototype resolution."""

    def __call__(self, pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt, coeffs=None, protos=None,
                 imgsz=None, gt_masks=None):
        self._masks = (coeffs, protos, imgsz, gt_masks)
        return super().__call__(pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt)

    def _metrics(self, pd_scores, pd_bboxes, gt_labels, gt_bboxes, mask):
        align, overlaps = super()._metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, mask)
        coeffs, protos, imgsz, gt_masks = self._masks
        box_iou = overlaps
        dense = torch.where(mask.bool(), align + self.eps, torch.zeros_like(align))
        top = dense.topk(min(3 * self.topk, dense.shape[-1]), dim=-1).indices
        chosen = torch.zeros_like(mask, dtype=torch.bool).scatter_(-1, top, True) & mask.bool()
        miou = torch.zeros_like(box_iou)
        b_idx, g_idx, a_idx = chosen.nonzero(as_tuple=True)
        if len(b_idx):
            mh, mw = protos.shape[2:]
            scale = torch.tensor([mw, mh, mw, mh], device=protos.device) / imgsz[[1, 0, 1, 0]]
            pred = torch.einsum("kn,knhw->khw", coeffs[b_idx, a_idx], protos[b_idx]) > 0
            pred = crop_mask_bool(pred, pd_bboxes[b_idx, a_idx] * scale)
            gt = gt_masks[b_idx, g_idx] > 0.5
            inter = (pred & gt).flatten(1).sum(1).float()
            union = pred.flatten(1).sum(1) + gt.flatten(1).sum(1) - inter
            miou[b_idx, g_idx, a_idx] = inter / union.clamp(min=1)
        overlaps = (box_iou + miou) / 2 * mask
        return self._align(pd_scores, gt_labels, mask, overlaps), overlaps

    def _align(self, pd_scores, gt_labels, mask, overlaps):
        b, m = overlaps.shape[:2]
        scores = torch.zeros_like(overlaps)
        batch_ind = torch.arange(b, device=pd_scores.device).view(-1, 1).expand(-1, m)
        scores[mask.bool()] = pd_scores[batch_ind, :, gt_labels.squeeze(-1).long()][mask.bool()]
        return scores.pow(self.alpha) * overlaps.pow(self.beta)


def crop_mask_bool(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Boolean (n,h,w) masks kept only inside each (n,4) xyxy box."""
    _, h, w = masks.shape
    x1, y1, x2, y2 = torch.chunk(boxes[:, :, None], 4, 1)
    cols = torch.arange(w, device=masks.device, dtype=boxes.dtype)[None, None, :]
    rows = torch.arange(h, device=masks.device, dtype=boxes.dtype)[None, :, None]
    return masks & (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
