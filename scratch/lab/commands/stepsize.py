r"""``python -m scratch stepsize``: error of forward, central and complex-step gradients against
the hand-derived one as the step h sweeps 1e-1 ... 1e-16, on one log-log plot.

What the curves show, and why: :mod:`scratch.lab.stepsize` (the study); the figure:
:func:`scratch.lab.plots.plot_errors`.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import numpy as np

from ...cases import draw
from ..errors import UsageError
from ..plots import plot_errors, require_matplotlib
from ..report import print_table, write_json
from ..stepsize import STUDY_METHODS, best_steps, step_grid, step_size_errors
from ._options import (
    add_json_option,
    add_plot_option,
    add_quiet_option,
    add_seeds_option,
    add_shapes_option,
    add_targets_option,
    positive_int_upto,
    show_progress,
)

#: Upper bound of ``--per-decade`` (16 decades x 100 = 1,600 steps; exit 2 above it, before any work).
MAX_PER_DECADE = 100


def register(sub: Any) -> None:
    """Add the ``stepsize`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "stepsize",
        help="error of forward / central / complex-step gradients as the step h sweeps 1e-1 .. 1e-16",
        description="Sweep the step h of numerical differentiation and measure the relative error of "
        "the parameter gradient against the hand-derived one (float64), for each case of the sweep; "
        "print a table per case, optionally plot it (one log-log panel per case) and write JSON.",
    )
    add_seeds_option(p, [0])
    add_shapes_option(p, ["seed"])
    add_targets_option(p, ["labels"])
    p.add_argument("--per-decade", type=positive_int_upto(MAX_PER_DECADE), default=4,
                   help=f"steps per decade, at most {MAX_PER_DECADE} (default 4)")
    p.add_argument("--h-max", type=float, default=1e-1, help="largest step (default 1e-1)")
    p.add_argument("--h-min", type=float, default=1e-16, help="smallest step (default 1e-16)")
    add_plot_option(p, "the log-log plot")
    add_json_option(p, "every step and error")
    add_quiet_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch stepsize``; return the exit status (0 ok, 1 a check failed)."""
    if not 0 < args.h_min < args.h_max:
        raise UsageError(f"need 0 < --h-min < --h-max, got --h-min {args.h_min:g} and --h-max {args.h_max:g}")
    if args.plot:
        require_matplotlib(UsageError)  # before the sweep, not after it
    steps = step_grid(args.h_max, args.h_min, args.per_decade)
    decade = np.isclose(np.log10(steps), np.round(np.log10(steps)))
    studies = []
    for (shape_name, shape), target, seed in itertools.product(args.shapes, args.targets, args.seeds):
        case = draw(seed, (shape_name, shape), np.float64, target)
        if case is None:  # "confident" exists for labels and one-hot targets only
            continue
        errors = step_size_errors(case.params, case.x, case.y, steps, progress=show_progress(args))
        best = best_steps(steps, errors)
        print_table(
            f"relative error of the parameter gradient vs hand-derived, {case.name} "
            f"({sum(p.size for p in case.params)} parameters); every decade shown",
            ["h", *STUDY_METHODS],
            [[float(h), *(float(errors[m][k]) for m in STUDY_METHODS)] for k, h in enumerate(steps) if decade[k]],
        )
        print_table(f"best step per method, {case.name}", ["method", "best h", "error there"],
                    [[m, b["h"], b["error"]] for m, b in best.items()])
        studies.append({"case": case.name, "shape": shape_name, "dims": list(shape), "errors": errors, "best": best})
    if args.plot:
        plot_errors(args.plot, steps, [(f"step-size study, {c['case']}", c["errors"]) for c in studies])
    if args.json:
        write_json(args.json, {"steps": steps, "cases": studies})
    return 0
