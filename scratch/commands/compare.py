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


def compare_sweep(
    refs: dict[str, Any], seeds: list[int], shapes: list[tuple[str, tuple[int, int, int, int]]],
    dtypes: list[str], targets: list[str], progress: Any = None,
) -> dict[str, Any]:
    """Run ``scratch.loss_and_grads`` and each oracle on every case of the sweep and compare them.

    Parameters
    ----------
    refs : oracle name -> ``loss_and_grads`` (from :func:`load_oracles`).
    seeds, shapes, dtypes, targets : the sweep; ``shapes`` holds ``(label, (N, D, H, C))`` pairs.
    progress : optional wrapper of the case iterable (e.g. a tqdm bar).

    Returns
    -------
    dict with ``passed``, ``n_pairs``, ``n_failed``, ``oracles``, ``summary`` (one row per quantity
    and dtype: ``cases``, ``max_abs``, ``max_rel``, ``worst_ratio``, ``rtol_min``, ``rtol_max``,
    ``failed``, ``passed``), ``by_oracle`` (the same worst values per quantity, dtype and oracle)
    and ``cases`` (every case-oracle pair with its checks).
    """
    cases: list[dict[str, Any]] = []

    def fresh() -> dict[str, Any]:
        return {"cases": 0, "max_abs": 0.0, "max_rel": 0.0, "worst_ratio": 0.0, "rtol_min": np.inf, "rtol_max": 0.0,
                "failed": 0}

    worst: dict[tuple[str, str], dict[str, Any]] = defaultdict(fresh)
    per_oracle: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(fresh)
    grid = [(d, s, t, seed) for d in dtypes for s in shapes for t in targets for seed in seeds]
    for dtype_name, (shape_name, shape), target, seed in (progress(grid) if progress else grid):
        rtol = oracle_rtol(DTYPES[dtype_name], shape)
        case = make_case(seed, shape, DTYPES[dtype_name], target)
        for oracle_name, ref in refs.items():
            checks = check_case(loss_and_grads, ref, case.params, case.x, case.y, rtol=rtol)
            cases.append({"case": case.name, "shape": shape_name, "oracle": oracle_name,
                          "passed": all(c.passed for c in checks),
                          "checks": [c.as_dict() for c in checks]})
            for c in checks:
                for w in (worst[(c.quantity, dtype_name)], per_oracle[(c.quantity, dtype_name, oracle_name)]):
                    w["cases"] += 1
                    w["max_abs"] = max(w["max_abs"], c.max_abs)
                    w["max_rel"] = max(w["max_rel"], c.max_rel)
                    w["worst_ratio"] = max(w["worst_ratio"], c.max_rel / c.rtol)
                    w["rtol_min"] = min(w["rtol_min"], c.rtol)
                    w["rtol_max"] = max(w["rtol_max"], c.rtol)
                    w["failed"] += not c.passed
    summary = [{"quantity": q, "dtype": d, **worst[(q, d)], "passed": worst[(q, d)]["failed"] == 0}
               for d in dtypes for q in QUANTITIES]
    by_oracle = [{"quantity": q, "dtype": d, "oracle": o, **per_oracle[(q, d, o)]}
                 for d in dtypes for o in refs for q in QUANTITIES]
    n_fail = sum(not c["passed"] for c in cases)
    return {"passed": n_fail == 0, "n_pairs": len(cases), "n_failed": n_fail, "oracles": list(refs),
            "summary": summary, "by_oracle": by_oracle, "cases": cases}


def summary_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The headers and rows of the printed table of :func:`compare_sweep`'s result."""
    rows = [
        [s["quantity"], s["dtype"], s["cases"], s["max_abs"], s["max_rel"],
         s["rtol_min"] if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.1e}..{s['rtol_max']:.1e}",
         f"{s['worst_ratio']:.3f}", "PASS" if s["passed"] else f"FAIL ({s['failed']})"]
        for s in result["summary"]
    ]
    return ["quantity", "dtype", "cases", "max abs err", "max rel err", "tolerance", "worst err/tol", "status"], rows


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    refs = load_oracles(args.oracles)
    result = compare_sweep(refs, args.seeds, args.shapes, args.dtype, args.targets)
    cases, n_fail = result["cases"], result["n_failed"]
    print_table(
        f"scratch vs {', '.join(args.oracles)}: {len(cases)} case-oracle pairs, {n_fail} failed "
        "(float32 is compared with the oracle in float64 on the same rounded inputs)",
        *summary_table(result),
    )
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {k: v for k, v in result.items() if k != "by_oracle"})
    return 1 if n_fail else 0
