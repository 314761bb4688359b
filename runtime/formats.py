"""The one table of artifact formats: what each is called, how it looks on disk, which engines run it, which
module exports and quantises it, and where its metadata lives. The backend registry, the exporter and quantiser
registries, format detection, `edgeseg backends` and `export --help` all read this table, so adding a target is
one exporter module plus one row here.

(The runtime never imports the modules named in `exporter`/`quantizer`; only edgeseg.converters does.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

_CONVERTERS = "edgeseg.converters"


@dataclass(frozen=True)
class FormatSpec:
    """One artifact format."""

    name: str
    suffix: str  # what an export writes: a file suffix or a directory-name ending
    engines: tuple[str, ...]  # runtime engines that run it, best first (device profiles may reorder)
    directory: bool = False
    also: tuple[str, ...] = ()  # other endings recognised when loading (a file inside a directory artifact, ...)
    exporter: str | None = None  # "module:Class" under edgeseg.converters
    quantizer: str | None = None  # "module:Class" of its calibrated INT8 path under edgeseg.converters.quantize
    metadata: str = "sidecar"  # where its metadata lives, for the docs and `edgeseg backends`

    @property
    def endings(self) -> tuple[str, ...]:
        return (self.suffix, *self.also)


FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in (
    FormatSpec("pytorch", ".pt", ("torch",), also=(".pth",), metadata="inside the checkpoint"),
    FormatSpec("torchscript", ".torchscript", ("torch",), exporter="torchscript:TorchScriptExporter",
               metadata="archive extra files + sidecar"),
    FormatSpec("onnx", ".onnx", ("onnxruntime", "openvino"), exporter="onnx_export:OnnxExporter",
               quantizer="ort:OrtQuantizer", metadata="metadata_props + sidecar"),
    FormatSpec("openvino", "_openvino_model", ("openvino",), directory=True, also=(".xml",),
               exporter="openvino_export:OpenVinoExporter", quantizer="openvino:NncfQuantizer",
               metadata="rt_info + edgeseg.json (or the reference's metadata.yaml)"),
    FormatSpec("ncnn", "_ncnn_model", ("ncnn",), directory=True, exporter="ncnn_export:NcnnExporter",
               metadata="edgeseg.json (or metadata.yaml)"),
    FormatSpec("coreml", ".mlpackage", ("coreml",), directory=True, also=(".mlmodel",),
               exporter="coreml_export:CoreMLExporter", metadata="user-defined metadata + sidecar"),
    FormatSpec("tflite", ".tflite", ("litert",), exporter="tflite_export:TFLiteExporter",
               quantizer="tflite:TfliteQuantizer", metadata="sidecar (or the reference's appended metadata.json)"),
    FormatSpec("edgetpu", "_edgetpu.tflite", ("litert",), exporter="edgetpu_export:EdgeTpuExporter",
               quantizer="tflite:EdgeTpuQuantizer", metadata="sidecar"),
    FormatSpec("saved_model", "_saved_model", ("tensorflow",), directory=True,
               exporter="saved_model_export:SavedModelExporter", metadata="edgeseg.json"),
    FormatSpec("graphdef", ".pb", ("tensorflow",), exporter="saved_model_export:GraphDefExporter"),
    FormatSpec("tfjs", "_web_model", ("tfjs",), directory=True, exporter="tfjs_export:TfjsExporter",
               metadata="edgeseg.json"),
    FormatSpec("paddle", "_paddle_model", ("paddle",), directory=True, exporter="paddle_export:PaddleExporter",
               metadata="edgeseg.json (or metadata.yaml)"),
    FormatSpec("engine", ".engine", (), exporter="engine_export:EngineExporter",
               metadata="sidecar (built on the device by trtexec; no engine runs it here)"),
)}


def format_spec(name: str) -> FormatSpec:
    if name not in FORMATS:
        raise UsageError(f"unknown format '{name}' (known: {', '.join(FORMATS)})")
    return FORMATS[name]


def export_formats() -> list[str]:
    """Formats an export can write, in table order."""
    return [name for name, spec in FORMATS.items() if spec.exporter]


def module_path(reference: str, package: str) -> tuple[str, str]:
    """'ort:OrtQuantizer' under 'edgeseg.converters.quantize' -> ('edgeseg.converters.quantize.ort', 'OrtQuantizer');
    a dotted module ('mypkg.myexport:MyExporter') is taken as it is (a target that lives outside edgeseg)."""
    module, _, attr = reference.partition(":")
    return (module if "." in module else f"{package}.{module}"), attr


def exporter_path(name: str) -> tuple[str, str] | None:
    spec = format_spec(name)
    return module_path(spec.exporter, _CONVERTERS) if spec.exporter else None


def quantizer_path(name: str) -> tuple[str, str] | None:
    spec = FORMATS.get(name)
    return module_path(spec.quantizer, f"{_CONVERTERS}.quantize") if spec and spec.quantizer else None


def suffix_formats() -> list[tuple[str, str]]:
    """(ending, format) pairs, longest ending first, so '_edgetpu.tflite' wins over '.tflite'."""
    pairs = [(ending, spec.name) for spec in FORMATS.values() for ending in spec.endings]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def detect_format(path: str | Path) -> str:
    """Format name of an artifact path; a missing path or an unknown suffix is a usage error."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such model file or directory")
    name = path.name.lower()
    for ending, fmt in suffix_formats():
        if name.endswith(ending):
            return fmt
    known = ", ".join(sorted({e for e, _ in suffix_formats()}))
    raise UsageError(f"{path}: unknown model format (expected a model name like yolov8n-seg or a file ending in {known})")


def is_exported_artifact(path: str | Path) -> bool:
    """An existing file or directory of an exported format (not a checkpoint or a model name)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        return detect_format(path) != "pytorch"
    except UsageError:
        return False
