"""The CLI's consoles: text is printed as given (no markup, no highlighting, no emoji codes), because much of what
the CLI prints came from files (class names, paths, metadata); tables are as wide as they need to be in a pipe
or CI log, so figures are never cut to '…'."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from edgeseg.runtime.text import plain

PIPE_WIDTH = 400  # no terminal to fit: wide enough that no table column is shortened


def make_console(stderr: bool = True) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, soft_wrap=True, markup=False, highlight=False, emoji=False, width=width)


def plain_table(title: str, columns: list[tuple[str, str]]) -> Table:
    """A table whose cells never wrap or get cut (titles and cells from files go through `plain` first)."""
    table = Table(title=plain(title, 400))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True, overflow="ignore")
    return table


__all__ = ["make_console", "plain", "plain_table"]
