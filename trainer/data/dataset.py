"""Training data: label scanning with a cache and a skipped-sample report, and the augmenting torch Dataset.

Randomness is drawn from a generator seeded by (seed, epoch, index), so a sample's augmentation does not
depend on which worker or process loads it: runs are reproducible, resumable and DDP-invariant."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from edgeseg.runtime.datasets.yolo import label_path, orphan_labels, read_labels
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.paths import cache_dir as runtime_cache_dir
from edgeseg.runtime.sources import read_image

from .sampler import EpochIndex
from .augment import (AugmentConfig, Sample, copy_paste, flip_lr, hsv_jitter, letterbox_sample, load_resized, mixup, mosaic4,
                      random_perspective, resample)

CACHE_VERSION = 2  # 2: zero-area polygons and orphan labels are reported
IMAGE_CACHE_BYTES = 1 << 30  # decoded, resized images kept per process (mosaic reads 4 images per sample)


def cache_dir() -> Path:
    """Where label caches go: never next to a (possibly read-only) dataset."""
    return runtime_cache_dir("labels")


@dataclass
class Record:
    image: str
    classes: list[int]
    polygons: list[list[float]]  # normalised, flattened xy
    problems: list[str] = field(default_factory=list)


def _fingerprint(images: list[Path]) -> str:
    digest = hashlib.sha256(str(CACHE_VERSION).encode())
    for img in images:
        for path in (img, label_path(img)):
            try:
                st = path.stat()
                digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode())
            except OSError:
                digest.update(f"{path}|missing".encode())
    return digest.hexdigest()


def _scan_one(image: Path, nc: int) -> tuple[Record | None, list[str]]:
    try:
        read_image(image)
    except UsageError as err:
        return None, [str(err).split(": ", 1)[-1]]
    labels = read_labels(label_path(image), nc)
    rec = Record(str(image), [i.class_id for i in labels.instances], [i.polygon.ravel().tolist() for i in labels.instances])
    return rec, labels.problems


def scan_coco(images: list[Path], coco_json: Path) -> tuple[list[Record], list[tuple[str, str]]]:
    """Training records from a COCO json (polygons or RLE; crowd regions left out of training)."""
    from edgeseg.runtime.datasets.coco import load_coco, training_instances

    coco = load_coco(coco_json)
    records, report = [], [tuple(problem) for problem in coco.problems]
    for image in images:
        if image.name not in coco.images:
            continue  # its record was malformed, and is already in the report
        try:
            read_image(image)
        except UsageError as err:
            report.append((str(image), str(err).split(": ", 1)[-1]))
            continue
        classes, polygons, problems = training_instances(coco, image.name)
        report += [(f"{coco_json} ({image.name})", p) for p in problems]
        records.append(Record(str(image), classes, [p.ravel().tolist() for p in polygons]))
    return records, report


def scan(images: list[Path], nc: int, coco_json: Path | None = None) -> tuple[list[Record], list[tuple[str, str]]]:
    """Usable records plus (file, reason) for everything skipped or adjusted, each once."""
    if coco_json is not None:
        return scan_coco(images, coco_json)
    records, report = _scan_labels(images, nc)
    return records, report + [(str(label), "label file without an image") for label in orphan_labels(images)]


def _scan_labels(images: list[Path], nc: int) -> tuple[list[Record], list[tuple[str, str]]]:
    """Records of YOLO-seg label files, cached by file sizes and mtimes."""
    key = _fingerprint(images)
    path = cache_dir() / f"{key[:32]}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            return [Record(**r) for r in data["records"]], [tuple(x) for x in data["report"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a stale or broken cache is rebuilt below
    records, report = [], []
    for image in images:
        rec, problems = _scan_one(image, nc)
        report += [(str(image if rec is None else label_path(image)), p) for p in problems]
        if rec is not None:
            records.append(rec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent scans (DDP ranks) never share a temp file
        tmp.write_text(json.dumps({"records": [r.__dict__ for r in records], "report": report}))
        os.replace(tmp, path)
    except OSError:
        pass  # caching is an optimisation; an unwritable cache dir costs only speed
    return records, report


class SegDataset(torch.utils.data.Dataset):
    """Yields dict(img uint8 (3,S,S), cls (n,), boxes (n,4) xyxy px, masks (n,S/r,S/r) uint8) per sample."""

    def __init__(self, records: list[Record], imgsz: int, augment: bool, hyp: AugmentConfig, seed: int = 0,
                 mask_ratio: int = 4, overlap_mask: bool = True):
        if not records:
            raise UsageError("no usable training images (every sample was skipped; see the report above)")
        self.records, self.imgsz, self.augment, self.hyp = records, imgsz, augment, hyp
        self.seed, self.mask_ratio, self.epoch, self.mosaic_on = seed, mask_ratio, 0, True
        self.overlap_mask = overlap_mask
        self.loaded = LoadedCache(IMAGE_CACHE_BYTES)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int, mosaic: bool) -> None:
        self.epoch, self.mosaic_on = epoch, mosaic

    def load(self, index: int) -> Sample:
        """The image resized to imgsz with its resampled polygons: the same for every epoch, so kept in memory
        (read-only: augmentations build new arrays) up to IMAGE_CACHE_BYTES per process."""
        cached = self.loaded.get(index)
        if cached is not None:
            return cached
        rec = self.records[index]
        image = read_image(rec.image)
        h, w = image.shape[:2]
        polys = [resample(np.asarray(p, np.float32).reshape(-1, 2) * [w, h]) for p in rec.polygons]
        sample = load_resized(Sample(image, polys, np.asarray(rec.classes, np.int64)), self.imgsz)
        return self.loaded.put(index, sample)

    def _mosaic(self, index: int, rng: np.random.Generator) -> Sample:
        picks = [index] + [int(i) for i in rng.integers(0, len(self), 3)]
        return mosaic4([self.load(i) for i in picks], self.imgsz, rng)

    def build(self, index: int, rng: np.random.Generator, mosaic: bool = True) -> Sample:
        hyp, s = self.hyp, self.imgsz
        if not self.augment:
            return letterbox_sample(self.load(index), s)
        if mosaic and rng.random() < hyp.mosaic:
            sample = self._mosaic(index, rng)
        else:
            sample = letterbox_sample(self.load(index), s)
        sample = copy_paste(sample, rng, hyp.copy_paste)
        sample = random_perspective(sample, s, rng, hyp.degrees, hyp.translate, hyp.scale, hyp.shear, hyp.perspective)
        if hyp.mixup and rng.random() < hyp.mixup:
            other = random_perspective(self._mosaic(int(rng.integers(0, len(self))), rng), s, rng, hyp.degrees,
                                       hyp.translate, hyp.scale, hyp.shear, hyp.perspective)
            sample = mixup(sample, other, rng)
        sample = Sample(hsv_jitter(sample.image, rng, hyp.hsv_h, hyp.hsv_s, hyp.hsv_v), sample.polygons, sample.classes)
        return flip_lr(sample) if rng.random() < hyp.fliplr else sample

    def __getitem__(self, key: int | EpochIndex) -> dict:
        """An EpochIndex (from EpochSampler) carries the epoch and mosaic switch into worker processes;
        a plain int uses the state set on this copy (validation, direct use)."""
        if isinstance(key, tuple):
            index, epoch, mosaic = int(key[0]), int(key[1]), bool(key[2])
        else:
            index, epoch, mosaic = int(key), self.epoch, self.mosaic_on
        rng = np.random.default_rng([self.seed, epoch, index])
        sample = self.build(index, rng, mosaic)
        return to_tensors(sample, self.mask_ratio, self.overlap_mask)


class LoadedCache:
    """Least-recently-used samples up to a byte budget; decoding JPEGs was 60% of a mosaic sample's time."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.used, self.items = max_bytes, 0, {}

    def get(self, index: int) -> Sample | None:
        sample = self.items.pop(index, None)
        if sample is not None:
            self.items[index] = sample  # most recently used last
        return sample

    def put(self, index: int, sample: Sample) -> Sample:
        size = _nbytes(sample)
        if size > self.max_bytes:
            return sample
        for array in (sample.image, sample.classes, *sample.polygons):
            array.setflags(write=False)  # an augmentation writing in place would corrupt later epochs: fail instead
        while self.used + size > self.max_bytes:
            self._drop(next(iter(self.items)))  # the least recently used
        self.items[index] = sample
        self.used += size
        return sample

    def _drop(self, index: int) -> None:
        self.used -= _nbytes(self.items.pop(index))


def _nbytes(sample: Sample) -> int:
    return sample.image.nbytes + sum(p.nbytes for p in sample.polygons)


def rasterise_target(target: np.ndarray, polygon: np.ndarray, shape: tuple[int, int], ratio: int) -> None:
    """Draw one instance into its (h/ratio, w/ratio) target as the reference does: filled at full resolution with
    the vertices truncated to whole pixels, then resized bilinearly. Target pixel d then stands for input pixels
    ratio*d .. ratio*d+ratio-1, where the runtime's mask assembly puts it; filling at 1/ratio directly put every
    target 1.5 input pixels up-left of that and made small masks ~60% too large (every pixel the outline touches).
    Only a window of whole blocks around the polygon is drawn: the resize of a block reads no other block."""
    h, w = shape
    pts = polygon.astype(np.int32)  # truncation, as the reference's polygon2mask
    if h % ratio or w % ratio:  # blocks do not tile the image: draw the whole frame
        canvas = np.zeros((h, w), np.uint8)
        cv2.fillPoly(canvas, [pts], 1)
        target[:] = cv2.resize(canvas, (w // ratio, h // ratio))
        return
    (x0, y0), (x1, y1) = pts.min(0) // ratio - 1, pts.max(0) // ratio + 2  # blocks, one of margin
    bx0, by0 = max(int(x0), 0), max(int(y0), 0)
    bx1, by1 = min(int(x1), w // ratio), min(int(y1), h // ratio)
    if bx1 <= bx0 or by1 <= by0:
        return
    canvas = np.zeros(((by1 - by0) * ratio, (bx1 - bx0) * ratio), np.uint8)
    cv2.fillPoly(canvas, [pts], 1, offset=(-bx0 * ratio, -by0 * ratio))
    target[by0:by1, bx0:bx1] = cv2.resize(canvas, (bx1 - bx0, by1 - by0))


def resolve_overlaps(masks: np.ndarray) -> np.ndarray:
    """Where instances overlap, the pixel belongs to the smallest (as the reference's overlap_mask does: larger
    objects are drawn first, smaller ones on top), so no pixel is the target of two instances."""
    if len(masks) < 2:
        return masks
    index = np.zeros(masks.shape[1:], np.int32)
    for i in np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable"):
        index[masks[i] > 0] = i + 1
    return (index[None] == np.arange(1, len(masks) + 1)[:, None, None]).astype(np.uint8)


def to_tensors(sample: Sample, mask_ratio: int, overlap_mask: bool = True) -> dict:
    """Rasterise each instance at 1/mask_ratio only now that the geometry is final."""
    h, w = sample.image.shape[:2]
    mh, mw = h // mask_ratio, w // mask_ratio
    masks = np.zeros((len(sample.polygons), mh, mw), np.uint8)
    boxes = np.zeros((len(sample.polygons), 4), np.float32)
    for i, poly in enumerate(sample.polygons):
        rasterise_target(masks[i], poly, (h, w), mask_ratio)
        boxes[i] = [*poly.min(0), *poly.max(0)]
    if overlap_mask:
        masks = resolve_overlaps(masks)
    image = np.ascontiguousarray(sample.image[..., ::-1].transpose(2, 0, 1))  # BGR->RGB, CHW
    return {"img": torch.from_numpy(image), "cls": torch.from_numpy(sample.classes.astype(np.int64)),
            "boxes": torch.from_numpy(boxes), "masks": torch.from_numpy(masks)}


def collate(batch: list[dict]) -> dict:
    return {
        "img": torch.stack([b["img"] for b in batch]),
        "cls": torch.cat([b["cls"] for b in batch]),
        "boxes": torch.cat([b["boxes"] for b in batch]),
        "masks": torch.cat([b["masks"] for b in batch]),
        "batch_idx": torch.cat([torch.full((len(b["cls"]),), i, dtype=torch.int64) for i, b in enumerate(batch)]),
    }
