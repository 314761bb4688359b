"""Console output for training: a rich progress bar per epoch and the skipped-sample report."""
from __future__ import annotations

import sys

import torch
from edgeseg.runtime.datasets.problems import summary_lines
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

LOSS_NAMES = ("box", "seg", "cls", "dfl", "sem")


class EpochProgress:
    """Batches done, loss components, GPU memory on CUDA, ETA; a plain line per epoch when not on a terminal."""

    def __init__(self, epoch: int, epochs: int, total: int, enabled: bool = True):
        self.enabled = enabled
        self.interactive = enabled and sys.stderr.isatty()
        self.label = f"epoch {epoch + 1}/{epochs}"
        self.progress = None
        if self.interactive:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=Console(stderr=True, markup=False, highlight=False))
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
    """What was skipped or adjusted, and why (abridged; the run directory's CSV has every row)."""
    for line in summary_lines(report):
        log(line)
