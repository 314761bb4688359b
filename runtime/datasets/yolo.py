"""YOLO-seg datasets from a data.yaml, torch-free (runtime val and calibration read them; the trainer adds
augmentation on top). Every bad label line or file is reported with its reason, never silently fixed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..metadata import parse_names
from ..safe_yaml import read_yaml
from ..sources import IMAGE_SUFFIXES
from ..text import plain

MIN_POINTS = 3
CLIP_TOLERANCE = 0.01  # coordinates this far outside [0, 1] are clipped (and reported); further out is dropped


@dataclass
class DataConfig:
    path: Path  # the data.yaml
    root: Path
    splits: dict[str, list[Path]]  # split -> image files
    names: dict[int, str]
    coco: dict[str, Path] = field(default_factory=dict)  # split -> COCO json when the split is given as one

    @property
    def nc(self) -> int:
        return len(self.names)


@dataclass
class Instance:
    class_id: int
    polygon: np.ndarray  # (P,2) normalised xy


@dataclass
class LabelFile:
    instances: list[Instance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one reason per skipped or adjusted line


def _list_images(entry: str | list, root: Path, origin: Path) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    files: list[Path] = []
    for item in entries:
        if not isinstance(item, str):
            raise UsageError(f"{origin}: image sources must be paths, got {item!r}")
        path = (root / item) if not Path(item).is_absolute() else Path(item)
        if path.is_dir():
            # broken links and link loops with an image suffix are kept, so that reading them reports the problem
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
        elif path.suffix == ".txt" and path.is_file():
            lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
            files += [(path.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines]
        else:
            raise UsageError(f"{origin}: '{item}' is neither an image directory nor a list file ({path})")
    return files


def _splits_present(data: dict, root: Path) -> bool:
    entries = [data[s] for s in ("train", "val") if data.get(s)]
    flat = [e for entry in entries for e in (entry if isinstance(entry, list) else [entry])]
    return all(isinstance(e, str) and ((root / e) if not Path(e).is_absolute() else Path(e)).exists() for e in flat)


def load_data_yaml(path: str | Path) -> DataConfig:
    """Parse and check a data.yaml: `path`, `train`, `val`, optional `test`, `names` (and `nc` must agree)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such dataset file")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a dataset description must be a mapping")
    missing = [k for k in ("names", "val") if k not in data]
    if missing:
        raise UsageError(f"{path}: missing required keys {missing}")
    names = parse_names(data["names"], str(path))
    if "nc" in data and (not isinstance(data["nc"], int) or data["nc"] != len(names)):
        raise UsageError(f"{path}: nc is {plain(repr(data['nc']), 40)} but 'names' lists {len(names)} classes")
    base = data.get("path", ".")
    if not isinstance(base, str):
        raise UsageError(f"{path}: 'path' must be a string, got {plain(repr(base), 80)}")
    root = (path.parent / base).resolve() if not Path(base).is_absolute() else Path(base)
    if data.get("download") and not _splits_present(data, root):
        from .download import download_dataset

        if not isinstance(data["download"], str):
            raise UsageError(f"{path}: 'download' must be a URL string")
        download_dataset(data["download"], root, str(path))
    splits, coco = {}, {}
    for split in ("train", "val", "test"):
        entry = data.get(split)
        if isinstance(entry, str) and entry.endswith(".json"):
            coco[split], splits[split] = _coco_split(entry, data.get(f"{split}_images", f"images/{split}"), root, path)
        elif entry:
            splits[split] = _list_images(entry, root, path)
    return DataConfig(path, root, splits, names, coco)


def _coco_split(entry: str, images_dir: str, root: Path, origin: Path) -> tuple[Path, list[Path]]:
    """A split given as a COCO json: its images are the json's file names under `<split>_images` (default images/<split>)."""
    import json

    from .coco_checks import check_images

    json_path = root / entry
    try:
        records = json.loads(json_path.read_text(encoding="utf-8"))["images"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"{origin}: cannot read COCO json {json_path} ({err})") from None
    if not isinstance(records, list):
        raise UsageError(f"{origin}: COCO json {json_path} needs an 'images' list")
    # only well-formed image records are listed; loading the annotations (train/val) reports the others
    images, _ = check_images(records, json_path)
    return json_path, [root / images_dir / name for name in images]


def label_path(image: Path) -> Path:
    """images/x/y.jpg -> labels/x/y.txt (the last 'images' path component is swapped)."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _parse_line(tokens: list[str], nc: int) -> tuple[Instance | None, str | None]:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        return None, "non-numeric token"
    cls = values[0]
    if not np.isfinite(cls) or cls != int(cls) or not 0 <= cls < nc:
        return None, f"class id {tokens[0]} outside 0..{nc - 1}"
    coords = np.array(values[1:], dtype=np.float64)
    if len(coords) % 2:
        return None, "odd number of coordinates"
    if len(coords) < 2 * MIN_POINTS:
        return None, f"fewer than {MIN_POINTS} points"
    if not np.isfinite(coords).all():
        return None, "NaN or infinite coordinate"
    if (coords < -CLIP_TOLERANCE).any() or (coords > 1 + CLIP_TOLERANCE).any():
        return None, "coordinates far outside [0, 1]"
    polygon = coords.clip(0, 1).reshape(-1, 2)
    if _polygon_area(polygon) == 0.0:
        return None, "zero-area polygon"
    note = "coordinates slightly outside [0, 1] clipped" if ((coords < 0) | (coords > 1)).any() else None
    return Instance(int(cls), polygon.astype(np.float32)), note


def _polygon_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def read_labels(path: Path, nc: int) -> LabelFile:
    """Parse a YOLO-seg label file (missing or empty = background image)."""
    out = LabelFile()
    if not path.exists():
        return out
    if not path.is_file():
        out.problems.append("label path is not a regular file")
        return out
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        out.problems.append(f"unreadable label file ({err})")
        return out
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        key = " ".join(tokens)
        if key in seen:
            out.problems.append(f"line {number}: duplicate line dropped")
            continue
        seen.add(key)
        inst, note = _parse_line(tokens, nc)
        if note:
            out.problems.append(f"line {number}: {note}")
        if inst is not None:
            out.instances.append(inst)
    return out


def orphan_labels(images: list[Path]) -> list[Path]:
    """Label files with no image of the same name beside the listed images (reported, never used)."""
    folders: dict[Path, Path] = {label_path(image).parent: image.parent for image in images}
    orphans = []
    for label_dir, image_dir in folders.items():
        if not label_dir.is_dir():
            continue
        stems = {p.stem for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        orphans += [p for p in label_dir.glob("*.txt") if p.stem not in stems]
    return sorted(orphans)
