"""`edgeseg export`, `edgeseg benchmark` and `edgeseg calib build`: artifacts verified against the PyTorch model
before they are written, and (with --verify) validated against the checkpoint on real data."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeseg.console import make_console, plain
from edgeseg.runtime.errors import NotAvailableError, UsageError
from edgeseg.runtime.metadata import ModelMetadata

console = make_console()


@dataclass(frozen=True)
class ExportRequest:
    """The export command's options, as given."""

    model: str
    fmt: str | None
    imgsz: str | None
    batch: int | None
    dynamic: bool | None
    half: bool
    int8: bool
    calib: Path | None
    data: str | None
    calib_n: int | None
    calib_method: str
    max_drop: float
    verify: bool
    opset: int | None
    simplify: bool
    layout: str
    output: Path | None
    end2end: bool = False

    def quant_options(self) -> dict:
        return dict(calib=self.calib, data=self.data, calib_n=self.calib_n, calib_method=self.calib_method,
                    max_drop=self.max_drop)


def _say(msg: str) -> None:
    console.print(plain(msg, 2000), style="dim")


def _converters():
    try:
        from edgeseg.converters import export as export_module
    except ImportError as err:
        raise NotAvailableError(f"`edgeseg export` needs torch and the converter toolchains: "
                                f"pip install 'edgeseg[export]' ({err})") from None
    return export_module


def _need_data(req: ExportRequest) -> None:
    if req.verify and not req.data:
        raise UsageError("--verify needs --data d.yaml (its val split is where artifact and checkpoint are compared)")


def _gate(req: ExportRequest, artifact: Path, fmt: str, size_bytes: int, meta: ModelMetadata) -> None:
    """--verify: the checkpoint runs as the artifact's metadata says it runs (input size, rectangular inputs when
    dynamic, one-to-one head when end2end), so the table measures the export, not a change of shape or head."""
    from edgeseg.converters.gate import check, markdown_table, reference_row
    from edgeseg.converters.report import gate_artifact, reference_evaluation

    _say(f"validating checkpoint and artifact on {req.data} (val)")
    reference, ref_size = reference_evaluation(req.model, req.data, tuple(meta.imgsz), meta.end2end, meta.dynamic)
    row = gate_artifact(reference, artifact, fmt, meta.precision, req.data, req.max_drop, size_bytes)
    console.print(markdown_table([reference_row(reference, ref_size), row]))
    check([row], artifact)


DYNAMIC_BY_DEFAULT = ("onnx", "openvino")  # their engines run any input shape at full speed (FP32/FP16)


def fixes_shape(imgsz: str | None) -> bool:
    """`--imgsz h,w` fixes the input shape; a single value only sets the default inference size (long side)."""
    return imgsz is not None and len([v for v in str(imgsz).replace("x", ",").split(",") if v.strip()]) > 1


def default_dynamic(req: ExportRequest) -> bool:
    """--dynamic/--static as given; by default dynamic where the format runs any shape well (rectangular inputs
    for real photos: a 4:3 photo at 640 runs 480x640, a quarter less work), unless --imgsz h,w or --batch fixes the
    shape. INT8 only where its quantiser says so (`dynamic_by_default`, measured per engine; none does today: see
    converters/quantize/openvino.py and ort.py for the figures)."""
    if req.dynamic is not None:
        return req.dynamic
    if req.fmt not in DYNAMIC_BY_DEFAULT or fixes_shape(req.imgsz) or req.batch is not None:
        return False
    return not req.int8 or _int8_dynamic_by_default(req.fmt)


def _int8_dynamic_by_default(fmt: str) -> bool:
    from edgeseg.converters.quantize.base import get_quantizer

    quantizer = get_quantizer(fmt)
    return bool(quantizer and quantizer.dynamic_by_default)


def run_export(req: ExportRequest) -> None:
    export_module = _converters()
    from edgeseg.converters.options import ExportOptions
    from edgeseg.runtime.checks import parse_imgsz

    _need_data(req)
    dynamic = default_dynamic(req)
    options = ExportOptions(format=req.fmt, imgsz=parse_imgsz(req.imgsz or "640"), batch=1 if req.batch is None else req.batch, dynamic=dynamic,
                            half=req.half, int8=req.int8, opset=req.opset, simplify=req.simplify, layout=req.layout,
                            end2end=req.end2end,
                            output=req.output, **req.quant_options())
    result = export_module.export(req.model, options, progress=_say)
    if result.report:
        console.print(result.report.summary())
    console.print(f"exported {req.fmt} ({options.precision}, layout {req.layout}, "
                  f"{'dynamic' if dynamic else f'{options.imgsz[0]}x{options.imgsz[1]} batch {options.batch}'}) "
                  f"to {result.path} ({result.size_bytes / 1e6:.1f} MB)")
    if req.verify:
        _gate(req, result.path, req.fmt, result.size_bytes, result.metadata)


def run_export_target(req: ExportRequest, target: str) -> None:
    _converters()
    from edgeseg.converters.targets import export_target

    _need_data(req)
    result = export_target(req.model, target, req.output, progress=_say, quant=req.quant_options())
    if result.report:
        console.print(result.report.summary())
    console.print(f"exported for {target} to {result.path} ({result.size_bytes / 1e6:.1f} MB)")
    if req.verify:
        from edgeseg.devices.profiles import load_profile

        bundled = result.path / "model.onnx"  # TensorRT bundles: the ONNX the device builds its engine from
        path, fmt = (bundled, "onnx") if bundled.is_file() else (result.path, load_profile(target).formats[0])
        _gate(req, path, fmt, result.size_bytes, result.metadata)


def _matrix(model: str, data: str, imgsz: str, calib, calib_n: int | None, max_drop: float, out_dir: Path | None):
    _converters()
    from edgeseg.runtime.checks import parse_imgsz
    from edgeseg.converters.report import run_matrix

    report = run_matrix(model, data, parse_imgsz(imgsz), out_dir, calib, calib_n, max_drop, say=_say)
    console.print(report.markdown())
    return report


def report_dir(requested: Path) -> Path:
    """Where --all / benchmark --out write: the folder itself when it is new, empty or an earlier report of ours;
    inside a user's folder, a new `export_all` subfolder (its files are never touched)."""
    from edgeseg.runtime.paths import RUN_MARKER, increment_dir

    if requested.is_dir() and not (requested / RUN_MARKER).is_file() and any(requested.iterdir()):
        return increment_dir(requested / "export_all")
    return increment_dir(requested, exist_ok=True)


def run_export_all(req: ExportRequest) -> None:
    if not req.data:
        raise UsageError("--all needs --data d.yaml (calibration from its train split, the report on its val split)")
    out_dir = report_dir(Path(req.output) if req.output else Path(req.model).with_suffix("").parent / "export_all")
    from edgeseg.converters.gate import check
    from edgeseg.converters.report import write_report

    report = _matrix(req.model, req.data, req.imgsz or "640", req.calib, req.calib_n, req.max_drop, out_dir)
    for path in write_report(report, out_dir):
        console.print(f"wrote {path}")
    if req.verify:
        check(report.rows, out_dir)


def run_benchmark(model: str, data: str, imgsz: str | None, calib, calib_n: int | None, max_drop: float,
                  out: Path | None) -> None:
    from edgeseg.runtime.formats import is_exported_artifact

    if is_exported_artifact(model):
        from edgeseg.converters.report import artifact_report

        report = artifact_report(model, data, imgsz, say=_say)
        console.print(report.markdown())
    else:
        report = _matrix(model, data, imgsz or "640", calib, calib_n, max_drop, None)
    if out:
        from edgeseg.converters.report import write_report

        for path in write_report(report, report_dir(out)):
            console.print(f"wrote {path}")


def run_calib_build(data: str, split: str, n: int | None, imgsz: str, strategy: str, seed: int, out: Path | None) -> None:
    from edgeseg.calibration.dataset import build_calibration_set
    from edgeseg.runtime.checks import parse_imgsz

    size = parse_imgsz(imgsz)
    out = out or Path("calib") / f"{Path(data).resolve().parent.name}_{split}_{size[0]}_n{n or 'auto'}"
    calib = build_calibration_set(data, out, split, n, size, strategy, seed)
    m = calib.manifest
    console.print(f"calibration set: {m['count']} images from {m['split']} ({m['strategy']}, seed {m['seed']}), "
                  f"{m['classes_covered']}/{m['classes_present']} classes present in the split covered, "
                  f"input {size[0]}x{size[1]}")
    console.print(f"wrote {out / 'calib.npz'} and {out / 'manifest.json'} (manifest sha256 {calib.manifest_sha256[:16]})")
