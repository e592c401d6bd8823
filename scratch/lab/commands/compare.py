"""``python -m scratch compare``: sweep seeds x shapes x dtypes x targets against the oracles."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from ... import loss_and_grads
from ...cases import DTYPES, draw
from ...activations import ACTIVATIONS
from ...compare import QUANTITIES, check_case
from ...spec import SEED, NetworkSpec
from ..report import print_table, write_json
from ...tolerances import oracle_rtol
from . import UsageError
from ._options import (
    add_flat_names_option,
    add_json_option,
    add_oracles_option,
    add_quiet_option,
    add_spec_options,
    add_sweep_options,
    load_installed,
    progress_bar,
    show_progress,
    spec_from_args,
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
        "print one table per quantity and dtype (and network, with --activations or a non-seed "
        "network); exit 1 on any mismatch.",
    )
    add_sweep_options(p)
    add_oracles_option(p, ORACLE_CHOICES, DEFAULT_ORACLES)
    add_spec_options(p)
    add_flat_names_option(p, "--activations", ACTIVATIONS, metavar="ACTIVATION",
                          help=f"compare several members in one run: some of {' '.join(ACTIVATIONS)} "
                               "(space- or comma-separated), each with the other network options; "
                               "instead of --activation")
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


def specs_from_args(args: argparse.Namespace) -> list[NetworkSpec]:
    """The members to compare: ``--activations`` (each with the other network options) or the
    one member of the network options.  ``--activation`` with ``--activations`` is a
    :class:`UsageError`, and so is ``--alpha`` unless ``leaky_relu`` is listed."""
    names = getattr(args, "activations", None)
    if not names:
        return [spec_from_args(args)]
    if args.activation != "tanh":
        raise UsageError(f"--activation {args.activation} and --activations: give one of them")
    if args.alpha is not None and "leaky_relu" not in names:
        raise UsageError(f"--alpha {args.alpha:g}: the slope belongs to leaky_relu, not in --activations")
    base = spec_from_args(argparse.Namespace(**{**vars(args), "activation": "leaky_relu" if args.alpha is not None else "tanh"}))
    return [dataclasses.replace(base, activation=a, alpha=base.alpha if a == "leaky_relu" else 0.01) for a in names]


def network_label(spec: NetworkSpec) -> str:
    """The short name of a member in the table: ``tanh`` for the seed, else the activation and
    its tag (``relu-sum``, ``tanh-l2half1e-03``)."""
    tag = spec.tag()
    return tag if spec.activation != "tanh" else "-".join(["tanh", *([tag] if tag else [])])


def _record(w: dict[str, Any], c: Any) -> None:
    """Fold one :class:`scratch.compare.Check` into the running summary ``w`` of its quantity and dtype."""
    w["cases"] += 1
    w["max_abs"] = max(w["max_abs"], c.max_abs)
    w["max_rel"] = max(w["max_rel"], c.max_rel)
    w["worst_ratio"] = max(w["worst_ratio"], c.max_rel / c.rtol)
    w["rtol_min"] = min(w["rtol_min"], c.rtol)
    w["rtol_max"] = max(w["rtol_max"], c.rtol)
    w["failed"] += not c.passed


def compare_sweep(
    refs: dict[str, Any], seeds: list[int], shapes: list[tuple[str, tuple[int, int, int, int]]],
    dtypes: list[str], targets: list[str], progress: Any = None, specs: Any = (SEED,),
) -> dict[str, Any]:
    """Run ``scratch.loss_and_grads`` and each oracle on every case of the sweep and compare them.

    Parameters
    ----------
    refs : oracle name -> ``loss_and_grads`` (from :func:`load_oracles`).
    seeds, shapes, dtypes, targets : the sweep; ``shapes`` holds ``(label, (N, D, H, C))`` pairs
        (labels "confident" and "huge" draw those cases, see :func:`scratch.cases.draw`).
    progress : optional callable, called once per case (e.g. a tqdm bar's ``update``).
    specs : the members of the family to compare (default: the seed network alone); the sweep
        runs once per member, scratch and every oracle built from that member.

    Returns
    -------
    dict with ``passed``, ``n_pairs``, ``n_failed``, ``oracles``, ``summary`` (one row per quantity
    and dtype: ``cases``, ``max_abs``, ``max_rel``, ``worst_ratio``, ``rtol_min``, ``rtol_max``,
    ``failed``, ``passed``), ``by_oracle`` (the same worst values per quantity, dtype and oracle)
    and ``cases`` (every case-oracle pair with its checks); every row carries ``network`` (the
    member's :func:`network_label`) and the result ``networks`` (their descriptions).
    """
    cases: list[dict[str, Any]] = []

    def fresh() -> dict[str, Any]:
        return {"cases": 0, "max_abs": 0.0, "max_rel": 0.0, "worst_ratio": 0.0, "rtol_min": np.inf, "rtol_max": 0.0,
                "failed": 0}

    worst: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(fresh)
    per_oracle: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(fresh)
    specs = list(specs)
    labels = [network_label(sp) for sp in specs]
    for (net, spec), dtype_name, (shape_name, shape), target, seed in itertools.product(
            zip(labels, specs), dtypes, shapes, targets, seeds):
        rtol = oracle_rtol(DTYPES[dtype_name], shape)
        case = draw(seed, (shape_name, shape), dtype_name, target, spec=spec)
        if case is not None:  # "confident" exists for labels and one-hot targets only
            # the seed network: the plain calls (spec= only where it changes something)
            bind = (lambda fn: fn) if spec == SEED else (lambda fn: functools.partial(fn, spec=spec))
            for oracle_name, ref in refs.items():
                checks = check_case(bind(loss_and_grads), bind(ref), case.params, case.x, case.y, rtol=rtol)
                cases.append({"case": case.name, "shape": shape_name, "oracle": oracle_name, "network": net,
                              "passed": all(c.passed for c in checks),
                              "checks": [c.as_dict() for c in checks]})
                for c in checks:
                    _record(worst[(net, c.quantity, dtype_name)], c)
                    _record(per_oracle[(net, c.quantity, dtype_name, oracle_name)], c)
        if progress is not None:
            progress()
    summary = [{"network": n, "quantity": q, "dtype": d, **worst[(n, q, d)], "passed": worst[(n, q, d)]["failed"] == 0}
               for n in labels for d in dtypes for q in QUANTITIES]
    by_oracle = [{"network": n, "quantity": q, "dtype": d, "oracle": o, **per_oracle[(n, q, d, o)]}
                 for n in labels for d in dtypes for o in refs for q in QUANTITIES]
    n_fail = sum(not c["passed"] for c in cases)
    return {"passed": n_fail == 0, "n_pairs": len(cases), "n_failed": n_fail, "oracles": list(refs),
            "networks": [sp.describe() for sp in specs],
            "summary": summary, "by_oracle": by_oracle, "cases": cases}


def summary_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The headers and rows of the printed table of :func:`compare_sweep`'s result; a first
    column ``network`` unless the run compared the seed network alone."""
    family = [s["network"] for s in result["summary"]] != ["tanh"] * len(result["summary"])
    rows = [
        [*([s["network"]] if family else []), s["quantity"], s["dtype"], s["cases"], s["max_abs"], s["max_rel"],
         s["rtol_min"] if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.1e}..{s['rtol_max']:.1e}",
         f"{s['worst_ratio']:.3g}", "PASS" if s["passed"] else f"FAIL ({s['failed']})"]
        for s in result["summary"]
    ]
    return [*(["network"] if family else []), "quantity", "dtype", "cases", "max abs err", "max rel err", "tolerance", "worst err/tol", "status"], rows


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    specs = specs_from_args(args)  # a bad network option is a usage error before any work
    refs = load_oracles(args.oracles)
    total = len(specs) * len(args.dtypes) * len(args.shapes) * len(args.targets) * len(args.seeds)
    with progress_bar("compare", total, show_progress(args), unit="case") as bar:
        result = compare_sweep(refs, args.seeds, args.shapes, args.dtypes, args.targets,
                               progress=None if bar is None else (lambda: bar.update(1)), specs=specs)
    cases, n_fail = result["cases"], result["n_failed"]
    note = " (float32 is compared with the oracle in float64 on the same rounded inputs)" if "float32" in args.dtypes else ""
    nets = "" if specs == [SEED] else f" over {len(specs)} network(s): " + "; ".join(result["networks"])
    print_table(
        f"scratch vs {', '.join(refs)}: {len(cases)} case-oracle pairs, {n_fail} failed{note}{nets}",
        *summary_table(result),
    )
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {k: v for k, v in result.items() if k != "by_oracle"})
    return 1 if n_fail else 0
