"""`edgeseg predict`: stream a source through the model, with progress, outputs and per-stage timing."""
from __future__ import annotations

import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgeseg.console import make_console, plain
from edgeseg.devices.profiles import load_profile
from edgeseg.model import open_predictor
from edgeseg.outputs import PredictionWriter
from edgeseg.runtime.checks import parse_imgsz
from edgeseg.runtime.errors import OptionError
from edgeseg.runtime.paths import increment_dir
from edgeseg.runtime.postprocess import PostprocessConfig
from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.predictor import SpeedTotals
from edgeseg.runtime.sources import count_images

console = make_console()


def frame_record(result) -> dict:
    """One JSON line of `predict --stream`: where the frame came from and its detections (masks as pixel areas)."""
    return {"source": result.path, "frame": result.frame_index, "instances": len(result),
            "detections": [{**d, "mask_area": int(a)} for d, a in zip(result.summary(), result.instance_masks.areas())],
            "speed_ms": {k: round(v, 2) for k, v in result.speed.items()}}


def run_predict(source: str, model: str, imgsz, backend, batch: int, options: BackendOptions, out, saves,
                verbose: bool, post: PostprocessConfig, profile: str | None = None, stream: bool = False) -> None:
    if imgsz is not None:
        parse_imgsz(imgsz)
    if batch < 1:
        raise OptionError(f"--batch must be an integer >= 1, got {batch}")
    report = (lambda line: console.print(plain(line, 2000), style="dim")) if verbose else None
    preference = load_profile(profile).engines if profile else None
    predictor = open_predictor(model, backend=backend, options=options, report=report, preference=preference)
    if verbose:
        console.print(f"model {plain(model)}: {predictor.backend.describe()}, {predictor.metadata.num_classes} classes")
    total = count_images(source)
    project, name, exist_ok = out
    out_dir = increment_dir(Path(project) / name, exist_ok) if any(saves) else None
    writer = PredictionWriter(out_dir, *saves) if out_dir else None
    speeds, detections = SpeedTotals(), 0
    warn = lambda msg: console.print(f"warning: {plain(msg, 2000)}", style="yellow")  # noqa: E731
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True, disable=stream or (total is not None and total <= 1)) as progress:
            task = progress.add_task("predict", total=total)
            for result in predictor.stream(source, imgsz=imgsz, batch=batch, warn=warn, post=post):
                speeds.add(result.speed)
                detections += len(result)
                if writer:
                    writer.add(result)
                if stream:
                    print(json.dumps(frame_record(result)), flush=True)
                elif verbose or (total is not None and total <= 1):
                    names = ", ".join(plain(n, 60) for n in sorted(set(result.class_names))[:20]) or "none"
                    console.print(f"{plain(result.path)}: {len(result)} instances ({names})")
                progress.advance(task)
    except BaseException:
        if writer:
            writer.abort()
        raise
    json_path = writer.close() if writer else None
    speed = speeds.mean()
    console.print(f"{speeds.count} images, {detections} instances. Speed per image: {speed['preprocess']:.1f} ms "
                  f"preprocess, {speed['inference']:.1f} ms inference, {speed['postprocess']:.1f} ms postprocess")
    if out_dir:
        console.print(f"results saved to {plain(out_dir)}" + (f" (COCO JSON: {plain(json_path)})" if json_path else ""))


def print_auto_table(model: Path) -> None:
    """`edgeseg backends --model M`: every engine x precision measured on the artifact, and the choice."""
    from edgeseg.runtime.autoselect import choose, describe
    from edgeseg.runtime.formats import detect_format
    from edgeseg.runtime.metadata import ModelMetadata, find_sidecar

    predictor = open_predictor(str(model), backend=None)
    found = find_sidecar(model)
    sidecar = ModelMetadata.from_json_file(found) if found else None
    best, table, cached = choose(Path(model), detect_format(model), predictor.metadata, sidecar, BackendOptions())
    print(f"{plain(model)} ({'cached measurement' if cached else 'measured now'}; probe: one 640x480 synthetic photo "
          f"at the model's input size, median of 10 runs):")
    for line in describe(table, best):
        print("  " + line)
    print(f"--backend auto uses {best.label}")
