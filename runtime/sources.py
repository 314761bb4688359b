"""Reading what users point predict at: an image, a directory, a glob, a list, an array, or a video file."""
from __future__ import annotations

import glob as globlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import UsageError
from .image_header import header_size, max_pixels
from .text import plain

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pbm", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".gif"}


@dataclass
class Frame:
    """One decoded BGR uint8 image and where it came from (path, and frame index for videos)."""

    image: np.ndarray
    path: str
    index: int = 0
    fps: float | None = None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image to BGR uint8, honouring EXIF orientation; gray/RGBA/16-bit are converted.

    Raises UsageError naming the file when it is missing, empty, truncated or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise UsageError(f"{path}: image file is empty (0 bytes)")
    if data[:2].tobytes() == b"\xff\xd8" and data[-2:].tobytes() != b"\xff\xd9":
        # libjpeg decodes a truncated JPEG into a grey-filled image with only a warning; refuse it instead.
        raise UsageError(f"{path}: truncated JPEG (no end-of-image marker)")
    size = header_size(data[:1 << 18].tobytes())
    if size is not None and size[0] * size[1] > max_pixels():
        raise UsageError(f"{plain(path)}: image too large to decode ({size[0]}x{size[1]} pixels claimed by its header; "
                         f"decoding budget {max_pixels():,}, EDGESEG_MAX_IMAGE_PIXELS)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as err:  # OpenCV's own size limits and corrupt-stream assertions
        raise UsageError(f"{plain(path)}: cannot decode image ({plain(str(err).strip().splitlines()[-1], 120)})") from None
    if image is not None and image.shape[0] * image.shape[1] > max_pixels():
        raise UsageError(f"{plain(path)}: image too large to decode ({image.shape[1]}x{image.shape[0]} pixels; decoding "
                         f"budget {max_pixels():,}, EDGESEG_MAX_IMAGE_PIXELS)")
    if image is None:
        raise UsageError(f"{path}: cannot decode image (corrupt, truncated or not an image format OpenCV reads)")
    return image


def _expand_path_source(source: str) -> list[Path] | None:
    """Image files named by a directory, a glob or a single path; None when it names a video."""
    path = Path(source)
    if any(ch in source for ch in "*?[") and not path.exists():  # an existing 'shots[1].jpg' is a file, not a pattern
        files = sorted(Path(p) for p in globlib.glob(source, recursive=True))
        files = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise UsageError(f"{source}: the pattern matches no image files")
        return files
    if path.is_dir():
        # broken links keep their place, so that reading them reports the problem instead of hiding the file
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
        if not files:
            raise UsageError(f"{path}: directory contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return files
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return None
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"{path}: unsupported source type '{path.suffix}' (expected an image, a directory, a glob or a video)")
    return [path]


STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
STREAM_TIMEOUT_MS = 10000  # open and read timeouts for network streams: a dead stream never hangs the process


def _open_capture(source: str | int) -> cv2.VideoCapture:
    if isinstance(source, int):
        return cv2.VideoCapture(source)
    if source.lower().startswith(STREAM_PREFIXES):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        return cv2.VideoCapture(source, cv2.CAP_ANY, params)
    return cv2.VideoCapture(source)


def iter_video(source: str | Path | int, warn=None) -> Iterator[Frame]:
    """Frames of a video file, webcam (index) or network stream, one at a time (memory stays flat).

    A file ends quietly at its last frame; a live source that stops delivering frames is reported via `warn`.
    """
    name = f"webcam{source}" if isinstance(source, int) else str(source)
    cap = _open_capture(source if isinstance(source, int) else str(source))
    if not cap.isOpened():
        what = "webcam" if isinstance(source, int) else "stream" if name.lower().startswith(STREAM_PREFIXES) else "video"
        raise UsageError(f"{name}: cannot open {what}")
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    live = isinstance(source, int) or name.lower().startswith(STREAM_PREFIXES)
    try:
        index = 0
        while True:
            ok, image = cap.read()
            if not ok:
                if live and warn:
                    warn(f"{name}: stream ended or dropped after {index} frames")
                break
            yield Frame(image, name, index, fps)
            index += 1
    finally:
        cap.release()


def _from_pil(image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[..., ::-1])


def iter_source(source, skip_bad: bool = True, warn=None) -> Iterator[Frame]:
    """Yield Frames from any supported source.

    With several images, an unreadable one is reported through `warn` and skipped; a single bad image is an error.
    """
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise UsageError(f"an array source must be HxWx3 uint8 BGR, got {source.shape} {source.dtype}")
        yield Frame(source, "array0")
        return
    if hasattr(source, "convert") and hasattr(source, "size"):  # a PIL image (RGB) without importing PIL
        yield Frame(_from_pil(source), getattr(source, "filename", "") or "pil0")
        return
    if isinstance(source, (list, tuple)):
        for item in source:
            yield from iter_source(item, skip_bad, warn)
        return
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        yield from iter_video(int(source), warn)
        return
    if isinstance(source, str) and source.lower().startswith(STREAM_PREFIXES):
        yield from iter_video(source, warn)
        return
    files = _expand_path_source(str(source))
    if files is None:
        yield from iter_video(source, warn)
        return
    for i, file in enumerate(files):
        try:
            yield Frame(read_image(file), str(file), 0)
        except UsageError as err:
            if len(files) == 1 or not skip_bad:
                raise
            (warn or (lambda msg: None))(f"skipping {err}")


def count_images(source) -> int | None:
    """How many frames a source will give, when that is known up front (None for videos and streams)."""
    if isinstance(source, np.ndarray) or hasattr(source, "convert"):
        return 1
    if isinstance(source, int) or (isinstance(source, str) and (source.isdigit() or source.lower().startswith(STREAM_PREFIXES))):
        return None
    if isinstance(source, (list, tuple)):
        counts = [count_images(s) for s in source]
        return None if None in counts else sum(counts)
    try:
        files = _expand_path_source(str(source))
    except UsageError:
        return None
    return None if files is None else len(files)
