"""`edgeseg val`: COCO-exact box and mask metrics of any model (checkpoint or artifact) on a dataset split."""
from __future__ import annotations

import json
from pathlib import Path


from edgeseg.console import make_console, plain, plain_table
from edgeseg.model import open_predictor
from edgeseg.runtime.checks import parse_imgsz
from edgeseg.runtime.paths import increment_dir
from edgeseg.runtime.postprocess import PostprocessConfig
from edgeseg.runtime.backends import BackendOptions
from edgeseg.runtime.datasets.problems import summary_lines, write_problems_csv
from edgeseg.runtime.validate import validate

console = make_console()


def metrics_table(metrics, per_class: bool = True):
    cols = ("class", "box P", "box R", "box mAP50", "box mAP50-95", "mask P", "mask R", "mask mAP50", "mask mAP50-95")
    table = plain_table(f"{metrics.images} images, {metrics.instances} instances",
                        [(c, "left" if c == "class" else "right") for c in cols])
    b, s = metrics.box, metrics.seg
    table.add_row("all", *(f"{v:.4f}" for v in (b.mp, b.mr, b.map50, b.map, s.mp, s.mr, s.map50, s.map)))
    if per_class:
        for k in b.ap_class_index:
            table.add_row(plain(metrics.names[int(k)], 60), "", "", "", f"{b.maps[k]:.4f}", "", "", "", f"{s.maps[k]:.4f}")
    return table


def run_val(model: str, data: Path, split: str, imgsz, backend, options: BackendOptions, out, save_json: bool,
            gt_source: str, post: PostprocessConfig) -> None:
    if imgsz is not None:
        parse_imgsz(imgsz)
    predictor = open_predictor(model, backend=backend, options=options)
    project, name, exist_ok = out
    out_dir = increment_dir(Path(project) / name, exist_ok)
    json_path = out_dir / "predictions.json" if save_json else None
    metrics = validate(predictor, data, split, imgsz=imgsz, save_json=json_path, gt_source=gt_source, post=post)
    make_console(stderr=False).print(metrics_table(metrics))
    for line in summary_lines(metrics.skipped):
        console.print(plain(line, 2000))
    if metrics.skipped:
        write_problems_csv(out_dir / "skipped.csv", metrics.skipped)
    summary = {"skipped": len(metrics.skipped), **metrics.results_dict, "model": model, "engine": predictor.backend.describe(), "split": split,
               "box/mAP75": metrics.box.map75, "seg/mAP75": metrics.seg.map75, "speed_ms": metrics.speed}
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    sp = metrics.speed
    console.print(f"Speed per image: {sp['preprocess']:.1f} ms preprocess, {sp['inference']:.1f} ms inference, "
                  f"{sp['postprocess']:.1f} ms postprocess ({predictor.backend.describe()})")
    console.print(f"results saved to {plain(out_dir)}" + (f" (COCO JSON: {plain(json_path)})" if json_path else ""))
