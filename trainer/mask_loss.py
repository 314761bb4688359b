"""The per-instance mask loss computed only inside each box.

The reference's loss (and ours before) forms every positive anchor's full mask (coefficients x prototypes), takes
the BCE against its instance's mask over the whole prototype grid, then zeroes what lies outside the box: at 640
that is 160x160 values per positive, of which a typical box keeps a few percent. The sum is the same when only the
box's pixels are formed. Positives of one instance share its box and mask, so they are computed as one matrix
product per instance; the gradient is accumulated into one prototype buffer by hand (autograd's slicing would
allocate a full-size zero tensor per instance)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Region:
    """Rows [start, stop) of the coefficients (one instance's positives) and that instance's box in prototype pixels."""

    image: int
    target: int  # row of the target masks
    start: int
    stop: int
    y0: int
    y1: int
    x0: int
    x1: int
    weight: float  # 1 / (prototype pixels x normalised box area)


class _RegionBCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coeffs: torch.Tensor, protos: torch.Tensor, targets: torch.Tensor, regions: list[Region]):
        total = coeffs.new_zeros(())
        for r in regions:
            logits, target = _logits_and_target(coeffs, protos, targets, r)
            total += F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="sum") * r.weight
        ctx.save_for_backward(coeffs, protos, targets)
        ctx.regions = regions
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        coeffs, protos, targets = ctx.saved_tensors
        grad_coeffs, grad_protos = torch.zeros_like(coeffs), torch.zeros_like(protos)
        k = protos.shape[1]
        for r in ctx.regions:
            logits, target = _logits_and_target(coeffs, protos, targets, r)
            d = (logits.sigmoid() - target) * (grad * r.weight)  # d BCE / d logit
            region = protos[r.image, :, r.y0:r.y1, r.x0:r.x1].reshape(k, -1)
            grad_coeffs[r.start:r.stop] = d @ region.T
            grad_protos[r.image, :, r.y0:r.y1, r.x0:r.x1] += (coeffs[r.start:r.stop].T @ d).view(k, r.y1 - r.y0, r.x1 - r.x0)
        return grad_coeffs, grad_protos, None, None


def _logits_and_target(coeffs, protos, targets, r: Region) -> tuple[torch.Tensor, torch.Tensor]:
    k = protos.shape[1]
    region = protos[r.image, :, r.y0:r.y1, r.x0:r.x1].reshape(k, -1)
    return coeffs[r.start:r.stop] @ region, targets[r.target, r.y0:r.y1, r.x0:r.x1].reshape(1, -1)


def cropped_mask_loss(coeffs: torch.Tensor, protos: torch.Tensor, targets: torch.Tensor, target_index: torch.Tensor,
                      image_index: torch.Tensor, boxes: torch.Tensor, areas: torch.Tensor) -> torch.Tensor:
    """Sum over positives of mean-over-the-grid(BCE inside the box) / box area, exactly as the dense form.

    coeffs (P,k) per positive, protos (B,k,h,w), targets (M,h,w) instance masks, target_index (P,) its row in
    targets, image_index (P,) its image, boxes (P,4) xyxy in prototype pixels, areas (P,) normalised box areas.
    Positives of one instance must carry the same box (the assigner gives them their instance's box)."""
    _, _, h, w = protos.shape
    order = torch.argsort(target_index, stable=True)
    coeffs, target_index, image_index = coeffs[order], target_index[order], image_index[order]
    boxes, areas = boxes[order], areas[order]
    _, counts = torch.unique_consecutive(target_index, return_counts=True)
    starts = (torch.cumsum(counts, 0) - counts).tolist()
    first = torch.tensor(starts, dtype=torch.long, device=coeffs.device)
    # pixel c is inside [x1, x2) exactly when ceil(x1) <= c < ceil(x2)
    edges = boxes[first].ceil().clamp(min=0)
    edges = torch.minimum(edges, torch.tensor([w, h, w, h], dtype=edges.dtype, device=edges.device)).long().tolist()
    regions = [Region(int(img), int(t), s, s + int(n), y0, y1, x0, x1, 1.0 / (h * w * float(a)))
               for img, t, s, n, (x0, y0, x1, y1), a in zip(image_index[first].tolist(), target_index[first].tolist(),
                                                            starts, counts.tolist(), edges, areas[first].tolist())
               if x1 > x0 and y1 > y0]
    return _RegionBCE.apply(coeffs.float(), protos.float(), targets.float(), regions)
