"""Representative calibration sets for INT8: images picked from a training split (class-balanced by default),
letterboxed with the runtime's own preprocessing, stored as one `calib.npz` plus a manifest that pins the
images (hashes), the preprocessing (and its hash) and the seed. Export checks the manifest against the artifact
and records its hash, so what an INT8 model was calibrated on is never a mystery.

Calibrating on the validation split, on fewer images than asked for, or with preprocessing other than the
artifact's is an error, never a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.runtime.datasets.coco import load_coco, training_instances
from edgeseg.runtime.datasets.yolo import DataConfig, label_path, load_data_yaml, read_labels
from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.letterbox import letterbox, to_input_tensor
from edgeseg.runtime.metadata import PREPROCESSING_DEFAULT, ModelMetadata, edgeseg_version
from edgeseg.runtime.paths import sha256_file
from edgeseg.runtime.sources import read_image

MANIFEST_FORMAT = "edgeseg.calibration/1"
MANIFEST_NAME = "manifest.json"
ARRAY_NAME = "calib.npz"
STRATEGIES = ("balanced", "random")
HELD_OUT_SPLITS = ("val", "test")
DEFAULT_CALIB_N = 300  # without an explicit count: up to this many, all the split has when it has fewer


class CalibrationError(UsageError):
    """A calibration set that must not be used: wrong split, too few images, mismatched preprocessing."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def preprocessing_spec(imgsz: tuple[int, int], stride: int = 32) -> dict[str, Any]:
    """Everything that decides the network input for a picture; hashed so mismatches are detectable."""
    return {"imgsz": [int(imgsz[0]), int(imgsz[1])], "stride": int(stride), "rect": False, **PREPROCESSING_DEFAULT}


def spec_hash(spec: dict[str, Any]) -> str:
    return sha256_bytes(json.dumps(spec, sort_keys=True).encode())


@dataclass
class CalibrationSet:
    """Letterboxed BGR uint8 images (N,H,W,3) and the manifest that describes them."""

    images: np.ndarray
    manifest: dict[str, Any]
    manifest_sha256: str
    directory: Path | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def imgsz(self) -> tuple[int, int]:
        h, w = self.manifest["preprocessing"]["imgsz"]
        return int(h), int(w)

    def nchw(self, index: int | slice) -> np.ndarray:
        """Network input(s), float32 NCHW RGB [0,1], made by the runtime's own tensor conversion."""
        chosen = self.images[index]
        chosen = chosen[None] if chosen.ndim == 3 else chosen
        return to_input_tensor(list(chosen))

    def split(self, holdout: int) -> tuple["CalibrationSet", "CalibrationSet"]:
        """(calibration part, held-out part): method selection scores on images it did not calibrate on."""
        holdout = max(1, min(holdout, len(self) // 2))
        return (CalibrationSet(self.images[:-holdout], self.manifest, self.manifest_sha256, self.directory),
                CalibrationSet(self.images[-holdout:], self.manifest, self.manifest_sha256, self.directory))

    def check_matches(self, metadata: ModelMetadata, origin: str) -> None:
        """The artifact must see exactly the preprocessing the set was built with."""
        want = preprocessing_spec(tuple(metadata.imgsz), metadata.stride)
        want.update({k: v for k, v in metadata.preprocessing.items() if k in want})
        have = self.manifest["preprocessing"]
        if spec_hash(want) != self.manifest["preprocessing_sha256"]:
            diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            raise CalibrationError(
                f"{origin}: calibration set {self.directory} was preprocessed differently from this export "
                f"({', '.join(f'{k}: set {have.get(k)!r} vs export {want.get(k)!r}' for k in diff)}); rebuild it with "
                f"`edgeseg calib build --imgsz {want['imgsz'][0]}`")


def _image_classes(cfg: DataConfig, split: str) -> list[list[int]]:
    """Class ids present in each image of the split (label files, or the split's COCO json)."""
    if split in cfg.coco:
        coco = load_coco(cfg.coco[split])
        return [sorted(set(training_instances(coco, p.name)[0])) if p.name in coco.images else []
                for p in cfg.splits[split]]
    return [sorted({inst.class_id for inst in read_labels(label_path(p), cfg.nc).instances}) for p in cfg.splits[split]]


def select_images(classes: list[list[int]], n: int, strategy: str, seed: int) -> list[int]:
    """Indices of n images. 'balanced' first covers every class that appears (rarest classes first, each by
    a random image that has it), then fills up at random; 'random' is a seeded uniform sample."""
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(len(classes))]
    if strategy == "random":
        return sorted(order[:n])
    counts: dict[int, int] = {}
    for cls_list in classes:
        for c in cls_list:
            counts[c] = counts.get(c, 0) + 1
    chosen: list[int] = []
    covered: set[int] = set()
    for c in sorted(counts, key=lambda k: (counts[k], k)):
        if c in covered or len(chosen) >= n:
            continue
        pick = next(i for i in order if c in classes[i] and i not in chosen)
        chosen.append(pick)
        covered.update(classes[pick])
    chosen += [i for i in order if i not in chosen][: n - len(chosen)]
    return sorted(chosen)


def _check_split(cfg: DataConfig, split: str, n: int | None) -> list[Path]:
    if split not in cfg.splits:
        raise CalibrationError(f"{cfg.path}: no '{split}' split to calibrate on (has {', '.join(cfg.splits)})")
    if split in HELD_OUT_SPLITS:
        raise CalibrationError(f"{cfg.path}: refusing to calibrate on the '{split}' split: INT8 accuracy is measured "
                               f"there, so calibrate on a training split (--split train)")
    images = cfg.splits[split]
    held_out = {p.resolve() for s in HELD_OUT_SPLITS for p in cfg.splits.get(s, [])}
    overlap = [p for p in images if p.resolve() in held_out]
    if overlap:
        raise CalibrationError(f"{cfg.path}: split '{split}' shares {len(overlap)} images with the validation split "
                               f"(e.g. {overlap[0].name}); calibration images must not be scored on")
    if n is None and images:
        return images
    if n is None or n < 1 or len(images) < n:
        raise CalibrationError(f"{cfg.path}: asked for {n} calibration images but split '{split}' has {len(images)}; "
                               f"ask for {len(images)} (--n / --calib-n) or add images (a calibration set is never silently smaller)")
    return images


def build_calibration_set(data: str | Path, out_dir: str | Path, split: str = "train", n: int | None = None,
                          imgsz: tuple[int, int] = (640, 640), strategy: str = "balanced", seed: int = 0,
                          stride: int = 32) -> CalibrationSet:
    """Pick, preprocess and write the set (atomically: a reader sees the old set or the complete new one).
    n=None: up to DEFAULT_CALIB_N images, all of the split's when it has fewer; an explicit n it cannot meet is an
    error (a calibration set is never silently smaller than asked)."""
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'")
    _check_output(Path(out_dir))
    cfg = load_data_yaml(data)
    images = _check_split(cfg, split, n)
    requested = n
    n = min(DEFAULT_CALIB_N, len(images)) if n is None else n
    classes = _image_classes(cfg, split)
    picked = select_images(classes, n, strategy, seed)
    spec = preprocessing_spec(imgsz, stride)
    arrays, records = [], []
    for i in picked:
        path = images[i]
        arrays.append(letterbox(read_image(path), tuple(imgsz), stride)[0])
        records.append({"file": os.path.relpath(path, cfg.root), "sha256": sha256_file(path), "classes": classes[i]})
    present = sorted({c for cl in classes for c in cl})
    covered = sorted({c for i in picked for c in classes[i]})
    manifest = {
        "format": MANIFEST_FORMAT, "edgeseg_version": edgeseg_version(), "data": str(cfg.path), "split": split,
        "strategy": strategy, "seed": seed, "requested": requested if requested is not None else f"up to {DEFAULT_CALIB_N}",
        "count": len(picked),
        "preprocessing": spec, "preprocessing_sha256": spec_hash(spec),
        "classes_present": len(present), "classes_covered": len(covered),
        "missing_classes": [cfg.names[c] for c in present if c not in covered],
        "images": records,
    }
    return _write(Path(out_dir), np.stack(arrays), manifest)


def _check_output(out_dir: Path) -> None:
    """A set is written into a new or empty folder, or over an earlier calibration set; never over other files."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise CalibrationError(f"{out_dir}: exists and is not a folder; choose another --out")
    names = {p.name for p in out_dir.iterdir()}
    if not names:
        return
    try:
        ours = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours or names - {MANIFEST_NAME, ARRAY_NAME} - {n for n in names if n.startswith((".calib.", f".{MANIFEST_NAME}"))}:
        raise CalibrationError(f"{out_dir}: a folder with other files in it; a calibration set goes into a new or empty "
                               f"folder, or replaces an earlier set (choose another --out)")


def _write(out_dir: Path, images: np.ndarray, manifest: dict[str, Any]) -> CalibrationSet:
    _check_output(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".calib.", suffix=".npz", dir=out_dir)
    os.close(fd)
    np.savez_compressed(tmp, images=images)
    manifest["array_sha256"] = sha256_file(Path(tmp))
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    os.replace(tmp, out_dir / ARRAY_NAME)
    tmp_manifest = out_dir / f".{MANIFEST_NAME}.tmp"
    tmp_manifest.write_text(text, encoding="utf-8")
    os.replace(tmp_manifest, out_dir / MANIFEST_NAME)
    return CalibrationSet(images, manifest, sha256_bytes(text.encode()), out_dir)


def load_calibration_set(path: str | Path) -> CalibrationSet:
    """A set directory (or its manifest.json); the array must be the one the manifest names."""
    path = Path(path)
    directory = path.parent if path.name == MANIFEST_NAME else path
    manifest_path, array_path = directory / MANIFEST_NAME, directory / ARRAY_NAME
    if not manifest_path.is_file() or not array_path.is_file():
        raise CalibrationError(f"{directory}: not a calibration set (needs {MANIFEST_NAME} and {ARRAY_NAME}; "
                               f"build one with `edgeseg calib build`)")
    text = manifest_path.read_text(encoding="utf-8")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise CalibrationError(f"{manifest_path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CalibrationError(f"{manifest_path}: not an edgeseg calibration manifest")
    if sha256_file(array_path) != manifest.get("array_sha256"):
        raise CalibrationError(f"{array_path}: contents do not match the manifest's hash (modified or from another set)")
    with np.load(array_path) as npz:
        images = npz["images"]
    if len(images) != manifest.get("count") or images.shape[1:3] != tuple(manifest["preprocessing"]["imgsz"]):
        raise CalibrationError(f"{array_path}: {images.shape} does not match the manifest")
    return CalibrationSet(images, manifest, sha256_bytes(text.encode()), directory)
