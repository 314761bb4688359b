"""`edgeseg predict`: stream a source through the model, with progress, outputs and per-stage timing."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgeseg.model import open_predictor
from edgeseg.outputs import PredictionWriter
from edgeseg.runtime.paths import increment_dir
from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.predictor import mean_speed
from edgeseg.runtime.sources import count_images

console = Console(stderr=True, soft_wrap=True)  # long paths and figures stay on one line


def run_predict(source: str, model: str, imgsz, backend, batch: int, options: BackendOptions, out, saves,
                verbose: bool, post: dict, profile: str | None = None) -> None:
    report = (lambda line: console.print(f"[dim]{line}[/dim]")) if verbose else None
    preference = None
    if profile:
        from edgeseg.devices.profiles import load_profile

        preference = load_profile(profile).engines
    predictor = open_predictor(model, backend=backend, options=options, report=report, preference=preference)
    if verbose:
        console.print(f"model {model}: {predictor.backend.describe()}, {predictor.metadata.num_classes} classes")
    total = count_images(source)
    project, name, exist_ok = out
    save_images, save_json, save_txt = saves
    out_dir = increment_dir(Path(project) / name, exist_ok) if any(saves) else None
    writer = PredictionWriter(out_dir, save_images, save_json, save_txt) if out_dir else None
    speeds, detections = [], 0
    warn = lambda msg: console.print(f"[yellow]warning:[/yellow] {msg}")  # noqa: E731
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=total is not None and total <= 1) as progress:
        task = progress.add_task("predict", total=total)
        for result in predictor.stream(source, imgsz=imgsz, batch=batch, warn=warn, **post):
            speeds.append(result)
            detections += len(result)
            if writer:
                writer.add(result)
            if verbose or (total is not None and total <= 1):
                console.print(f"{result.path}: {len(result)} instances "
                              f"({', '.join(sorted(set(result.class_names))) or 'none'})")
            result.orig_img = None  # keep memory flat on long sources
            progress.advance(task)
    json_path = writer.close() if writer else None
    speed = mean_speed(speeds)
    console.print(f"{len(speeds)} images, {detections} instances. Speed per image: {speed.get('preprocess', 0):.1f} ms "
                  f"preprocess, {speed.get('inference', 0):.1f} ms inference, {speed.get('postprocess', 0):.1f} ms postprocess")
    if out_dir:
        console.print(f"results saved to {out_dir}" + (f" (COCO JSON: {json_path})" if json_path else ""))
