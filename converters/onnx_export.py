"""ONNX export with torch's dynamo exporter (the cleanest graph here), onnxslim, optional FP16 with float I/O.

The dynamo exporter writes opset 18 and newer natively; for an older --opset (17: TensorRT 8.5 on JetPack 5 reads
at most that) it converts down with onnx's version converter, which leaves Split's opset-18 `num_outputs` attribute
in place (onnxruntime: "This is an invalid model. In Node, (node_Split_45, Split ..."). Those opsets go through
torch's TorchScript exporter instead, which writes them natively (same parity: toolchains.md).

Metadata goes into the model's metadata_props under the key "edgeseg" (JSON).
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch

from edgeseg.runtime.errors import NotAvailableError

from .base import ExportContext, Exporter, ExportToolError
from .wrapper import INPUT_NAME

DEFAULT_OPSET = 18
DYNAMO_MIN_OPSET = 18  # below: the TorchScript exporter (module docstring)
METADATA_KEY = "edgeseg"


def dynamic_shapes(dynamic: bool):
    if not dynamic:
        return None
    from torch.export import Dim

    h32, w32 = Dim("h32", min=1, max=128), Dim("w32", min=1, max=128)
    return {"images": {0: Dim("batch", min=1, max=256), 2: 32 * h32, 3: 32 * w32}}


class OnnxExporter(Exporter):
    format = "onnx"
    source = "torch"
    requires = ("onnx", "onnxscript")

    def export(self, ctx: ExportContext) -> Path:
        import onnx

        path = ctx.workdir / "model.onnx"
        trace_onnx(ctx.module, path, ctx.options.imgsz, ctx.options.batch, ctx.options.dynamic,
                   ctx.options.opset or DEFAULT_OPSET)
        model = onnx.load(str(path))
        if ctx.options.simplify:
            model = simplify(model)
        if ctx.options.half:
            model = to_fp16(model)
        set_metadata(model, ctx.metadata.to_json())
        onnx.save(model, str(path))
        return path


    @classmethod
    def embed_metadata(cls, artifact: Path, metadata) -> None:
        import onnx

        model = onnx.load(str(artifact))
        set_metadata(model, metadata.to_json())
        onnx.save(model, str(artifact))


def trace_onnx(module, path: Path, imgsz, batch: int, dynamic: bool, opset: int) -> None:
    """torch.onnx.export (dynamo) into one self-contained file; exporter chatter goes to a buffer, not the user."""
    h, w = imgsz
    example = (torch.zeros(batch, 3, h, w),)
    log = io.StringIO()
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch.fx", "torch._dynamo")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), torch.no_grad():
        warnings.simplefilter("ignore")
        if opset >= DYNAMO_MIN_OPSET:
            torch.onnx.export(module, example, str(path), dynamo=True, external_data=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=list(module.output_names),
                              dynamic_shapes=dynamic_shapes(dynamic), verbose=False)
        else:
            torch.onnx.export(module, example, str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=list(module.output_names),
                              dynamic_axes=_dynamic_axes(module, example) if dynamic else None, verbose=False)
    for lg, level in zip(quiet, levels):
        lg.setLevel(level)
    if not path.exists():
        raise ExportToolError(f"torch.onnx.export wrote nothing: {log.getvalue()[-500:]}")


def _dynamic_axes(module, example: tuple) -> dict:
    """TorchScript exporter's form of a free batch and size; an output axis is free where its size follows the
    input's (found by running a second, larger input), so channel axes stay fixed."""
    (x,) = example
    other = torch.zeros(x.shape[0] + 1, x.shape[1], x.shape[2] + 32, x.shape[3] + 32)
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    for name, a, b in zip(module.output_names, _as_tuple(module(x)), _as_tuple(module(other))):
        axes[name] = {i: f"{name}_{i}" for i in range(a.dim()) if a.shape[i] != b.shape[i]}
    return axes


def _as_tuple(outputs) -> tuple:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def simplify(model):
    try:
        import onnxslim
    except ImportError:
        raise NotAvailableError("--simplify needs onnxslim: pip install onnxslim (or pass --no-simplify)") from None
    return onnxslim.slim(model)


def to_fp16(model):
    """FP16 weights and compute, float32 inputs and outputs (so callers need no casts)."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:
        raise NotAvailableError("--half for ONNX needs onnxruntime's float16 converter: pip install onnxruntime") from None
    return convert_float_to_float16(model, keep_io_types=True)


def set_metadata(model, metadata_json: str) -> None:
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata_json
