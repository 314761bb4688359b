"""Edge TPU export: a full-integer INT8 TFLite graph that ends before the DFL (layout `edgeseg-raw`: box logits,
scores, mask coefficients and protos as separate int8 outputs; the DFL softmax and box decode run on the host,
because the Edge TPU's Softmax is documented for 1-D inputs only), static 1-image shapes, int8 I/O, then
`edgetpu_compiler` when it is on PATH.

The compiler maps ops up to the first one outside its set and leaves the rest on the CPU, so the export reports
how many ops are in the documented set and which comes first outside it. Without the compiler (it is an x86-64
Linux binary from Coral's own apt repository, not on PyPI or Debian), the compiler-ready
`<stem>_full_integer_quant.tflite` and its sidecar are written and the export stops with a clear error.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

from edgeseg.runtime.errors import NotAvailableError, UsageError

from .base import ExportContext, Exporter, ExportToolError
from .options import ExportOptions

# TFLite builtin op names of Coral's documented supported-operations table (quantized variants).
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU",
    "QUANTIZE", "DEQUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE",
    "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
})
COMPILER = "edgetpu_compiler"
INSTALL_HINT = ("install the Edge TPU compiler on an x86-64 Linux host from Coral's apt repository "
                "(package edgetpu-compiler; see Coral's 'Edge TPU Compiler' documentation)")


def op_report(path: Path) -> dict:
    """Ops of the graph in execution order vs the Edge TPU op set (a static check; the compiler has the last word)."""
    from edgeseg.runtime.backends.litert_backend import _interpreter_module

    ops = [op["op_name"] for op in _interpreter_module().Interpreter(model_path=str(path))._get_ops_details()]
    outside = [name for name in ops if name not in EDGETPU_OPS]
    first = next((i for i, name in enumerate(ops) if name not in EDGETPU_OPS), len(ops))
    return {"ops": len(ops), "in_edgetpu_set": len(ops) - len(outside), "mappable_before_first_unsupported": first,
            "first_unsupported": ops[first] if first < len(ops) else None, "unsupported_types": sorted(set(outside))}


def compile_edgetpu(path: Path, out_dir: Path) -> tuple[Path, str]:
    run = subprocess.run([COMPILER, "-s", "-o", str(out_dir), str(path)], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise ExportToolError(f"{COMPILER} failed: {(run.stderr or run.stdout)[-600:]}")
    compiled = out_dir / f"{path.stem}_edgetpu.tflite"
    if not compiled.is_file():
        raise ExportToolError(f"{COMPILER} wrote no {compiled.name}: {run.stdout[-400:]}")
    return compiled, run.stdout


class EdgeTpuExporter(Exporter):
    single_image = True
    format = "edgetpu"
    source = "onnx"
    supports_dynamic = False
    supports_half = False
    input_layout = "NHWC"
    required_layout = "edgeseg-raw"
    required_layout_why = ("the graph ends before the DFL softmax, which is outside the Edge TPU op set; the host "
                           "decodes boxes")
    int8_only = True
    requires = ("onnx2tf", "tensorflow", "ai_edge_litert", "onnx", "onnxscript")

    def export(self, ctx: ExportContext) -> Path:
        raise UsageError("Edge TPU export runs through the INT8 path (--int8)")

    @classmethod
    def bundle_input(cls, source, options, progress):
        """The compiler-ready full-integer graph, not compiled here: the bundle's script compiles it."""
        from .export import export

        ready = options.output.with_name("model_full_integer_quant.tflite")
        return export(source, dataclasses.replace(options, output=ready, extra={**options.extra, "compile": False}),
                      progress)

    @classmethod
    def finalize(cls, artifact: Path, metadata, final: Path, say, options: ExportOptions) -> tuple[Path, object]:
        report = op_report(artifact)
        say(f"Edge TPU op set: {report['in_edgetpu_set']}/{report['ops']} ops; first outside: "
            f"{report['first_unsupported'] or 'none'}")
        metadata = dataclasses.replace(metadata, quantization={**metadata.quantization, "edgetpu_ops": report})
        if options.extra.get("compile") is False:  # a device bundle: compiled where edgetpu_compiler lives
            return artifact, metadata
        if shutil.which(COMPILER) is None:
            ready = final.with_name(final.name.replace(cls.artifact_suffix, "_full_integer_quant.tflite"))
            ready.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(artifact, ready)
            metadata.write_sidecar(ready)
            raise NotAvailableError(f"{COMPILER} is not on PATH, so nothing was compiled: {INSTALL_HINT}, then run "
                                    f"`{COMPILER} {ready.name}`. Wrote the compiler-ready {ready} "
                                    f"({report['in_edgetpu_set']}/{report['ops']} ops in the Edge TPU set)")
        compiled, log = compile_edgetpu(artifact, artifact.parent)
        mapped = re.search(r"Number of operations that will run on Edge TPU:\s*(\d+)", log)
        if mapped:
            report["compiler_mapped_ops"] = int(mapped.group(1))
        return compiled, dataclasses.replace(metadata, quantization={**metadata.quantization, "edgetpu_ops": report})
