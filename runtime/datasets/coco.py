"""COCO instance annotations (instances_*.json) as ground truth: polygon or RLE segmentations, crowd regions,
the annotation's own bbox and area, exactly what pycocotools scores against."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import rle
from ..errors import UsageError
from ..instance_masks import InstanceMasks
from ..metrics import GroundTruth
from .coco_checks import Problem, check_annotations, check_categories, check_images


@dataclass
class CocoAnnotations:
    path: Path
    images: dict[str, dict]  # file name -> image record
    by_image: dict[int, list[dict]]
    class_of_category: dict[int, int]  # category id -> class index (order of `categories`)
    category_of_class: dict[int, int]
    names: dict[int, str]
    problems: list[Problem] = field(default_factory=list)  # records left out, with their reasons


def load_coco(path: str | Path) -> CocoAnnotations:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"{path}: unreadable COCO annotations ({err})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UsageError(f"{path}: COCO annotations need a '{key}' list")
    class_of = check_categories(data["categories"], path)
    images, problems = check_images(data["images"], path)
    by_image, ann_problems = check_annotations(data["annotations"], class_of, images, path)
    names = {i: str(c.get("name", i)) for i, c in enumerate(data["categories"])}
    return CocoAnnotations(path, images, by_image, class_of, {v: k for k, v in class_of.items()}, names,
                           problems + ann_problems)


def _mask(segm, h: int, w: int, origin: str) -> np.ndarray:
    if isinstance(segm, list):  # polygons in continuous coordinates (pixel centres at +0.5)
        canvas = np.zeros((h, w), np.uint8)
        polys = [np.round(np.asarray(p, np.float64).reshape(-1, 2) - 0.5).astype(np.int32) for p in segm if len(p) >= 6]
        if polys:
            cv2.fillPoly(canvas, polys, 1)
        return canvas.astype(bool)
    if isinstance(segm, dict) and "counts" in segm and "size" in segm:
        if list(segm["size"]) != [h, w]:
            raise UsageError(f"{origin}: RLE size {segm['size']} does not match the image's {h}x{w}")
        return rle.decode(segm)
    raise UsageError(f"{origin}: unsupported segmentation {str(segm)[:60]}")


def coco_ground_truth(coco: CocoAnnotations, file_name: str, shape: tuple[int, int]) -> GroundTruth:
    """One image's annotations (boxes from `bbox`, areas from `area`, crowd from `iscrowd`)."""
    image = coco.images.get(file_name)
    if image is None:
        raise UsageError(f"{coco.path}: no image record for {file_name}")
    h, w = shape
    if (h, w) != (image["height"], image["width"]):
        raise UsageError(f"{coco.path}: image {file_name} is {w}x{h} but its record says {image['width']}x{image['height']}")
    anns = coco.by_image.get(int(image["id"]), [])  # records were checked when the file was loaded
    origin = f"{coco.path} (image {file_name})"
    masks = np.array([_mask(a["segmentation"], h, w, origin) for a in anns]).reshape(-1, h, w)
    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                      for a in anns], np.float32).reshape(-1, 4)
    return GroundTruth(
        boxes=boxes,
        class_ids=np.array([coco.class_of_category[int(a["category_id"])] for a in anns], np.int64),
        masks=InstanceMasks.from_full(masks),
        areas=np.array([float(a.get("area", m.sum())) for a, m in zip(anns, masks)], np.float64),
        crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], bool),
    )


def find_coco_annotations(root: Path, split: str) -> Path | None:
    """The dataset's own COCO json for a split, when it ships one (annotations/instances_<split>.json)."""
    path = root / "annotations" / f"instances_{split}.json"
    return path if path.is_file() else None


def merge_parts(parts: list[np.ndarray]) -> np.ndarray:
    """Several polygons of one instance as ONE polygon: each further part is reached from the nearest point of the
    polygon so far by a zero-area bridge walked out and back, so filling it gives the union (the YOLO-seg
    convention for multi-part instances)."""
    merged = parts[0]
    for part in parts[1:]:
        d = ((merged[:, None, :] - part[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(d.argmin()), d.shape)
        loop = np.concatenate([part[j:], part[: j + 1]])
        merged = np.concatenate([merged[: i + 1], loop, merged[i:]])
    return merged


def instance_polygon(segm, h: int, w: int, origin: str) -> np.ndarray | None:
    """One (P,2) pixel polygon for an annotation's polygons or RLE (None when it has no area)."""
    if isinstance(segm, list):
        parts = [np.asarray(p, np.float64).reshape(-1, 2) for p in segm if len(p) >= 6]
    else:
        mask = _mask(segm, h, w, origin).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        parts = [c.reshape(-1, 2).astype(np.float64) + 0.5 for c in contours if len(c) >= 3]
    if not parts:
        return None
    parts.sort(key=lambda p: -cv2.contourArea(p.astype(np.float32)))
    return merge_parts(parts)


def training_instances(coco: CocoAnnotations, file_name: str) -> tuple[list[int], list[np.ndarray], list[str]]:
    """(class ids, normalised polygons, problems) of one image for training; crowd regions are left out."""
    image = coco.images[file_name]
    h, w = int(image["height"]), int(image["width"])
    classes, polygons, problems = [], [], []
    for ann in coco.by_image.get(int(image["id"]), []):
        cat = ann.get("category_id")
        if cat not in coco.class_of_category:
            problems.append(f"annotation {ann.get('id')}: unknown category id {cat}")
            continue
        if ann.get("iscrowd", 0):
            continue
        try:
            poly = instance_polygon(ann.get("segmentation"), h, w, f"{coco.path} (annotation {ann.get('id')})")
        except UsageError as err:
            problems.append(str(err).split(": ", 1)[-1])
            continue
        if poly is None:
            problems.append(f"annotation {ann.get('id')}: empty segmentation")
            continue
        classes.append(coco.class_of_category[cat])
        polygons.append((poly / [w, h]).clip(0, 1).astype(np.float32))
    return classes, polygons, problems
