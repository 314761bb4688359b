"""Export orchestration: load the checkpoint, wrap it, convert in a temp dir, embed metadata, verify through the
runtime, and only then move the artifact into place (never a half-written file at the final path)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeseg.runtime.errors import EdgesegError, NotAvailableError, OutputError, UsageError
from edgeseg.runtime.metadata import ModelMetadata, sidecar_path

from .base import ExportContext, Exporter
from .options import ExportOptions
from .outputs import check_replaceable, resolve_output
from .registry import get_exporter
from .verify import VerifyReport, verify_artifact
from .wrapper import ExportWrapper


@dataclass
class ExportResult:
    path: Path
    metadata: ModelMetadata
    report: VerifyReport | None
    size_bytes: int


def artifact_size(path: Path) -> int:
    """Bytes on disk of a file or a directory artifact."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def default_output(source: str, exporter: type[Exporter]) -> Path:
    src = Path(source)
    stem = src.stem if src.suffix else src.name
    return (src.parent if src.suffix else Path.cwd()) / f"{stem}{exporter.artifact_suffix}"


def load_model(source):
    """A checkpoint path or model name -> (SegmentationModel, ModelMetadata)."""
    from edgeseg.trainer.checkpoint import load_checkpoint
    from edgeseg.trainer.config import config_from_file, config_from_name
    from edgeseg.trainer.model import build_model

    if not isinstance(source, (str, Path)):
        return source.model, source.metadata
    path = Path(source)
    if path.is_file() and path.suffix.lower() in (".pt", ".pth"):
        loaded = load_checkpoint(path)
        return loaded.model, loaded.metadata
    if path.suffix.lower() in (".pt", ".pth"):
        raise UsageError(f"{path}: no such checkpoint file")
    cfg = config_from_file(path) if path.is_file() else config_from_name(str(source))
    model = build_model(cfg)
    return model, model.metadata({i: str(i) for i in range(cfg.nc)})


def _publish(artifact: Path, final: Path, meta: ModelMetadata, suffix: str) -> None:
    """Old artifact out, then the sidecar, then the artifact, each by rename: a kill at any point leaves no
    artifact or a complete one with its own sidecar (never a new sidecar beside an old graph)."""
    staged_sidecar = meta.write_sidecar(artifact)
    check_replaceable(final, suffix)  # again: the path may have changed while the export ran
    if final.is_dir():
        shutil.rmtree(final)  # an export of the same format (checked above): the user asked to replace it
    elif final.exists():
        final.unlink()
    if artifact.is_dir():
        os.replace(artifact, final)
    else:
        os.replace(staged_sidecar, sidecar_path(final))
        os.replace(artifact, final)


def engine_available(engine: str) -> bool:
    from edgeseg.runtime.backends.registry import get_backend_class

    try:
        return get_backend_class(engine).available()[0]
    except EdgesegError:
        return False


def _export_int8(ctx: ExportContext, exporter_cls: type[Exporter], say):
    """Quantise the FP32 ONNX for the target's engine; the metadata records the recipe and the calibration set.
    Returns the artifact, its metadata and the images its verification runs on."""
    from .int8 import calibration_for, quantization_metadata, quantize_within_budget
    from .verify_int8 import verification_images

    options = ctx.options
    calib = calibration_for(options, ctx.metadata, str(options.output or options.format), say)
    holdout = None
    if not options.data:  # no val split: verify on calibration images the quantiser never saw
        calib, holdout = calib.split(max(4, min(32, len(calib) // 8)))
    images = verification_images(options.data, holdout, options.imgsz)
    meta = dataclasses.replace(ctx.metadata, calibration_manifest_sha256=calib.manifest_sha256)
    outcome = quantize_within_budget(options.format, ctx.onnx_path, calib, options, meta, ctx.workdir / "int8", say)
    meta = dataclasses.replace(meta, quantization=quantization_metadata(outcome, calib, options.max_drop))
    exporter_cls.embed_metadata(outcome.result.artifact, meta)
    return outcome.result.artifact, meta, images


def export(source, options: ExportOptions, progress=None) -> ExportResult:
    """Export `source` (checkpoint path, model name, or a LoadedModel) per `options`; returns the final path."""
    say = progress or (lambda msg: None)
    exporter_cls = get_exporter(options.format)
    exporter_cls.check_options(options)
    calibrated_int8 = options.int8 and not exporter_cls.int8_weights_only
    if calibrated_int8:
        from .int8 import check_request

        check_request(options)
    ok, why = exporter_cls.available()
    if not ok:
        raise NotAvailableError(f"cannot export {options.format}: {why}")
    model, base_meta = load_model(source)
    if options.end2end:
        model = model.with_head(end2end=True)  # the export is checked against the same (one-to-one) head
    final = resolve_output(options.output, default_output(str(source), exporter_cls), exporter_cls.artifact_suffix)
    meta = dataclasses.replace(base_meta, imgsz=tuple(options.imgsz), dynamic=options.dynamic, batch=options.batch,
                               layout=options.layout, precision=options.precision, edgeseg_version=base_meta.edgeseg_version,
                               end2end=options.end2end,
                               quantization={"scheme": exporter_cls.int8_scheme} if options.int8 else {},
                               input_layout=exporter_cls.input_layout)
    wrapper = ExportWrapper(model, options.layout, options.end2end)
    try:
        return _export_staged(options, exporter_cls, wrapper, model, meta, final, calibrated_int8, say)
    except OSError as err:  # disk full, read-only directory, ...: the staging directory is already gone
        raise OutputError(f"{final}: cannot write the export ({err.strerror or err}); nothing was left at this path") from err


STAGING_PREFIX = ".edgeseg-export-"


def _remove_stale_staging(folder: Path) -> None:
    """Staging directories of exports that were killed (their process is gone) are deleted."""
    for stale in folder.glob(f"{STAGING_PREFIX}*"):
        pid = stale.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _export_staged(options: ExportOptions, exporter_cls, wrapper, model, meta: ModelMetadata, final: Path,
                   calibrated_int8: bool, say) -> ExportResult:
    """Everything is built in a staging directory beside the output and published by rename at the end."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(final.parent)
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=final.parent) as tmp:
        ctx = ExportContext(wrapper, options, meta, Path(tmp))
        if exporter_cls.source == "onnx" or calibrated_int8:
            say("tracing to ONNX")
            onnx_opts = dataclasses.replace(options, format="onnx", half=False, int8=False)
            onnx_dir = Path(tmp) / "onnx"
            onnx_dir.mkdir()
            ctx.onnx_path = get_exporter("onnx")().export(dataclasses.replace(ctx, options=onnx_opts, workdir=onnx_dir))
        images = None
        if calibrated_int8:
            artifact, meta, images = _export_int8(ctx, exporter_cls, say)
        else:
            say(f"converting to {options.format}")
            artifact = exporter_cls().export(ctx)
        meta.write_sidecar(artifact)
        report = None
        if options.check_outputs and engine_available(exporter_cls.engine) and images is not None:
            from .verify_int8 import verify_quantized

            say(f"verifying the INT8 detections against the FP32 model on {images[1]}")
            report = verify_quantized(artifact, model, exporter_cls.engine, images[0], images[1], meta.names)
        elif options.check_outputs and engine_available(exporter_cls.engine):
            say("verifying against the PyTorch model")
            report = verify_artifact(artifact, model, exporter_cls.engine, options.precision, options.imgsz,
                                     options.batch, options.dynamic)
        elif options.check_outputs:
            report = VerifyReport(exporter_cls.engine, [], note=exporter_cls.offline_check(artifact, meta))
        artifact, meta = exporter_cls.finalize(artifact, meta, final, say, options)
        meta.write_sidecar(artifact)
        _publish(artifact, final, meta, exporter_cls.artifact_suffix)
    return ExportResult(final, meta, report, artifact_size(final))
