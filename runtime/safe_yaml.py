"""YAML from files users hand us, parsed with bounds: safe types only, a size cap, and few aliases. A 433-byte
file of nested aliases expands to gigabytes (and printed a 72 MB "one-line" error once); such files are refused
before they are built."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError
from .text import plain

MAX_YAML_BYTES = 4 << 20
MAX_ALIASES = 64  # anchors reused a few times are fine; expansion attacks need many


def parse_yaml(text: str, origin: str, max_aliases: int = MAX_ALIASES) -> Any:
    """Parse `text` (from `origin`) with yaml.SafeLoader after counting its aliases; one-line errors."""
    if len(text) > MAX_YAML_BYTES:
        raise UsageError(f"{origin}: {len(text):,} characters is too large for a YAML description")
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > max_aliases:
            raise UsageError(f"{origin}: {aliases} YAML aliases (more than {max_aliases}); refusing a file that "
                             f"may expand without bound")
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(f"{origin}: not valid YAML ({plain(' '.join(str(err).split()), 200)})") from None


def read_yaml(path: str | Path, max_aliases: int = MAX_ALIASES) -> Any:
    """A YAML file: size-checked before it is read, then `parse_yaml`."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise UsageError(f"{plain(path)}: {path.stat().st_size:,} bytes is too large for a YAML description")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{plain(path)}: not valid YAML (not UTF-8 text)") from None
    except OSError as err:
        raise UsageError(f"{plain(path)}: cannot read ({plain(err, 160)})") from None
    return parse_yaml(text, plain(path), max_aliases)
