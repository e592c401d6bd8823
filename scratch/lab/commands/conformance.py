"""``python -m scratch conformance``: the matrix of implementations x quantities x dtypes x targets."""

from __future__ import annotations

import argparse
from typing import Any

from ...compare import QUANTITIES
from ...conformance import DEFAULT_IMPLEMENTATIONS, IMPLEMENTATIONS, get_implementation, matrix, short_diagnosis
from ...formatting import plain_table
from ..extras import load_installed
from ..progress import progress_bar
from ..report import write_json
from ._options import (
    add_flat_names_option,
    add_json_option,
    add_quiet_option,
    add_sweep_options,
    show_progress,
)


def register(sub: Any) -> None:
    """Add the ``conformance`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "conformance",
        help="the matrix: scratch, each oracle and third-party peers (scikit-learn, HIPS autograd) checked by the kit",
        description="Check every implementation on every dtype and target kind (including the confident/saturated "
        "and huge-logit cases) through the conformance kit; print one row per implementation, dtype and target with "
        "a column per quantity (ok; FAIL and the worst relative error; - when not returned) and the diagnosis (every "
        "err/tolerance is in --json).  Exit 0 always unless bad usage (2): "
        "departures of peers are findings, not errors.",
    )
    add_flat_names_option(p, "--implementations", IMPLEMENTATIONS,
                          help=f"{' '.join(IMPLEMENTATIONS)} (space- or comma-separated); default: "
                          f"{' '.join(DEFAULT_IMPLEMENTATIONS)} (those whose library is installed)")
    add_sweep_options(p, seeds=[0, 1], shapes=None)
    p.set_defaults(shapes=None)
    add_json_option(p, "the matrix")
    add_quiet_option(p)
    p.set_defaults(func=run)


def cell_text(info: dict[str, Any]) -> str:
    """A quantity's cell: the worst err/tolerance when it passed, FAIL (worst relative error) when not."""
    if info["status"] == "pass":
        return "ok"
    if info["status"] == "fail":
        return f"FAIL {info['max_rel']:.1g}"
    return "-" if info["status"] == "not returned" else info["status"]


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch conformance``; return the exit status (0, or 2 on bad usage)."""
    names = list(load_installed(args.implementations, DEFAULT_IMPLEMENTATIONS, get_implementation,
                                option="--implementations"))
    shapes = None if args.shapes is None else [s for s in args.shapes]
    total = len(names) * len(args.dtypes) * len(args.targets)
    with progress_bar("conformance", total, show_progress(args), unit="row") as bar:
        def step(label: str) -> None:
            if bar is not None:
                bar.set_postfix_str(label)
                bar.update(1)

        cells = matrix(names, seeds=args.seeds, shapes=shapes, dtypes=args.dtypes, targets=args.targets, progress=step)
    rows = []
    for c in cells:
        q = {k: c.quantity(k) for k in QUANTITIES}
        mark = "*" if c.unsupported else ""
        rows.append([c.implementation + mark, c.dtype[5:], c.target[:6], *(cell_text(q[k]) for k in QUANTITIES),
                     short_diagnosis(c) or "pass"])
    print("conformance: ok, or FAIL and the worst relative error; - = not returned; * = the sweep includes "
          "cases outside the implementation's declared support (every number is in --json)")
    print(plain_table(["implementation", "float", "target", *QUANTITIES, "diagnosis"], rows))
    for c in cells:
        if not c.report.ok:
            print(f"\n{c.implementation} {c.dtype} {c.target}"
                  + (f" (outside declared support: {' '.join(c.unsupported)})" if c.unsupported else "") + ":")
            for d in c.report.diagnosis:
                print(f"  {d}")
    if args.json:
        write_json(args.json, {"implementations": names, "cells": [c.as_dict() for c in cells]})
    return 0
