"""The `edgeseg` command line (typer). Errors print one line and exit 2 for usage problems; --verbose shows tracebacks."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Optional

import typer

from edgeseg.argv import pop_verbose, rewrite_key_value
from edgeseg.runtime.errors import EdgesegError
from edgeseg.runtime.formats import export_formats
from edgeseg.runtime.postprocess import PREDICT_CONFIG, VAL_CONFIG, configure
from edgeseg.runtime.text import one_line

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="YOLO instance segmentation: train, export, predict, val and benchmark, on edgeseg's models and on the "
         "Ultralytics exports users already have. "
         "Options may also be given as key=value (e.g. `edgeseg predict model=m.pt source=img.jpg imgsz=320`).",
)
STATE = {"verbose": False}


@app.command()
def info(
    model: str = typer.Option("yolov8n-seg", help="Model name (yolov8n-seg ... yolo11x-seg ... yolo26x-seg), YAML/TOML "
                                                  "description, or .pt checkpoint."),
    imgsz: int = typer.Option(640, help="Input size for the FLOP count."),
    nc: Optional[int] = typer.Option(None, help="Number of classes for a model built from a name (default 80)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Print a model's layers, parameter count and GFLOPs."""
    from edgeseg.cli_info import run_info

    run_info(model, imgsz, nc, as_json)


@app.command()
def predict(
    source: str = typer.Option(..., help="Image, directory, glob, or video file."),
    model: str = typer.Option("yolov8n-seg", help="Model: a .pt checkpoint (edgeseg or Ultralytics), an artifact, or a name."),
    imgsz: Optional[int] = typer.Option(None, help="Inference size (default: the model's own)."),
    conf: float = typer.Option(PREDICT_CONFIG.conf, help="Confidence threshold."),
    iou: float = typer.Option(PREDICT_CONFIG.iou, help="NMS IoU threshold."),
    max_det: int = typer.Option(PREDICT_CONFIG.max_det, help="Maximum detections per image."),
    classes: Optional[list[int]] = typer.Option(None, help="Keep only these class ids (repeatable)."),
    agnostic_nms: bool = typer.Option(False, help="Class-agnostic NMS."),
    nms: Optional[bool] = typer.Option(None, "--nms/--no-nms", help="Run NMS (default: unless the model's outputs "
                                                                   "are final detections, e.g. YOLO26 end-to-end)."),
    save: bool = typer.Option(True, help="Write overlay images (or video)."),
    save_json: bool = typer.Option(True, help="Write COCO-style predictions.json."),
    save_txt: bool = typer.Option(False, help="Write YOLO-seg polygon labels."),
    project: Path = typer.Option(Path("runs/predict"), help="Parent directory of run directories."),
    name: str = typer.Option("exp", help="Run directory name (auto-numbered unless --exist-ok)."),
    exist_ok: bool = typer.Option(False, help="Reuse the run directory."),
    backend: str = typer.Option("auto", help="Inference engine: auto (the fastest engine x precision whose outputs "
                                             "agree with the artifact's FP32 ones, measured once per machine; see "
                                             "`edgeseg backends --model M`), or one engine by name."),
    device: str = typer.Option("cpu", help="Device passed to the engine (cpu, cuda:0, GPU, NPU, ...)."),
    exec_precision: Optional[str] = typer.Option(None, help="Compute precision where the engine offers a choice "
                                                             "(fp32, bf16, fp16); default: the chosen engine's."),
    threads: Optional[int] = typer.Option(None, help="Inference threads (default: all physical cores)."),
    batch: int = typer.Option(1, help="Images per forward pass, where the model has a batch dimension."),
    profile: Optional[str] = typer.Option(None, help="Device profile whose engine order to use (see `edgeseg devices`)."),
    stream: bool = typer.Option(False, "--stream", help="Print one JSON line per frame to stdout as it is processed "
                                                         "(source, frame, detections); memory stays flat on long videos."),
) -> None:
    """Segment images, directories, globs, videos, webcams or streams; write overlays plus COCO-style JSON."""
    from edgeseg.cli_predict import run_predict
    from edgeseg.runtime.backends import BackendOptions

    run_predict(
        source=source, model=model, imgsz=imgsz, backend=backend, batch=batch, out=(project, name, exist_ok), profile=profile,
        options=BackendOptions(device=device, threads=threads, exec_precision=exec_precision),
        saves=(save, save_json, save_txt), verbose=STATE["verbose"], stream=stream,
        post=configure(PREDICT_CONFIG, conf=conf, iou=iou, max_det=max_det, classes=tuple(classes) if classes else None,
                       agnostic=agnostic_nms, nms=nms),
    )


@app.command()
def backends(fmt: Optional[str] = typer.Option(None, "--format", help="Only this artifact format."),
             model: Optional[Path] = typer.Option(None, help="An artifact: measure every engine x precision on it "
                                                            "and show which `--backend auto` picks.")) -> None:
    """List inference engines per artifact format, in preference order, and why any is skipped; with --model, the
    measured table behind `--backend auto`."""
    from edgeseg.runtime.backends import probe_all
    from edgeseg.runtime.formats import FORMATS, format_spec

    if model is not None:
        from edgeseg.cli_predict import print_auto_table

        return print_auto_table(model)
    for name in [format_spec(fmt).name] if fmt else list(FORMATS):
        typer.echo(f"{name} ({FORMATS[name].suffix}; metadata: {FORMATS[name].metadata}):")
        probes = [p for p in probe_all(name) if p.runs_format]
        for probe in probes:
            status = "available" if probe.available else "skipped"
            typer.echo(f"  {probe.engine:14s} {status:10s} {probe.reason}")
        if not probes:
            typer.echo("  (no engine runs this format on this host)")


@app.command()
def devices(as_json: bool = typer.Option(False, "--json", help="Print the profiles as JSON.")) -> None:
    """List the bundled device profiles (devices/*.toml): formats, precision, input size, engine order."""
    import json as _json
    from dataclasses import asdict

    from edgeseg.devices.profiles import load_profile, profile_names

    profiles = [load_profile(name) for name in profile_names()]
    if as_json:
        typer.echo(_json.dumps([asdict(p) for p in profiles], indent=2))
        return
    for p in profiles:
        typer.echo(f"{p.name:18s} {'/'.join(p.formats):16s} {p.precision:5s} {p.imgsz:4d}  engines: "
                   f"{', '.join(p.engines):30s} {p.description}")
        for label, text in (("build", p.build.command and f"{p.build.command} ({p.build.where})"),
                            ("device runtime", p.build.runtime), ("note", p.build.note or p.calibration.note)):
            if text:
                typer.echo(f"{'':18s} {label}: {text}")


@app.command()
def demo(out: Path = typer.Option(Path("demo-output"), help="Where the demo writes its data and outputs.")) -> None:
    """The bundled trained model on fresh scenes: ONNX FP32, OpenVINO INT8 and TFLite INT8 exports checked against
    it, predict with the auto-selected engine (overlays with masks + JSON), and the parity report."""
    from edgeseg.cli_demo import run_demo

    run_demo(out)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(ctx: typer.Context) -> None:
    """Train YOLOv8-seg: edgeseg train --data d.yaml --model yolov8n-seg --epochs 30 --imgsz 320 --batch 8
    [--pretrained ckpt] [--resume weights/last.pt] [--device cpu|cuda:0] [--patience N] ... (any training option;
    key=value works too; run torchrun --nproc_per_node N -m edgeseg train ... for DDP)."""
    from edgeseg.cli_train import run_train

    run_train(list(ctx.args))


@app.command()
def val(
    model: str = typer.Option(..., help="Checkpoint (.pt) or exported artifact to validate."),
    data: Path = typer.Option(..., help="Dataset data.yaml."),
    split: str = typer.Option("val", help="Split to score (val, test, train)."),
    imgsz: Optional[int] = typer.Option(None, help="Inference size (default: the model's own)."),
    conf: float = typer.Option(VAL_CONFIG.conf, help="Confidence threshold (low, as COCO evaluation expects)."),
    iou: float = typer.Option(VAL_CONFIG.iou, help="NMS IoU threshold."),
    max_det: int = typer.Option(VAL_CONFIG.max_det, help="Maximum detections per image."),
    nms: Optional[bool] = typer.Option(None, "--nms/--no-nms", help="Run NMS (default: unless the model's outputs "
                                                                   "are final detections)."),
    save_json: bool = typer.Option(False, help="Write COCO results JSON (category ids as in the dataset's json)."),
    gt: str = typer.Option("auto", help="Ground truth: auto (the dataset's COCO json if it ships one, else labels), "
                                        "coco, or labels."),
    backend: Optional[str] = typer.Option(None, help="Force an inference engine."),
    device: str = typer.Option("cpu", help="Device passed to the engine."),
    exec_precision: Optional[str] = typer.Option(None, help="fp32, bf16 or fp16 where the engine offers a choice."),
    project: Path = typer.Option(Path("runs/val"), help="Parent directory of run directories."),
    name: str = typer.Option("exp", help="Run directory name."),
    exist_ok: bool = typer.Option(False, help="Reuse the run directory."),
) -> None:
    """Box and mask mAP50, mAP75, mAP50-95, precision, recall (COCO-exact) of a checkpoint or artifact."""
    from edgeseg.cli_val import run_val
    from edgeseg.runtime.backends import BackendOptions

    if gt not in ("auto", "coco", "labels"):
        raise typer.BadParameter("--gt must be auto, coco or labels")
    run_val(model, data, split, imgsz, backend, BackendOptions(device=device, exec_precision=exec_precision),
            (project, name, exist_ok), save_json, gt, configure(VAL_CONFIG, conf=conf, iou=iou, max_det=max_det, nms=nms))


@app.command()
def export(
    model: str = typer.Option(..., help="Checkpoint (.pt, edgeseg or Ultralytics) or model name to export."),
    fmt: Optional[str] = typer.Option(None, "--format", help=f"{', '.join(export_formats())}."),
    target: Optional[str] = typer.Option(None, help="A device profile (see `edgeseg devices`): export exactly what "
                                                    "it asks for (a build bundle for TensorRT devices)."),
    all_formats: bool = typer.Option(False, "--all", help="Every format and precision that works here, with a report."),
    imgsz: Optional[str] = typer.Option(None, help="Input size: 640 (the default inference size; the shape stays "
                                        "free where the export is dynamic) or h,w (a fixed shape); default 640."),
    batch: Optional[int] = typer.Option(None, help="Fixed batch size (makes the export static); default 1."),
    dynamic: Optional[bool] = typer.Option(None, "--dynamic/--static", help="Variable batch and input size "
                                           "(rectangular inference). Default: dynamic where the format's engines run "
                                           "it and nothing fixes the shape (--imgsz h,w, --batch), since real "
                                           "photos then run at their own aspect ratio; else static. INT8 is static "
                                           "unless --dynamic (ONNX, OpenVINO; calibrated at --imgsz)."),
    half: bool = typer.Option(False, help="FP16 weights (float32 inputs/outputs)."),
    int8: bool = typer.Option(False, help="INT8 (onnx: ONNX Runtime QDQ; openvino: NNCF) with a calibration set."),
    calib: Optional[Path] = typer.Option(None, help="Calibration set directory from `edgeseg calib build`."),
    data: Optional[str] = typer.Option(None, help="data.yaml: calibration from its train split (without --calib), "
                                                  "the INT8 mAP budget and --verify on its val split."),
    calib_n: Optional[int] = typer.Option(None, help="Calibration images when building the set from --data (default: up "
                                                      "to 300, all of its train split when it has fewer)."),
    calib_method: str = typer.Option("auto", help="INT8 calibration: auto (measured), minmax, percentile, entropy."),
    max_drop: float = typer.Option(0.5, help="INT8 budget: largest mask mAP50-95 drop (points) vs FP32 on --data's val."),
    verify: bool = typer.Option(False, help="Validate artifact and checkpoint on --data's val split; exit 3 when a "
                                             "drop exceeds its tolerance (FP32 0.1, FP16 0.3, INT8 --max-drop)."),
    opset: Optional[int] = typer.Option(None, help="ONNX opset (17 or newer; default 18)."),
    simplify: bool = typer.Option(True, help="Simplify the ONNX graph with onnxslim."),
    layout: str = typer.Option("edgeseg", help="Outputs: edgeseg (boxes, scores, mask_coeffs, protos), edgeseg-raw "
                                                "(box outputs before the DFL) or ultralytics (output0, output1)."),
    end2end: bool = typer.Option(False, help="Export the one-to-one head (YOLO26): final detections, no NMS."),
    output: Optional[Path] = typer.Option(None, help="Artifact path (default: beside the checkpoint); a directory "
                                                     "for --all."),
) -> None:
    """Export a model; the artifact is checked against PyTorch before it is written (FP32/FP16: raw outputs, cosine
    >= 0.9999 / 0.999; INT8: detections and masks on real images, agreement mAP with the FP32 model)."""
    from edgeseg.cli_export import ExportRequest, run_export, run_export_all, run_export_target

    chosen = [name for name, on in (("--format", bool(fmt)), ("--target", bool(target)), ("--all", all_formats)) if on]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --format, --target or --all")
    req = ExportRequest(model, fmt, imgsz, batch, dynamic, half, int8, calib, data, calib_n, calib_method, max_drop,
                        verify, opset, simplify, layout, output, end2end)
    if target:
        return run_export_target(req, target)
    if all_formats:
        return run_export_all(req)
    return run_export(req)


@app.command()
def benchmark(
    model: str = typer.Option(..., help="Checkpoint to benchmark (the whole matrix), or an exported artifact "
                                        "(ours or the reference's) to measure as it is."),
    data: str = typer.Option(..., help="data.yaml (val split scored; train split calibrates INT8)."),
    imgsz: Optional[str] = typer.Option(None, help="Input size (default 640; an artifact runs at its own)."),
    calib: Optional[Path] = typer.Option(None, help="Calibration set directory (default: built from --data)."),
    calib_n: Optional[int] = typer.Option(None, help="Calibration images when building the set from --data (default: up "
                                                      "to 300, all of its train split when it has fewer)."),
    max_drop: float = typer.Option(0.5, help="INT8 mask mAP budget (points)."),
    out: Optional[Path] = typer.Option(None, help="Write export_report.md/.json/.png here too."),
) -> None:
    """The export matrix (format x precision: size, box/mask mAP, Δ, agreement, ms) without keeping artifacts; for
    an exported file, its own row."""
    from edgeseg.cli_export import run_benchmark

    run_benchmark(model, data, imgsz, calib, calib_n, max_drop, out)


calib_app = typer.Typer(help="INT8 calibration sets.", no_args_is_help=True)
app.add_typer(calib_app, name="calib")


@calib_app.command("build")
def calib_build(
    data: str = typer.Option(..., help="Dataset data.yaml."),
    split: str = typer.Option("train", help="Split to draw from (never val/test)."),
    n: Optional[int] = typer.Option(None, help="Number of images (default: up to 300, all of the split's when it "
                                               "has fewer; an explicit number the split cannot meet is an error)."),
    imgsz: str = typer.Option("640", help="Input size of the models it will calibrate."),
    strategy: str = typer.Option("balanced", help="balanced (every class present is represented) or random."),
    seed: int = typer.Option(0, help="Selection seed."),
    out: Optional[Path] = typer.Option(None, help="Output directory (default: calib/<dataset>_<split>_<imgsz>_n<n>)."),
) -> None:
    """Pick and preprocess calibration images with the runtime's letterbox; writes calib.npz + manifest.json."""
    from edgeseg.cli_export import run_calib_build

    run_calib_build(data, split, n, imgsz, strategy, seed, out)


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns (and exits with) 0 on success, 2 on usage errors, 1 on other failures."""
    args, verbose = pop_verbose(list(sys.argv[1:] if argv is None else argv))
    STATE["verbose"] = verbose
    try:
        result = app(args=rewrite_key_value(args, _flag_options()), prog_name="edgeseg", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except EdgesegError as err:
        if verbose:
            traceback.print_exc()
        print(f"error: {one_line(err)}", file=sys.stderr)
        code = err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        code = 130
    except OSError as err:  # disk full, read-only output, a file vanishing underneath: the OS's words and the path
        if verbose:
            traceback.print_exc()
        print(f"error: {one_line(err)}", file=sys.stderr)
        code = 1
    except Exception as err:
        if hasattr(err, "show") and hasattr(err, "exit_code"):  # the CLI library's own usage errors
            err.show()
            return _finish(argv, err.exit_code)
        # anything else is a bug, not a user error: one line unless --verbose
        if verbose:
            traceback.print_exc()
        print(f"error: {type(err).__name__}: {one_line(err)} (run with --verbose for the traceback)", file=sys.stderr)
        code = 1
    return _finish(argv, code)


def _flag_options() -> frozenset[str]:
    """Every `--option` of every command that takes no value (so a key=value token after it is an option)."""
    flags = {"--help", "--verbose"}
    commands = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        commands += list(getattr(command, "commands", {}).values())  # groups: their subcommands
        for param in getattr(command, "params", []):
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                flags.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
    try:
        from edgeseg.trainer.args import bool_options

        flags.update(bool_options())
    except ImportError:  # no trainer installed: `train` reports that itself
        pass
    return frozenset(flags)


def _finish(argv: list[str] | None, code: int) -> int:
    if argv is None:
        sys.exit(code)
    return code
