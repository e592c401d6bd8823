"""Printing tables and writing JSON reports, shared by every command."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence


def fmt(v: Any) -> str:
    """Numbers in short scientific notation; everything else as str."""
    if isinstance(v, float):
        return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.2e}")
    return str(v)


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
    """The reader closed the pipe: let ``scratch.cli.main`` end the command (141, no traceback)."""
    raise BrokenPipeError


def json_ready(o: Any) -> Any:
    """``o`` with non-finite floats as strings and arrays/NumPy scalars as lists/numbers, for JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {str(k): json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_ready(v) for v in o]
    if hasattr(o, "tolist"):
        return json_ready(o.tolist())
    return o


def wrote(path: str | Path) -> None:
    """Tell the user a file was written: ``wrote PATH`` on stdout (every command does)."""
    print(f"wrote {path}")


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON (non-finite floats as strings, arrays as lists) and
    say ``wrote PATH``."""
    Path(path).write_text(json.dumps(json_ready(payload), indent=2) + "\n")
    wrote(path)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table (no cell is ever cut): a header line and one line per row."""
    cells = [[str(h) for h in headers], *[[fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
