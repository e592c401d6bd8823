"""The comparison of ``python -m scratch compare`` and of the page: ``scratch.loss_and_grads``
and each oracle on the same arrays over a sweep of seeds x shapes x dtypes x targets, for one
member of the family (:func:`compare_sweep`) or several (:func:`compare_family`), folded into
worst errors per quantity and dtype (:func:`summary_table`)."""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from .. import loss_and_grads
from ..cases import DTYPES, draw
from ..compare import QUANTITIES, check_case
from ..spec import SEED, as_spec
from ..tolerances import oracle_rtol
from .extras import load_installed

#: The oracles run when ``--oracles`` is left out (each when installed).
DEFAULT_ORACLES = ("torch", "jax")


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
