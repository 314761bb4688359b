"""`val` for any model the runtime can run: predict every image of a split through the shared pipeline and
score boxes and masks COCO-exactly. The trainer's validation calls this same function."""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from .datasets.coco import coco_ground_truth, find_coco_annotations, load_coco
from .datasets.yolo import DataConfig, label_path, load_data_yaml, orphan_labels, read_labels
from .errors import UsageError
from .instance_masks import InstanceMasks
from .metrics import Evaluator, GroundTruth, SegmentMetrics
from .postprocess import VAL_CONFIG, PostprocessConfig, configure
from .sources import Frame, read_image



def ground_truth(labels, shape: tuple[int, int]) -> GroundTruth:
    """Rasterise YOLO-seg polygons at the original resolution (the dataset convention: fillPoly of the rounded
    pixel polygon); boxes are the masks' pixel bounds, areas their pixel counts."""
    h, w = shape
    n = len(labels.instances)
    windows, crops = np.zeros((n, 4), np.int64), []
    boxes = np.zeros((n, 4), dtype=np.float32)
    for i, inst in enumerate(labels.instances):
        pts = np.round(inst.polygon * [w, h]).astype(np.int32)
        x0, y0 = np.clip(pts.min(0), 0, [w, h])
        x1, y1 = np.clip(pts.max(0) + 1, 0, [w, h])
        canvas = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
        if canvas.size:
            cv2.fillPoly(canvas, [pts], 1, offset=(-int(x0), -int(y0)))
        rows, cols = np.flatnonzero(canvas.any(1)), np.flatnonzero(canvas.any(0))
        if len(rows):
            boxes[i] = x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1
        windows[i] = y0, y1, x0, x1
        crops.append(canvas.astype(bool))
    masks = InstanceMasks((h, w), windows, crops)
    classes = np.array([inst.class_id for inst in labels.instances], dtype=np.int64)
    return GroundTruth(boxes, classes, masks, masks.areas(), np.zeros(n, dtype=bool))


def _category_ids(names: dict[int, str]) -> dict[int, int]:
    return {k: k + 1 for k in names}  # the annotations/instances_*.json convention: class index + 1


def _ground_truth_of(image_path: Path, shape: tuple[int, int], coco, nc: int, skipped: list) -> tuple[GroundTruth, object]:
    """One image's ground truth and COCO image id; label-line problems are added to `skipped`."""
    if coco is not None:
        return coco_ground_truth(coco, image_path.name, shape), coco.images[image_path.name]["id"]
    labels = read_labels(label_path(image_path), nc)
    skipped += [(str(label_path(image_path)), problem) for problem in labels.problems]
    return ground_truth(labels, shape), int(image_path.stem) if image_path.stem.isdigit() else image_path.stem


def validate(predictor, data: str | Path | DataConfig, split: str = "val", imgsz=None, save_json: Path | None = None,
             progress=None, gt_source: str = "auto", on_result=None, post: PostprocessConfig | None = None,
             **overrides) -> SegmentMetrics:
    """Box and mask metrics of `predictor` on a dataset split; predictions are those the model would give a user.

    Ground truth: the dataset's COCO json (annotations/instances_<split>.json) when it ships one and gt_source is
    "auto" or "coco" (then scores equal pycocotools' on the same predictions), else the YOLO-seg label files.
    `on_result(image_path, results)` sees every image's predictions (parity checks compare two models with it).
    `metrics.skipped` lists (file, reason) for every image, label line and annotation left out or adjusted.
    """
    post = configure(post or VAL_CONFIG, **overrides)  # bad thresholds are reported before any work
    cfg = data if isinstance(data, DataConfig) else load_data_yaml(data)
    if split not in cfg.splits:
        raise UsageError(f"{cfg.path}: no '{split}' split (has {', '.join(cfg.splits) or 'none'})")
    if cfg.names != predictor.names and len(cfg.names) != len(predictor.names):
        raise UsageError(f"{cfg.path}: the dataset has {len(cfg.names)} classes but the model predicts {len(predictor.names)}")
    size = predictor.resolve_imgsz(imgsz)
    evaluator, entries, speeds = Evaluator(cfg.names), [], []
    coco_path = (cfg.coco.get(split) or find_coco_annotations(cfg.root, split)) if gt_source in ("auto", "coco") else None
    if gt_source == "coco" and coco_path is None:
        raise UsageError(f"{cfg.root}: no annotations/instances_{split}.json for COCO ground truth")
    coco = load_coco(coco_path) if coco_path else None
    if coco is not None and gt_source == "auto" and not all(p.name in coco.images for p in cfg.splits[split]):
        coco = None  # the json describes other images than this split lists: score against the label files
    category_ids = coco.category_of_class if coco else _category_ids(cfg.names)
    skipped = list(coco.problems) if coco else [(str(p), "label file without an image") for p in orphan_labels(cfg.splits[split])]
    for image_path in cfg.splits[split]:
        try:
            image = read_image(image_path)
            gt, image_id = _ground_truth_of(image_path, image.shape[:2], coco, cfg.nc, skipped)
        except UsageError as err:
            skipped.append((str(image_path), str(err).split(": ", 1)[-1]))
            if progress:
                progress(f"skipping {err}")
            continue
        (res,) = predictor.predict_frames([Frame(image, str(image_path))], size, post)
        speeds.append(res.speed)
        if on_result is not None:
            on_result(image_path, res)
        evaluator.add(gt, res.boxes, res.scores, res.class_ids, res.instance_masks)
        if save_json is not None:
            entries += res.to_coco_json(image_id, category_ids)
        if progress:
            progress(None)
    if not speeds:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise UsageError(f"{cfg.path}: no usable images in the '{split}' split ({len(skipped)} problems{first})")
    t0 = time.perf_counter()
    metrics = evaluator.result()
    metrics.speed = {k: float(np.mean([s[k] for s in speeds]))
                     for k in ("preprocess", "inference", "postprocess")}
    metrics.speed["evaluation_total_s"] = time.perf_counter() - t0
    metrics.skipped = skipped
    if save_json is not None:
        Path(save_json).write_text(json.dumps(entries))
    return metrics
