"""Validation losses (the training losses on the val split, augmentation off, EMA weights in eval mode), written to
results.csv beside the training losses as the reference does, so overfitting shows as the two curves part."""
from __future__ import annotations

import numpy as np
import torch

from .data.augment import AugmentConfig
from .data.dataset import SegDataset, collate, scan


class ValLoss:
    """Built once per run (the val split is scanned once); `__call__(model, criterion)` -> mean loss parts."""

    def __init__(self, data, imgsz: int, batch: int, mask_ratio: int, overlap_mask: bool):
        records, _ = scan(data.splits["val"], data.nc, data.coco.get("val")) if "val" in data.splits else ([], [])
        self.loader = None
        if records:
            dataset = SegDataset(records, imgsz, False, AugmentConfig(), mask_ratio=mask_ratio, overlap_mask=overlap_mask)
            self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, collate_fn=collate)

    @torch.no_grad()
    def __call__(self, model, criterion) -> np.ndarray | None:
        if self.loader is None:
            return None
        device = next(model.parameters()).device
        head, total, count = model.head, None, 0
        was_training, head.maps_in_eval = model.training, True
        model.eval()
        try:
            for batch in self.loader:
                _, parts = criterion(model(batch["img"].to(device).float() / 255), batch)
                total = parts.cpu() * len(batch["img"]) + (0 if total is None else total)
                count += len(batch["img"])
        finally:
            head.maps_in_eval = False
            model.train(was_training)
        return (total / max(count, 1)).numpy()
