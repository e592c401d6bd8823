"""``python -m scratch compare``: sweep seeds x shapes x dtypes x targets against the oracles."""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

import numpy as np

from .. import loss_and_grads
from ..cases import DTYPES, SHAPES, TARGETS, make_case
from ..compare import QUANTITIES, check_case
from ..report import print_table, write_json
from ..tolerances import oracle_rtol
from . import UsageError


def parse_shape(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """A shape name from :data:`scratch.cases.SHAPES` or ``N,D,H,C``."""
    if text in SHAPES:
        return text, SHAPES[text]
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: expected a name ({', '.join(SHAPES)}) or four positive integers N,D,H,C"
        )
    dims = tuple(int(p) for p in parts)
    return text, dims  # type: ignore[return-value]


def register(sub: Any) -> None:
    """Add the ``compare`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "compare",
        help="check loss and every gradient against the autograd oracles",
        description="Run scratch.loss_and_grads and each oracle on the same arrays over a sweep; "
        "print one table per quantity and dtype; exit 1 on any mismatch.",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(5)), metavar="SEED", help="default: 0 1 2 3 4")
    p.add_argument("--shapes", type=parse_shape, nargs="+", default=list(SHAPES.items()), metavar="SHAPE",
                   help=f"names ({', '.join(SHAPES)}) or N,D,H,C; default: all names")
    p.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=list(DTYPES), help="default: both")
    p.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS), help="default: all")
    p.add_argument("--oracles", nargs="+", choices=["torch", "jax", "numeric"], default=["torch", "jax"],
                   help="default: torch jax")
    p.add_argument("--json", metavar="FILE", help="also write the full report as JSON")
    p.set_defaults(func=run)


def load_oracles(names: list[str]) -> dict[str, Any]:
    """name -> loss_and_grads; a missing framework is a usage error naming the extra."""
    import oracles

    try:
        return {n: oracles.get(n) for n in names}
    except oracles.MissingFramework as exc:
        raise UsageError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    refs = load_oracles(args.oracles)
    cases: list[dict[str, Any]] = []
    worst: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"cases": 0, "max_abs": 0.0, "max_rel": 0.0, "worst_ratio": 0.0, "rtol_min": np.inf, "rtol_max": 0.0, "failed": 0}
    )
    for dtype_name in args.dtype:
        for shape_name, shape in args.shapes:
            rtol = oracle_rtol(DTYPES[dtype_name], shape)
            for target in args.targets:
                for seed in args.seeds:
                    case = make_case(seed, shape, DTYPES[dtype_name], target)
                    for oracle_name, ref in refs.items():
                        checks = check_case(loss_and_grads, ref, case.params, case.x, case.y, rtol=rtol)
                        cases.append({"case": case.name, "shape": shape_name, "oracle": oracle_name,
                                      "passed": all(c.passed for c in checks),
                                      "checks": [c.as_dict() for c in checks]})
                        for c in checks:
                            w = worst[(c.quantity, dtype_name)]
                            w["cases"] += 1
                            w["max_abs"] = max(w["max_abs"], c.max_abs)
                            w["max_rel"] = max(w["max_rel"], c.max_rel)
                            w["worst_ratio"] = max(w["worst_ratio"], c.max_rel / c.rtol)
                            w["rtol_min"] = min(w["rtol_min"], c.rtol)
                            w["rtol_max"] = max(w["rtol_max"], c.rtol)
                            w["failed"] += not c.passed
    summary = []
    for dtype_name in args.dtype:
        for q in QUANTITIES:
            w = worst[(q, dtype_name)]
            summary.append({"quantity": q, "dtype": dtype_name, **w, "passed": w["failed"] == 0})
    rows = [
        [s["quantity"], s["dtype"], s["cases"], s["max_abs"], s["max_rel"],
         s["rtol_min"] if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.1e}..{s['rtol_max']:.1e}",
         f"{s['worst_ratio']:.3f}", "PASS" if s["passed"] else f"FAIL ({s['failed']})"]
        for s in summary
    ]
    n_fail = sum(not c["passed"] for c in cases)
    print_table(
        f"scratch vs {', '.join(args.oracles)}: {len(cases)} case-oracle pairs, {n_fail} failed "
        "(float32 is compared with the oracle in float64 on the same rounded inputs)",
        ["quantity", "dtype", "cases", "max abs err", "max rel err", "tolerance", "worst err/tol", "status"],
        rows,
    )
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {"passed": n_fail == 0, "n_pairs": len(cases), "n_failed": n_fail,
                               "oracles": args.oracles, "summary": summary, "cases": cases})
    return 1 if n_fail else 0
