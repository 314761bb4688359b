"""`edgeseg export`: one artifact per call, verified against the PyTorch model before it is written."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from edgeseg.runtime.errors import NotAvailableError

console = Console(stderr=True, soft_wrap=True)  # long paths and figures stay on one line


def run_export(model: str, fmt: str, imgsz: str, batch: int, dynamic: bool, half: bool, opset: int | None,
               simplify: bool, layout: str, output: Path | None) -> None:
    try:
        from edgeseg.converters.export import export
        from edgeseg.converters.options import ExportOptions, parse_imgsz
    except ImportError as err:
        raise NotAvailableError(f"`edgeseg export` needs torch and the converter toolchains: "
                                f"pip install 'edgeseg[export]' ({err})") from None
    options = ExportOptions(format=fmt, imgsz=parse_imgsz(imgsz), batch=batch, dynamic=dynamic, half=half,
                            opset=opset, simplify=simplify, layout=layout, output=output)
    result = export(model, options, progress=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    if result.report:
        console.print(result.report.summary())
    console.print(f"exported {fmt} ({options.precision}, layout {layout}, "
                  f"{'dynamic' if dynamic else f'{options.imgsz[0]}x{options.imgsz[1]} batch {batch}'}) "
                  f"to {result.path} ({result.size_bytes / 1e6:.1f} MB)")


def run_export_target(model: str, target: str, output: Path | None) -> None:
    try:
        from edgeseg.converters.targets import export_target
    except ImportError as err:
        raise NotAvailableError(f"`edgeseg export` needs torch and the converter toolchains: "
                                f"pip install 'edgeseg[export]' ({err})") from None
    result = export_target(model, target, output, progress=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    if result.report:
        console.print(result.report.summary())
    console.print(f"exported for {target} to {result.path} ({result.size_bytes / 1e6:.1f} MB)")
