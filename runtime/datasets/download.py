"""`download:` URLs in a data.yaml: fetch a zip/tar archive into the dataset root, extracting only members that
stay inside it (no absolute paths, `..`, links or devices) and within a size cap."""
from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import UsageError

MAX_ARCHIVE_BYTES = 20 * 2**30  # compressed download cap
MAX_EXTRACTED_BYTES = 50 * 2**30  # total uncompressed size cap (zip bombs)
TIMEOUT_S = 60


def _safe_member(name: str, origin: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UsageError(f"{origin}: refusing archive member '{name}' (it would land outside the dataset directory)")
    return path


def fetch(url: str, dest: Path, max_bytes: int = MAX_ARCHIVE_BYTES) -> Path:
    """Stream `url` to `dest`, refusing anything larger than max_bytes."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            total = 0
            while chunk := response.read(1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    raise UsageError(f"{url}: download exceeds the {max_bytes / 2**30:.0f} GiB cap")
                out.write(chunk)
    except OSError as err:
        raise UsageError(f"{url}: download failed ({err})") from None
    return dest


@dataclass(frozen=True)
class _Member:
    """One archive entry, format-neutral: name, kind, size and how to read it."""

    name: str
    kind: str  # "file", "dir" or "other" (links, devices: never extracted)
    size: int
    open: Callable[[], IO[bytes]]


def _zip_members(zf: zipfile.ZipFile) -> list[_Member]:
    def kind(m: zipfile.ZipInfo) -> str:
        if (m.external_attr >> 16) & 0o170000 == 0o120000:
            return "other"
        return "dir" if m.is_dir() else "file"

    return [_Member(m.filename, kind(m), m.file_size, lambda m=m: zf.open(m)) for m in zf.infolist()]


def _tar_members(tar: tarfile.TarFile) -> list[_Member]:
    def kind(m: tarfile.TarInfo) -> str:
        return "file" if m.isfile() else "dir" if m.isdir() else "other"

    return [_Member(m.name, kind(m), m.size, lambda m=m: tar.extractfile(m)) for m in tar.getmembers()]


def _extract_members(members: list[_Member], root: Path, origin: str, max_bytes: int) -> None:
    """Check every member (name, type, total size) before writing any, then write them under root."""
    for m in members:
        _safe_member(m.name, origin)
        if m.kind == "other":
            raise UsageError(f"{origin}: refusing '{m.name}' in the archive (links and devices are not extracted)")
    if sum(m.size for m in members) > max_bytes:
        raise UsageError(f"{origin}: archive expands beyond the {max_bytes / 2**30:.0f} GiB cap")
    for m in members:
        target = root / _safe_member(m.name, origin)
        if m.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with m.open() as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)


def extract(archive: Path, root: Path, origin: str, max_bytes: int = MAX_EXTRACTED_BYTES) -> None:
    """Extract a zip or tar archive into root, member by member, after checking every name, type and size."""
    root.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _extract_members(_zip_members(zf), root, origin, max_bytes)
        return
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError:
        raise UsageError(f"{origin}: the download is neither a zip nor a tar archive") from None
    with tar:
        _extract_members(_tar_members(tar), root, origin, max_bytes)


def download_dataset(url: str, root: Path, origin: str) -> None:
    """Fetch and extract into root (used when the data.yaml's splits are missing on disk)."""
    if not url.startswith(("http://", "https://", "file://")):
        raise UsageError(f"{origin}: 'download' must be an http(s) or file URL, got {url[:80]!r}")
    with tempfile.TemporaryDirectory(prefix="edgeseg-download-") as tmp:
        archive = fetch(url, Path(tmp) / "archive")
        extract(archive, root, origin)
