"""``python -m scratch compare``: sweep seeds x shapes x dtypes x targets against the oracles."""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from .. import loss_and_grads
from ..cases import DTYPES, draw
from ..compare import QUANTITIES, check_case
from ..report import print_table, write_json
from ..tolerances import oracle_rtol
from ._options import (
    add_json_option,
    add_oracles_option,
    add_quiet_option,
    add_sweep_options,
    load_installed,
    progress_bar,
    show_progress,
)

#: Oracles ``--oracles`` accepts, and those run by default (when installed).
ORACLE_CHOICES = ("torch", "jax", "numeric")
DEFAULT_ORACLES = ("torch", "jax")


def register(sub: Any) -> None:
    """Add the ``compare`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "compare",
        help="check loss and every gradient against the autograd oracles",
        description="Run scratch.loss_and_grads and each oracle on the same arrays over a sweep; "
        "print one table per quantity and dtype; exit 1 on any mismatch.",
    )
    add_sweep_options(p)
    add_oracles_option(p, ORACLE_CHOICES, DEFAULT_ORACLES)
    add_json_option(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def load_oracles(names: list[str] | None) -> dict[str, Any]:
    """name -> loss_and_grads.  ``names`` None: the installed ones of :data:`DEFAULT_ORACLES`
    (a missing one is skipped and said so); a missing framework asked for by name is a
    usage error naming the extra."""
    import oracles

    return load_installed(names, DEFAULT_ORACLES, oracles.get,
                          hint="or check against numerical differentiation alone, NumPy only: --oracles numeric")


def _record(w: dict[str, Any], c: Any) -> None:
    """Fold one :class:`scratch.compare.Check` into the running summary ``w`` of its quantity and dtype."""
    w["cases"] += 1
    w["max_abs"] = max(w["max_abs"], c.max_abs)
    w["max_rel"] = max(w["max_rel"], c.max_rel)
    w["worst_ratio"] = max(w["worst_ratio"], c.max_rel / c.rtol)
    w["rtol_min"] = min(w["rtol_min"], c.rtol)
    w["rtol_max"] = max(w["rtol_max"], c.rtol)
    w["failed"] += not c.passed


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    refs = load_oracles(args.oracles)
    total = len(args.dtypes) * len(args.shapes) * len(args.targets) * len(args.seeds)
    cases: list[dict[str, Any]] = []
    worst: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"cases": 0, "max_abs": 0.0, "max_rel": 0.0, "worst_ratio": 0.0, "rtol_min": np.inf, "rtol_max": 0.0, "failed": 0}
    )
    with progress_bar("compare", total, show_progress(args), unit="case") as bar:
        for dtype_name, (shape_name, shape), target, seed in itertools.product(
                args.dtypes, args.shapes, args.targets, args.seeds):
            rtol = oracle_rtol(DTYPES[dtype_name], shape)
            case = draw(seed, (shape_name, shape), dtype_name, target)
            if case is None:  # "confident" exists for labels and one-hot targets only
                continue
            for oracle_name, ref in refs.items():
                checks = check_case(loss_and_grads, ref, case.params, case.x, case.y, rtol=rtol)
                cases.append({"case": case.name, "shape": shape_name, "oracle": oracle_name,
                              "passed": all(c.passed for c in checks),
                              "checks": [c.as_dict() for c in checks]})
                for c in checks:
                    _record(worst[(c.quantity, dtype_name)], c)
            if bar is not None:
                bar.update(1)
    summary = []
    for dtype_name in args.dtypes:
        for q in QUANTITIES:
            w = worst[(q, dtype_name)]
            summary.append({"quantity": q, "dtype": dtype_name, **w, "passed": w["failed"] == 0})
    rows = [
        [s["quantity"], s["dtype"], s["cases"], s["max_abs"], s["max_rel"],
         s["rtol_min"] if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.1e}..{s['rtol_max']:.1e}",
         f"{s['worst_ratio']:.3g}", "PASS" if s["passed"] else f"FAIL ({s['failed']})"]
        for s in summary
    ]
    n_fail = sum(not c["passed"] for c in cases)
    note = " (float32 is compared with the oracle in float64 on the same rounded inputs)" if "float32" in args.dtypes else ""
    print_table(
        f"scratch vs {', '.join(refs)}: {len(cases)} case-oracle pairs, {n_fail} failed{note}",
        ["quantity", "dtype", "cases", "max abs err", "max rel err", "tolerance", "worst err/tol", "status"],
        rows,
    )
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {"passed": n_fail == 0, "n_pairs": len(cases), "n_failed": n_fail,
                               "oracles": list(refs), "summary": summary, "cases": cases})
    return 1 if n_fail else 0
