"""DDP plumbing: the process group from torchrun's environment, rank-0 guards, metric/flag broadcast."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str) -> "DistContext":
        """torchrun sets RANK/LOCAL_RANK/WORLD_SIZE; nccl on CUDA, gloo on CPU."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        ctx = cls(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
        if not dist.is_initialized():
            backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return ctx

    def broadcast_flag(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0])
        dist.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
