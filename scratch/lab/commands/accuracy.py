"""``python -m scratch accuracy``: float32 gradients against the exact ones on confident, saturated cases."""

from __future__ import annotations

import argparse
from typing import Any

from ..accuracy import ACCURACY_SHAPE, COLUMNS, measure, verdict
from ...cases import GAP_RANGE, Z1_RANGE
from ..report import print_table, write_json
from ...tolerances import ACCURACY_DZ1_GOAL, ACCURACY_DZ2_GOAL
from ..errors import UsageError
from ..extras import load_installed
from ..progress import progress_bar
from ._options import add_json_option, add_quiet_option, add_seeds_option, show_progress

#: The autograd frameworks measured next to scratch (each when installed).
FRAMEWORKS = ("torch", "jax")


def register(sub: Any) -> None:
    """Add the ``accuracy`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "accuracy",
        help="elementwise error of float32 gradients on confident predictions and saturated units",
        description="Build confident (logit gaps 17-23), saturated (|z1| 10.5-21) problems, compute the exact "
        "gradients of the float32-rounded inputs with mpmath, and print the elementwise relative error of "
        "scratch (both routes), torch and JAX in float32 and float64.  Exit 1 if scratch's float32 dz2 or dz1 "
        "misses its goal or a framework stops being measurably worse.",
    )
    add_seeds_option(p, list(range(10)))
    add_json_option(p, "the rows (with per-seed errors)")
    add_quiet_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch accuracy``; return the exit status (0 ok, 1 a check failed)."""
    import oracles

    try:
        import mpmath  # noqa: F401  (the truth, at 60 digits)
    except ImportError as exc:
        raise UsageError("accuracy computes the exact gradients with mpmath, which is not installed: "
                         "pip install 'scratch-backprop[cli]'") from exc
    frameworks = load_installed(None, FRAMEWORKS, oracles.get, at_least_one=False)  # a missing one: skipped, said so
    with progress_bar("accuracy", len(args.seeds), show_progress(args), unit="seed") as bar:
        rows = measure(args.seeds, frameworks=frameworks, progress=None if bar is None else (lambda: bar.update(1)))
    N, D, H, C = ACCURACY_SHAPE
    print_table(
        f"max elementwise relative error vs the exact gradients (mpmath), {len(args.seeds)} seeds, "
        f"N={N} D={D} H={H} C={C}, logit gaps {GAP_RANGE[0] - 1:.0f}-{GAP_RANGE[1] + 1:.0f}, "
        f"|z1| {Z1_RANGE[0]}-{Z1_RANGE[1]}; goal float32 dz2 <= {ACCURACY_DZ2_GOAL:.0e}, dz1 <= {ACCURACY_DZ1_GOAL:.0e}",
        ["implementation", "dtype", *COLUMNS.values(), "max kappa (3'')"],
        [[r["implementation"], r["dtype"], *(r[k] for k in COLUMNS), r["max_kappa"]] for r in rows],
    )
    bad = verdict(rows)
    for line in bad:
        print("FAIL", line)
    print("(E): error relative to max(|truth|, size of the summed terms); see scratch/lab/accuracy.py")
    if args.json:
        write_json(args.json, {"passed": not bad, "failures": bad, "shape": ACCURACY_SHAPE, "seeds": args.seeds,
                               "goal": {"dz2": ACCURACY_DZ2_GOAL, "dz1": ACCURACY_DZ1_GOAL}, "rows": rows})
    return 1 if bad else 0
