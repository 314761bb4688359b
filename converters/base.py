"""The exporter interface: each target says what it starts from and which options it supports."""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edgeseg.runtime.errors import EdgesegError, UsageError
from edgeseg.runtime.formats import FORMATS
from edgeseg.runtime.metadata import ModelMetadata

from .options import ExportOptions


class ExportToolError(EdgesegError):
    """A conversion tool (onnx2tf, pnnx, torch.onnx, edgetpu_compiler, ...) failed on the graph; the message names
    the tool and carries the end of its log, and nothing was written at the output path."""


@dataclass
class ExportContext:
    """What an exporter gets: the wrapped torch module (or an ONNX file), options, metadata and a work dir."""

    module: object  # ExportWrapper (torch.nn.Module)
    options: ExportOptions
    metadata: ModelMetadata
    workdir: Path
    onnx_path: Path | None = None  # filled for exporters that start from ONNX


class Exporter(ABC):
    """One export target. `export` writes the artifact inside ctx.workdir and returns its path there."""

    format: ClassVar[str]
    source: ClassVar[str]  # "torch" or "onnx": what the conversion starts from
    artifact_suffix: ClassVar[str]  # from the format table: ".onnx", "_openvino_model", ...
    supports_dynamic: ClassVar[bool] = True
    supports_half: ClassVar[bool] = True
    single_image: ClassVar[bool] = False  # the format has no batch dimension (ncnn, CoreML image input, TFLite)
    engine: ClassVar[str | None]  # from the format table: its first engine verifies the artifact (None: none runs here)

    def __init_subclass__(cls, **kwargs) -> None:
        """The suffix and the verifying engine are the format table's, not restated per exporter."""
        super().__init_subclass__(**kwargs)
        spec = FORMATS.get(getattr(cls, "format", ""))
        if spec is not None:
            cls.artifact_suffix = spec.suffix
            cls.engine = spec.engines[0] if spec.engines else None

    @classmethod
    def check_options(cls, options: ExportOptions) -> None:
        """Reject option combinations this target cannot honour (never change them silently)."""
        if options.dynamic and not cls.supports_dynamic:
            raise UsageError(f"--dynamic is not supported for {cls.format} exports")
        if options.half and not cls.supports_half:
            raise UsageError(f"--half is not supported for {cls.format} exports on this host")
        if options.batch != 1 and cls.single_image:
            raise UsageError(f"{cls.format} models take one image per run (predict loops over a batch): use --batch 1")
        if cls.int8_only and not options.int8:
            raise UsageError(f"{cls.format} models are full-integer INT8: add --int8 with --calib DIR or --data d.yaml")
        if cls.required_layout and options.layout != cls.required_layout:
            raise UsageError(f"{cls.format} exports need --layout {cls.required_layout} ({cls.required_layout_why})")

    requires: ClassVar[tuple[str, ...]] = ()  # python modules the conversion needs
    extra: ClassVar[str] = "export"  # the pip extra that installs them
    input_layout: ClassVar[str] = "NCHW"  # NHWC for mobile formats (recorded in the metadata)
    required_layout: ClassVar[str | None] = None  # an output layout the target cannot do without
    required_layout_why: ClassVar[str] = ""
    int8_only: ClassVar[bool] = False
    int8_weights_only: ClassVar[bool] = False  # --int8 quantises weights inside the exporter (no calibration)
    int8_scheme: ClassVar[str] = ""

    @classmethod
    def available(cls) -> tuple[bool, str]:
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"{cls.format} export needs {', '.join(missing)}: pip install 'edgeseg[{cls.extra}]'"
        return True, ""

    @classmethod
    def embed_metadata(cls, artifact: Path, metadata: ModelMetadata) -> None:
        """Put metadata inside an artifact made by another tool (an INT8 quantiser); the sidecar is written anyway."""

    @classmethod
    def offline_check(cls, artifact: Path, metadata: ModelMetadata) -> str:
        """Verification when the artifact's engine cannot run on this host; by default there is none."""
        from edgeseg.runtime.errors import NotAvailableError

        raise NotAvailableError(f"cannot verify the {cls.format} export: its engine '{cls.engine}' is not available "
                                f"here (install it, or pass check_outputs=False to skip the check)")

    @classmethod
    def finalize(cls, artifact: Path, metadata: ModelMetadata, final: Path, say,
                 options: ExportOptions) -> tuple[Path, ModelMetadata]:
        """A last step after verification (e.g. a device compiler); by default the artifact is final as it is."""
        return artifact, metadata

    # ---- device bundles: what a profile with a build step (run on or for the device) gets ---------------------
    @classmethod
    def bundle_available(cls) -> tuple[bool, str]:
        """Whether a device bundle can be made here; by default, whether this export can."""
        return cls.available()

    @classmethod
    def bundle_input(cls, source, options: ExportOptions, progress):
        """What the device's build step starts from: by default this format, exported and verified as usual."""
        from .export import export

        return export(source, options, progress)

    @classmethod
    def bundle_extras(cls, result, staging: Path, quant: dict, progress) -> bool:
        """Files the device's INT8 build needs beside `result` (a calibration cache, ...), written into staging;
        True when the INT8 build script can run. By default the format has no device-side INT8 build."""
        return False

    @abstractmethod
    def export(self, ctx: ExportContext) -> Path:
        """Write the artifact (with embedded metadata where the format allows) under ctx.workdir."""
