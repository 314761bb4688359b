"""Record-level checks of a COCO instances json: a malformed image or annotation record is left out and named
with its reason (the rest of the file stays usable); only a file with nothing usable left is an error."""
from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

from .. import rle
from ..errors import UsageError
from .problems import Problem


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_categories(cats: list, path: Path) -> dict[int, int]:
    """category id -> class index; a category without an integer id makes the class order unknowable: an error."""
    class_of: dict[int, int] = {}
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise UsageError(f"{path}: category #{i} has no integer 'id' ({str(cat)[:60]})")
        if cat["id"] in class_of:
            raise UsageError(f"{path}: category id {cat['id']} appears twice")
        class_of[int(cat["id"])] = i
    return class_of


def check_images(records: list, path: Path) -> tuple[dict[str, dict], list[Problem]]:
    images, problems = {}, []
    for i, rec in enumerate(records):
        where = f"{path} (image record #{i})"
        if not isinstance(rec, dict):
            problems.append((where, "image record is not an object"))
            continue
        bad = [k for k, ok in (("file_name", isinstance(rec.get("file_name"), str)), ("id", _is_int(rec.get("id"))),
                               ("height", _is_int(rec.get("height")) and rec.get("height", 0) > 0),
                               ("width", _is_int(rec.get("width")) and rec.get("width", 0) > 0)) if not ok]
        if bad:
            problems.append((where, f"image record missing or invalid {bad}"))
        elif rec["file_name"] in images:
            problems.append((where, f"duplicate image record for {rec['file_name']}"))
        else:
            images[rec["file_name"]] = rec
    return images, problems


def _segmentation_problem(segm, image: dict) -> str | None:
    if isinstance(segm, list):
        if not segm or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and
                               all(isinstance(v, Real) for v in p) for p in segm):
            return "polygon segmentation needs lists of >= 3 numeric x,y pairs"
        return None
    if not (isinstance(segm, dict) and "counts" in segm and "size" in segm):
        return f"unsupported segmentation {str(segm)[:40]}"
    size = [image["height"], image["width"]]
    if list(segm["size"]) != size:
        return f"RLE size {segm['size']} does not match the image's {size[0]}x{size[1]}"
    counts = segm["counts"]
    try:
        total = sum(rle.decompress_counts(counts) if isinstance(counts, str) else counts)
    except (TypeError, ValueError, IndexError):
        return "RLE counts are unreadable"
    if total != size[0] * size[1]:
        return f"RLE counts cover {total} pixels, not {size[0]}x{size[1]}"
    return None


def check_annotation(ann, class_of: dict[int, int], image_by_id: dict[int, dict]) -> str | None:
    """Why an annotation cannot be used (None when it can)."""
    if not isinstance(ann, dict):
        return "annotation is not an object"
    missing = [k for k in ("image_id", "category_id", "segmentation", "bbox") if k not in ann]
    if missing:
        return f"missing fields {missing}"
    if ann["category_id"] not in class_of:
        return f"unknown category id {ann['category_id']}"
    image = image_by_id.get(ann["image_id"])
    if image is None:
        return f"image id {ann['image_id']} has no image record"
    bbox = ann["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, Real) for v in bbox)):
        return f"bbox must be 4 numbers, got {str(bbox)[:40]}"
    return _segmentation_problem(ann["segmentation"], image)


def check_annotations(anns: list, class_of: dict[int, int], images: dict[str, dict],
                      path: Path) -> tuple[dict[int, list[dict]], list[Problem]]:
    image_by_id = {rec["id"]: rec for rec in images.values()}
    by_image: dict[int, list[dict]] = {}
    problems = []
    for i, ann in enumerate(anns):
        reason = check_annotation(ann, class_of, image_by_id)
        if reason:
            ident = ann.get("id", f"#{i}") if isinstance(ann, dict) else f"#{i}"
            problems.append((f"{path} (annotation {ident})", reason))
        else:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    return by_image, problems
