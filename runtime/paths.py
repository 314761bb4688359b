"""Output directories: runs/<task>/exp, exp2, exp3, ... so a new run never overwrites an old one."""
from __future__ import annotations

import os
from pathlib import Path


def increment_dir(base: str | Path, exist_ok: bool = False) -> Path:
    """`base` itself when free (or exist_ok), else the first free `base2`, `base3`, ...; created before returning."""
    base = Path(base)
    if exist_ok or not base.exists():
        base.mkdir(parents=True, exist_ok=True)
        return base
    n = 2
    while Path(f"{base}{n}").exists():
        n += 1
    path = Path(f"{base}{n}")
    path.mkdir(parents=True)
    return path


def cache_dir(*parts: str) -> Path:
    """edgeseg's cache (EDGESEG_CACHE_DIR, else $XDG_CACHE_HOME/edgeseg or ~/.cache/edgeseg): label caches,
    calibration sets, engine helpers. Never beside a dataset, which may be read-only."""
    base = os.environ.get("EDGESEG_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"),
                                                               "edgeseg")
    return Path(base).joinpath(*parts)
