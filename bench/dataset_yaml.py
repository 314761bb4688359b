"""A dataset yaml copy for the reference, which resolves a relative `path:` against its own working directory
(edgeseg resolves it against the yaml's folder): the copy carries the absolute path, optionally with another split
scored as `val`. Shared by the benches that run the reference."""
from __future__ import annotations

from pathlib import Path


def absolute_yaml(data: Path, out: Path, val_split: str | None = None) -> Path:
    """Write `data` to `out` with `path` made absolute; with val_split, that split becomes the one validated."""
    import yaml

    cfg = yaml.safe_load(data.read_text())
    cfg["path"] = str((data.parent / cfg.get("path", ".")).resolve())
    if val_split is not None:
        cfg["val"] = cfg[val_split]
    out.write_text(yaml.safe_dump(cfg))
    return out
