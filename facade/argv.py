"""Accept the reference's `key=value` argument style alongside ordinary --options."""
from __future__ import annotations

import re

KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$")
VERBOSE_FLAGS = {"--verbose", "-v", "verbose=True", "verbose=true"}


def rewrite_key_value(argv: list[str]) -> list[str]:
    """`imgsz=320` -> `--imgsz 320`; `save=True` -> `--save`; `save=False` -> `--no-save`; others untouched."""
    out: list[str] = []
    for token in argv:
        match = KEY_VALUE.match(token)
        if not match:
            out.append(token)
            continue
        key, value = match.group(1).replace("_", "-"), match.group(2)
        if value.lower() in ("true", "false"):
            out.append(f"--{key}" if value.lower() == "true" else f"--no-{key}")
        else:
            out.extend([f"--{key}", value])
    return out


def pop_verbose(argv: list[str]) -> tuple[list[str], bool]:
    """--verbose is global (anywhere on the line): it turns on tracebacks and engine reports."""
    kept = [a for a in argv if a not in VERBOSE_FLAGS and a not in ("verbose=False", "verbose=false")]
    return kept, len(kept) != len(argv) and any(a in VERBOSE_FLAGS for a in argv)
