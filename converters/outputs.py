"""Where an export is written, and what it may replace: never a file it did not create.

`--output` naming an existing folder that is not an artifact of this format means "put the artifact inside it"
(as `cp` does); an existing path is replaced (atomically, by the publishing rename) only when it is an artifact of
the same format; anything else is a clear error and nothing is touched.
"""
from __future__ import annotations

from pathlib import Path

from edgeseg.runtime.errors import UsageError
from edgeseg.runtime.formats import suffix_formats
from edgeseg.runtime.metadata import SIDECAR_NAME, sidecar_path

# Files that mark a directory as an export (ours, or the reference's) rather than a user's folder.
ARTIFACT_DIR_MARKERS = (SIDECAR_NAME, "metadata.yaml")
BUNDLE_MARKERS = ("build_engine.sh", "profile.toml")


def _is_artifact(path: Path, suffix: str, markers: tuple[str, ...]) -> bool:
    if not path.name.endswith(suffix) or path.is_symlink():
        return False
    if path.is_dir():
        return any((path / marker).is_file() for marker in markers)
    return path.is_file()


def check_replaceable(final: Path, suffix: str, markers: tuple[str, ...] = ARTIFACT_DIR_MARKERS) -> None:
    """An existing `final` must be an artifact of this kind (same suffix; a directory must carry one of
    `markers`), else nothing is written; its sidecar likewise must be one."""
    if (final.exists() or final.is_symlink()) and not _is_artifact(final, suffix, markers):
        kind = "folder" if final.is_dir() else "file"
        raise UsageError(f"{final}: an existing {kind} that is not a '{suffix}' artifact; refusing to replace it "
                         f"(choose another --output, or a folder to put the artifact in)")
    sidecar = sidecar_path(final) if not final.is_dir() else None
    if sidecar is not None and sidecar.exists() and not sidecar.is_file():
        raise UsageError(f"{sidecar}: exists and is not a metadata file; refusing to replace it")


def resolve_output(requested: str | Path | None, default: Path, suffix: str,
                   markers: tuple[str, ...] = ARTIFACT_DIR_MARKERS) -> Path:
    """The final path of an artifact: `default` when nothing is asked; inside `requested` when it is an existing
    folder that is not itself an artifact of this kind; else `requested`. Checked before any work is done."""
    final = Path(requested) if requested else default
    if final.is_dir() and not final.is_symlink() and not _is_artifact(final, suffix, markers):
        final = final / default.name
    check_replaceable(final, suffix, markers)
    if not any(final.name.lower().endswith(e) for e, _ in suffix_formats()):  # loaders know formats by the ending
        raise UsageError(f"{final}: an artifact's name must end in '{suffix}', which is how runtimes tell its format "
                         f"(e.g. --output {final.with_name(final.name + suffix)})")
    return final
