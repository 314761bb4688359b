"""TorchScript export: torch.jit.trace of the export wrapper, frozen for inference, metadata in _extra_files."""
from __future__ import annotations

from pathlib import Path

import torch

from .base import ExportContext, Exporter

METADATA_FILE = "edgeseg.json"


class TorchScriptExporter(Exporter):
    format = "torchscript"
    source = "torch"
    supports_half = False  # fp16 convolutions are not implemented for CPU tensors in torch

    def export(self, ctx: ExportContext) -> Path:
        h, w = ctx.options.imgsz
        example = torch.zeros(ctx.options.batch, 3, h, w)
        with torch.no_grad():
            traced = torch.jit.trace(ctx.module, example, strict=False, check_trace=False)
            frozen = torch.jit.freeze(traced.eval())  # optimize_for_inference output does not reload here
        path = ctx.workdir / f"model{self.artifact_suffix}"
        torch.jit.save(frozen, str(path), _extra_files={METADATA_FILE: ctx.metadata.to_json()})
        return path
