"""ncnn export through pnnx (torch module -> TorchScript -> ncnn .param/.bin), FP32 or FP16 weight storage.

The directory `<stem>_ncnn_model/` holds `model.ncnn.param`, `model.ncnn.bin` and the `edgeseg.json` sidecar
(ncnn files carry no metadata of their own). Output blobs are named by pnnx `out0..outK` in the export wrapper's
output order, as documented in runtime/backends/ncnn_backend.py, and checked at load.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch


from .base import ExportContext, Exporter, ExportToolError

KEEP_FILES = ("model.ncnn.param", "model.ncnn.bin")


@contextlib.contextmanager
def quiet_fds():
    """pnnx's converter prints pages of C++ log to the process's stdout/stderr; keep them for errors only."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush(), sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


class NcnnExporter(Exporter):
    single_image = True
    format = "ncnn"
    source = "torch"
    supports_dynamic = False  # traced at one input size
    requires = ("pnnx", "ncnn")


    def export(self, ctx: ExportContext) -> Path:
        import pnnx

        h, w = ctx.options.imgsz
        work = ctx.workdir / "pnnx"
        work.mkdir()
        with quiet_fds() as log, torch.no_grad():
            try:
                pnnx.export(ctx.module, str(work / "model.pt"), (torch.zeros(1, 3, h, w),), fp16=ctx.options.half)
            except Exception as err:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-800:]
                raise ExportToolError(f"pnnx failed ({err}); its log ends: {tail}") from None
        out_dir = ctx.workdir / f"model{self.artifact_suffix}"
        out_dir.mkdir()
        for name in KEEP_FILES:
            if not (work / name).is_file():
                raise ExportToolError(f"pnnx wrote no {name}; files: {sorted(p.name for p in work.iterdir())}")
            shutil.move(str(work / name), out_dir / name)
        return out_dir
