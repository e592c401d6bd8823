"""Printing tables and writing JSON reports, shared by every command (the plain-text table and
the JSON-ready values themselves: :mod:`scratch.formatting`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..formatting import fmt, json_ready


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table with rich (when installed) or as aligned plain text.

    No cell is ever cut short: the first column (the names a user types back, e.g. ``pitfalls
    --show NAME``) keeps its full width, and where the table is wider than the console the
    other columns wrap."""
    cells = [[fmt(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
        print(title)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
        for r in cells:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return
    table = Table()
    for i, h in enumerate(headers):
        longest = max([len(h), *(len(r[i]) for r in cells)])
        table.add_column(h, overflow="fold", **({"no_wrap": True, "min_width": longest} if i == 0 else {}))
    for r in cells:
        table.add_row(*r)
    console = Console(width=max(120, sum(len(h) for h in headers) * 2))
    console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]  # rich exits 1 ("a check failed")
    console.print(title, style="bold", highlight=False)  # above the table: not wrapped to its width
    console.print(table)


def _broken_pipe() -> None:
    """The reader closed the pipe: let ``scratch.lab.cli.main`` end the command (141, no traceback)."""
    raise BrokenPipeError


def wrote(path: str | Path) -> None:
    """Tell the user a file was written: ``wrote PATH`` on stdout (every command does)."""
    print(f"wrote {path}")


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON (non-finite floats as strings, arrays as lists) and
    say ``wrote PATH``."""
    Path(path).write_text(json.dumps(json_ready(payload), indent=2) + "\n")
    wrote(path)
