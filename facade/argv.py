"""Accept the reference's `key=value` argument style alongside ordinary --options."""
from __future__ import annotations

import re

KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$")
VERBOSE_FLAGS = {"--verbose", "-v", "verbose=True", "verbose=true"}


def rewrite_key_value(argv: list[str], flags: frozenset[str] = frozenset()) -> list[str]:
    """`imgsz=320` -> `--imgsz 320`; `save=True` -> `--save`; `save=False` -> `--no-save`; others untouched.

    The value of an `--option` is never rewritten, so `--source shots=1.jpg` keeps its file name; `flags` names the
    options that take no value (`--save`), after which a key=value token is an option again."""
    out: list[str] = []
    for i, token in enumerate(argv):
        match = KEY_VALUE.match(token)
        previous = argv[i - 1] if i else ""
        takes_value = previous.startswith("--") and "=" not in previous and previous not in flags
        if not match or takes_value:
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
