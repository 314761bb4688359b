"""`edgeseg info`: layers, parameters and GFLOPs of a model name, description file or checkpoint."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from edgeseg.console import make_console
from edgeseg.runtime.errors import NotAvailableError, UsageError


def _load_torch_model(spec: str, nc: int | None):
    try:
        from edgeseg.trainer.checkpoint import load_checkpoint
        from edgeseg.trainer.config import config_from_file, config_from_name
        from edgeseg.trainer.model import build_model
    except ImportError as err:
        raise NotAvailableError(f"`edgeseg info` needs torch: pip install 'edgeseg[train]' ({err})") from None
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in (".pt", ".pth"):
        if nc is not None:
            raise UsageError("--nc applies to models built from a name or description, not to a checkpoint")
        return load_checkpoint(path).model
    if path.suffix.lower() in (".pt", ".pth"):
        raise UsageError(f"{spec}: no such checkpoint file")
    cfg = config_from_file(path) if path.is_file() else config_from_name(spec)
    return build_model(replace(cfg, nc=nc) if nc is not None else cfg)


def run_info(spec: str, imgsz: int, nc: int | None, as_json: bool) -> None:
    from edgeseg.trainer.info import model_info

    if imgsz <= 0 or imgsz % 32:
        raise UsageError(f"--imgsz must be a positive multiple of 32, got {imgsz}")
    info = model_info(_load_torch_model(spec, nc), imgsz)
    if as_json:
        typer.echo(json.dumps(info))
        return
    table = Table(title=f"{info['name']} ({info['config']['nc']} classes)")
    for col in ("#", "from", "n", "params", "module"):
        table.add_column(col, justify="right" if col in ("#", "n", "params") else "left")
    for row in info["table"]:
        table.add_row(str(row["index"]), str(row["from"]), str(row["n"]), f"{row['params']:,}", row["module"])
    console = make_console(stderr=False)
    console.print(table)
    console.print(f"{info['name']}: {info['layers']} layers, {info['params']:,} parameters, "
                  f"{info['gflops']:.1f} GFLOPs at {imgsz}x{imgsz}")
