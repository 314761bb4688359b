"""Epoch-tagged sampling: the epoch and mosaic switch travel with each index.

DataLoader workers hold their own copies of the dataset (and keep them across epochs with
persistent_workers), so an attribute set on the main process's dataset never reaches them: every
epoch would replay epoch 0's augmentation and mosaic would never close. The sampler is iterated in
the main process, so tagging each index there is the one place the current epoch is always known.
"""
from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import NamedTuple

import torch


class EpochIndex(NamedTuple):
    """One sample request: which image, in which epoch, with mosaic on or off."""

    index: int
    epoch: int
    mosaic: bool


class EpochSampler(torch.utils.data.Sampler):
    """Wraps a sampler of ints and yields EpochIndex tuples carrying the state set by set_epoch."""

    def __init__(self, inner: torch.utils.data.Sampler, epoch: int = 0, mosaic: bool = True):
        self.inner, self.epoch, self.mosaic = inner, epoch, mosaic

    def set_epoch(self, epoch: int, mosaic: bool) -> None:
        self.epoch, self.mosaic = epoch, mosaic
        if hasattr(self.inner, "set_epoch"):  # DistributedSampler reshuffles per epoch
            self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[EpochIndex]:
        epoch, mosaic = self.epoch, self.mosaic
        return (EpochIndex(int(i), epoch, mosaic) for i in self.inner)

    def __len__(self) -> int:
        assert isinstance(self.inner, Sized)
        return len(self.inner)
