"""Reading the rows of the pitfalls gallery (:func:`scratch.pitfalls.gallery`) for
``python -m scratch pitfalls`` and the page: the cells of its table and the entries that slipped
past a check."""

from __future__ import annotations

from typing import Any

from ..pitfalls import ALL_GRADS


def caught_by(row: dict[str, Any]) -> str:
    """The "caught by" cell: the oracles that flagged it, or for a demonstration the check that fired."""
    if "demo" in row:
        problem = row["demo"]["scratch.compare"]
        check = "finiteness" if "non-finite" in problem else "dtype" if "dtype" in problem else problem
        return f"scratch.compare ({check})" if row["caught_by"] else "NOT CAUGHT"
    if "skipped" in row:
        return "skipped"
    names = row["caught_by"]
    missed = [o for o in row["oracles"] if o not in names]
    return ", ".join(names) + (f"; MISSED by {', '.join(missed)}" if missed else "")


def hits(quantities: list[str]) -> str:
    """The "quantities hit" cell, with "all grads" for the six gradients."""
    n = len(ALL_GRADS)
    if tuple(quantities[-n:]) == ALL_GRADS:
        return " ".join(quantities[:-n] + ["all grads"])
    return " ".join(quantities) or "-"


def row_name(row: dict[str, Any]) -> str:
    """A gallery row's pitfall, with its member for a family run: ``relu: missing_mean``."""
    return f"{row['network']}: {row['name']}" if "network" in row else row["name"]


def missed_pitfalls(rows: list[dict[str, Any]]) -> list[str]:
    """The names of the gallery's entries (rows of :func:`scratch.pitfalls.gallery`) that some
    oracle, or for a demonstration ``scratch.compare``, failed to catch."""
    missed = [row_name(r) for r in rows if r["oracles"] and len(r["caught_by"]) < len(r["oracles"])]
    return missed + [row_name(r) for r in rows if "demo" in r and not r["caught_by"]]
