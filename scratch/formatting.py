"""Plain-text tables and JSON-ready values: how the conformance kit's reports and every command
print numbers (NumPy only, no optional package)."""

from __future__ import annotations

import math
from typing import Any, Sequence


def fmt(v: Any) -> str:
    """Numbers in short scientific notation; everything else as str."""
    if isinstance(v, float):
        return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.2e}")
    return str(v)


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


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table (no cell is ever cut): a header line and one line per row."""
    cells = [[str(h) for h in headers], *[[fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
