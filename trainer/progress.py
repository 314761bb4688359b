"""Console output for training: a rich progress bar per epoch and the skipped-sample report."""
from __future__ import annotations

import sys
from collections import Counter

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

LOSS_NAMES = ("box", "seg", "cls", "dfl")


class EpochProgress:
    """Batches done, loss components, GPU memory on CUDA, ETA; a plain line per epoch when not on a terminal."""

    def __init__(self, epoch: int, epochs: int, total: int, enabled: bool = True):
        self.enabled = enabled
        self.interactive = enabled and sys.stderr.isatty()
        self.label = f"epoch {epoch + 1}/{epochs}"
        self.progress = None
        if self.interactive:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=Console(stderr=True))
            self.task = self.progress.add_task(self.label, total=total, losses="")
            self.progress.start()
        self.text = ""

    def update(self, mean_losses: torch.Tensor, device: torch.device) -> None:
        if not self.enabled:
            return
        self.text = " ".join(f"{n} {v:.3f}" for n, v in zip(LOSS_NAMES, mean_losses.tolist()))
        if device.type == "cuda":
            self.text += f" mem {torch.cuda.memory_reserved(device) / 1e9:.1f}G"
        if self.progress:
            self.progress.update(self.task, advance=1, losses=self.text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
        elif self.enabled:
            print(f"{self.label}: {self.text}", file=sys.stderr)


def print_skip_report(report: list[tuple[str, str]], log) -> None:
    """One summary table of what was skipped or adjusted, and why (every sample appears once per reason)."""
    if not report:
        return
    table = Table(title=f"{len(report)} dataset problems (skipped or adjusted)")
    table.add_column("file")
    table.add_column("reason")
    for path, reason in report[:50]:
        table.add_row(path, reason)
    Console(stderr=True).print(table)
    if len(report) > 50:
        counts = Counter(r.split(": ", 1)[-1] for _, r in report)
        log(f"... and {len(report) - 50} more; by reason: {dict(counts)}")
