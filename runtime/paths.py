"""Output directories: runs/<task>/exp, exp2, exp3, ... so a new run never overwrites an old one, and reusing one
(--exist-ok) is allowed only for a directory edgeseg created (it carries RUN_MARKER) or an empty one: pointing
--project/--name at a folder of the user's never writes over their files."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import UsageError
from .text import plain

RUN_MARKER = ".edgeseg-run"


def _reusable(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and ((path / RUN_MARKER).is_file() or not any(path.iterdir()))


def _create(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / RUN_MARKER).write_text("created by edgeseg: --exist-ok may reuse this directory\n", encoding="utf-8")
    return path


def increment_dir(base: str | Path, exist_ok: bool = False) -> Path:
    """`base` itself when free (or exist_ok and edgeseg's own or empty), else the first free `base2`, `base3`, ...;
    created (with its marker) before returning."""
    base = Path(base)
    if base.name in ("", ".", ".."):
        raise UsageError(f"--name must name a run directory, got {plain(repr(base.name), 40)}")
    if not base.exists() and not base.is_symlink():
        return _create(base)
    if exist_ok:
        if not _reusable(base):
            raise UsageError(f"{plain(base)}: exists and is not an edgeseg run directory; --exist-ok reuses only "
                             f"directories edgeseg created (choose another --project/--name)")
        return _create(base)
    n = 2
    while Path(f"{base}{n}").exists() or Path(f"{base}{n}").is_symlink():
        n += 1
    return _create(Path(f"{base}{n}"))


def cache_dir(*parts: str) -> Path:
    """edgeseg's cache (EDGESEG_CACHE_DIR, else $XDG_CACHE_HOME/edgeseg or ~/.cache/edgeseg): label caches,
    calibration sets, engine helpers. Never beside a dataset, which may be read-only."""
    base = os.environ.get("EDGESEG_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"),
                                                               "edgeseg")
    return Path(base).joinpath(*parts)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks (checkpoints, calibration arrays, artifacts)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
