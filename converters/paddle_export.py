"""PaddlePaddle inference model (`<stem>_paddle_model/`: model.json + model.pdiparams + edgeseg.json) via x2paddle
from an ONNX graph made for it.

x2paddle 1.6.0 (the current release) maps ONNX opsets 7-15 only, and measured here it also fails on three things
the dynamo ONNX export contains, so this target traces its own graph:
- opset 18 (Split's num_outputs):  "convert failed node:max_pool2d, op_type is MaxPool" after "support ... [7..15]";
- MaxPool's explicit dilations=[1, 1]: "AssertionError: only dilations = 0 is supported";
- an initializer shared through Identity: "KeyError: x2paddle_model_model_22_cv2_1_2_bias not a key";
- shape arithmetic left in the graph: "Type promotion only support calculations between floating-point numbers".
So: torch's TorchScript exporter at opset 15, onnxslim's constant folding, no all-ones dilations, Identity-of-
initializer turned into its own initializer. Then x2paddle's ONNX decoder, op mapper and optimizer run in-process
(its `onnx2paddle` entry point would first post a usage report to a Baidu server and check `onnx.version`, which
onnx >= 1.20 no longer has)."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from edgeseg.runtime.errors import EdgesegError

from .base import ExportContext, Exporter

X2PADDLE_OPSET = 15


class ExportError(EdgesegError):
    """The converter failed on this graph."""
FILES = ("model.json", "model.pdiparams")


def legacy_onnx(module, path: Path, imgsz: tuple[int, int]) -> Path:
    """A static opset-15 ONNX graph in the subset x2paddle maps (see the module docstring for why each step)."""
    import onnx
    import onnxslim
    import torch

    example = torch.zeros(1, 3, *imgsz)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is chosen on purpose (opset 15)
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=X2PADDLE_OPSET,
                          input_names=["images"], output_names=list(module.output_names))
    model = onnxslim.slim(onnx.load(str(path)))
    for node in model.graph.node:
        for attr in [a for a in node.attribute if node.op_type == "MaxPool" and a.name == "dilations"]:
            if all(v == 1 for v in attr.ints):
                node.attribute.remove(attr)
    initializers = {init.name: init for init in model.graph.initializer}
    for node in [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in initializers]:
        copy = onnx.TensorProto()
        copy.CopyFrom(initializers[node.input[0]])
        copy.name = node.output[0]
        model.graph.initializer.append(copy)
        model.graph.node.remove(node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _provide_onnx_mapping() -> None:
    """x2paddle 1.6.0 imports `onnx.mapping.TENSOR_TYPE_TO_NP_TYPE`, which onnx removed in 1.19 (onnx2tf and
    onnxscript need a newer onnx). The same table, built from onnx's public helper, is registered under the old
    name only when onnx itself no longer has it."""
    import importlib.util
    import sys
    import types

    import onnx

    if "onnx.mapping" in sys.modules or importlib.util.find_spec("onnx.mapping") is not None:
        return
    table = {}
    for value in onnx.TensorProto.DataType.values():
        try:
            table[value] = onnx.helper.tensor_dtype_to_np_dtype(value)
        except (KeyError, ValueError, TypeError):
            continue  # UNDEFINED and types numpy has no dtype for
    sys.modules["onnx.mapping"] = types.SimpleNamespace(TENSOR_TYPE_TO_NP_TYPE=table)


def x2paddle_convert(onnx_path: Path, out_dir: Path) -> Path:
    """x2paddle's ONNX -> Paddle steps, without its network report; returns the inference_model directory."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ warnings about its own graph format
    _provide_onnx_mapping()
    from x2paddle.decoder.onnx_decoder import ONNXDecoder
    from x2paddle.op_mapper.onnx2paddle.onnx_op_mapper import ONNXOpMapper
    from x2paddle.optimizer.optimizer import GraphOptimizer

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # per-node progress
        mapper = ONNXOpMapper(ONNXDecoder(str(onnx_path), True, None))
        mapper.paddle_graph.build()
        GraphOptimizer(source_frame="onnx").optimize(mapper.paddle_graph)
        mapper.paddle_graph.gen_model(str(out_dir))
    return out_dir / "inference_model"


def convert_in_child(onnx_path: Path, out_dir: Path) -> Path:
    """x2paddle imports paddle, which crashes (SIGSEGV) in a process that has imported tensorflow, as any export
    session that made a TFLite/SavedModel artifact has: the conversion runs in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-m", "edgeseg.converters.paddle_export", str(onnx_path), str(out_dir)],
                          capture_output=True, text=True, env={**os.environ, "GLOG_minloglevel": "2"})
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or [f"exit {done.returncode}"]
        raise ExportError(f"x2paddle could not convert {onnx_path.name}: {tail[0][:300]}")
    return out_dir / "inference_model"


class PaddleExporter(Exporter):
    format = "paddle"
    source = "torch"
    supports_dynamic = False
    supports_half = False
    single_image = True
    requires = ("x2paddle", "paddle", "onnx", "onnxslim")
    extra = "paddle"

    def export(self, ctx: ExportContext) -> Path:
        onnx_path = legacy_onnx(ctx.module, ctx.workdir / "x2paddle_input.onnx", tuple(ctx.options.imgsz))
        converted = convert_in_child(onnx_path, ctx.workdir / "x2paddle")
        out_dir = ctx.workdir / f"model{self.artifact_suffix}"
        out_dir.mkdir()
        for name in FILES:
            shutil.copy(converted / name, out_dir / name)
        return out_dir


if __name__ == "__main__":
    x2paddle_convert(Path(sys.argv[1]), Path(sys.argv[2]))
