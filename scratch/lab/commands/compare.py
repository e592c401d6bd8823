"""``python -m scratch compare``: sweep seeds x shapes x dtypes x targets against the oracles."""

from __future__ import annotations

import argparse
import functools
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from ... import loss_and_grads
from ...cases import DTYPES, draw
from ...compare import QUANTITIES, check_case
from ...spec import SEED, NetworkSpec, as_spec
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
        "print one table per quantity and dtype; exit 1 on any mismatch.",
    )
    add_sweep_options(p)
    add_oracles_option(p, ORACLE_CHOICES, DEFAULT_ORACLES)
    add_spec_options(p)
    add_activations_option(p)
    add_json_option(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def add_activations_option(p: Any) -> None:
    """``--activations NAME ...``: run over several members of the family, one per hidden
    activation, each with the other network options (``--l2 --l2-form --l2-biases --reduction``;
    ``--alpha`` applies to ``leaky_relu``).  Left out: the single ``--activation``."""
    from ...activations import ACTIVATIONS

    add_flat_names_option(p, "--activations", ACTIVATIONS, metavar="ACTIVATION",
                          help=f"some of {' '.join(ACTIVATIONS)} (space- or comma-separated): one member of the "
                               "family per activation, each with the other network options; default: --activation")


def members_from_args(args: argparse.Namespace) -> list[NetworkSpec]:
    """The members of the family a command runs over: one per ``--activations`` name with the
    other options of :func:`scratch.lab.commands._options.add_spec_options` applied to each, or
    the single member of those options.  A combination the spec refuses (``--alpha`` with no
    ``leaky_relu`` in the list, ``--activation`` and ``--activations`` both given) raises
    :class:`UsageError` before any work."""
    names = getattr(args, "activations", None)
    if names is None:
        return [spec_from_args(args)]
    if args.activation != "tanh":
        raise UsageError(f"--activation {args.activation} and --activations {','.join(names)}: give one of them")
    if args.alpha is not None and "leaky_relu" not in names:
        raise UsageError(f"--alpha {args.alpha:g}: the slope belongs to leaky_relu, which is not in "
                         f"--activations {','.join(names)}")
    members = []
    for name in names:
        one = argparse.Namespace(**{**vars(args), "activation": name,
                                    "alpha": args.alpha if name == "leaky_relu" else None})
        members.append(spec_from_args(one))
    return members


def member_label(spec: Any) -> str:
    """A short name of a member for a table's ``network`` column: its activation, then what else
    differs from the seed network (``tanh``, ``relu-sum-l2half1e-03``, ``tanh-l2full1e-02b``)."""
    spec = as_spec(spec)
    tag = spec.tag()
    return tag if tag.startswith(spec.activation) else "-".join(filter(None, (spec.activation, tag)))


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


def compare_sweep(
    refs: dict[str, Any], seeds: list[int], shapes: list[tuple[str, tuple[int, int, int, int]]],
    dtypes: list[str], targets: list[str], progress: Any = None, *, spec: Any = SEED,
) -> dict[str, Any]:
    """Run ``scratch.loss_and_grads`` and each oracle on every case of the sweep and compare them.

    Parameters
    ----------
    refs : oracle name -> ``loss_and_grads`` (from :func:`load_oracles`).
    seeds, shapes, dtypes, targets : the sweep; ``shapes`` holds ``(label, (N, D, H, C))`` pairs
        (labels "confident" and "huge" draw those cases, see :func:`scratch.cases.draw`).
    progress : optional callable, called once per case (e.g. a tqdm bar's ``update``).
    spec : the member of the family (:class:`scratch.spec.NetworkSpec`, default the seed network)
        given as ``spec=`` to ``scratch.loss_and_grads`` and to every oracle on the same arrays.

    Returns
    -------
    dict with ``passed``, ``n_pairs``, ``n_failed``, ``oracles``, ``summary`` (one row per quantity
    and dtype: ``cases``, ``max_abs``, ``max_rel``, ``worst_ratio``, ``rtol_min``, ``rtol_max``,
    ``failed``, ``passed``), ``by_oracle`` (the same worst values per quantity, dtype and oracle)
    and ``cases`` (every case-oracle pair with its checks); ``network`` (:func:`member_label`) and
    ``spec`` (its fields) name the member, and every row of ``summary`` and ``cases`` carries ``network``.
    """
    spec = as_spec(spec)
    label = member_label(spec)
    seed = spec.canonical() == SEED  # the seed network: the functions as they are, no spec= at all
    ours = loss_and_grads if seed else functools.partial(loss_and_grads, spec=spec)
    refs = refs if seed else {k: functools.partial(ref, spec=spec) for k, ref in refs.items()}
    cases: list[dict[str, Any]] = []

    def fresh() -> dict[str, Any]:
        return {"cases": 0, "max_abs": 0.0, "max_rel": 0.0, "worst_ratio": 0.0, "rtol_min": np.inf, "rtol_max": 0.0,
                "failed": 0}

    worst: dict[tuple[str, str], dict[str, Any]] = defaultdict(fresh)
    per_oracle: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(fresh)
    for dtype_name, (shape_name, shape), target, case_seed in itertools.product(dtypes, shapes, targets, seeds):
        rtol = oracle_rtol(DTYPES[dtype_name], shape)
        case = draw(case_seed, (shape_name, shape), dtype_name, target, spec=spec)
        if case is not None:  # "confident" exists for labels and one-hot targets only
            for oracle_name, ref in refs.items():
                checks = check_case(ours, ref, case.params, case.x, case.y, rtol=rtol)
                cases.append({"case": case.name, "network": label, "shape": shape_name, "oracle": oracle_name,
                              "passed": all(c.passed for c in checks),
                              "checks": [c.as_dict() for c in checks]})
                for c in checks:
                    _record(worst[(c.quantity, dtype_name)], c)
                    _record(per_oracle[(c.quantity, dtype_name, oracle_name)], c)
        if progress is not None:
            progress()
    summary = [{"network": label, "quantity": q, "dtype": d, **worst[(q, d)], "passed": worst[(q, d)]["failed"] == 0}
               for d in dtypes for q in QUANTITIES]
    by_oracle = [{"network": label, "quantity": q, "dtype": d, "oracle": o, **per_oracle[(q, d, o)]}
                 for d in dtypes for o in refs for q in QUANTITIES]
    n_fail = sum(not c["passed"] for c in cases)
    return {"passed": n_fail == 0, "n_pairs": len(cases), "n_failed": n_fail, "oracles": list(refs),
            "network": label, "spec": spec.as_dict(),
            "summary": summary, "by_oracle": by_oracle, "cases": cases}


def compare_family(
    refs: dict[str, Any], members: list[Any], seeds: list[int], shapes: list[tuple[str, tuple[int, int, int, int]]],
    dtypes: list[str], targets: list[str], progress: Any = None,
) -> dict[str, Any]:
    """:func:`compare_sweep` for each member of ``members`` (:class:`scratch.spec.NetworkSpec`)
    on the same sweep, folded into one result of the same layout: ``summary``, ``by_oracle`` and
    ``cases`` hold every member's rows (each with its ``network``), ``networks`` the members'
    labels and ``specs`` their fields; ``passed``, ``n_pairs`` and ``n_failed`` count them all."""
    parts = [compare_sweep(refs, seeds, shapes, dtypes, targets, progress, spec=m) for m in members]
    n_fail = sum(r["n_failed"] for r in parts)
    return {"passed": n_fail == 0, "n_pairs": sum(r["n_pairs"] for r in parts), "n_failed": n_fail,
            "oracles": list(refs), "networks": [r["network"] for r in parts], "specs": [r["spec"] for r in parts],
            **{k: [row for r in parts for row in r[k]] for k in ("summary", "by_oracle", "cases")}}


def summary_table(result: dict[str, Any], by_network: bool = False) -> tuple[list[str], list[list[Any]]]:
    """The headers and rows of the printed table of :func:`compare_sweep`'s (or
    :func:`compare_family`'s) result; ``by_network``: a first column naming each row's member."""
    rows = [
        ([s["network"]] if by_network else []) + [s["quantity"], s["dtype"], s["cases"], s["max_abs"], s["max_rel"],
         s["rtol_min"] if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.1e}..{s['rtol_max']:.1e}",
         f"{s['worst_ratio']:.3g}", "PASS" if s["passed"] else f"FAIL ({s['failed']})"]
        for s in result["summary"]
    ]
    return ["network"] * by_network + ["quantity", "dtype", "cases", "max abs err", "max rel err", "tolerance", "worst err/tol", "status"], rows


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    members = members_from_args(args)  # bad usage exits 2 here, before any work
    refs = load_oracles(args.oracles)
    total = len(members) * len(args.dtypes) * len(args.shapes) * len(args.targets) * len(args.seeds)
    family = len(members) > 1 or members[0].canonical() != SEED
    with progress_bar("compare", total, show_progress(args), unit="case") as bar:
        step = None if bar is None else (lambda: bar.update(1))
        if family:
            result = compare_family(refs, members, args.seeds, args.shapes, args.dtypes, args.targets, progress=step)
        else:
            result = compare_sweep(refs, args.seeds, args.shapes, args.dtypes, args.targets, progress=step)
    cases, n_fail = result["cases"], result["n_failed"]
    note = " (float32 is compared with the oracle in float64 on the same rounded inputs)" if "float32" in args.dtypes else ""
    over = f" over {len(members)} networks" if len(members) > 1 else f" on {members[0].describe()}" if family else ""
    print_table(
        f"scratch vs {', '.join(refs)}{over}: {len(cases)} case-oracle pairs, {n_fail} failed{note}",
        *summary_table(result, by_network=family),
    )
    if family:
        print("networks: " + "; ".join(f"{member_label(m)} = {m.describe()}" for m in members))
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {k: v for k, v in result.items() if k != "by_oracle"})
    return 1 if n_fail else 0
