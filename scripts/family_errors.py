#!/usr/bin/env python
"""The worst relative error of ours against each oracle, per family member and dtype.

For every member of tests/test_family.py (activation x reduction x L2) and each oracle, the
largest :func:`scratch.compare.relative_error` over loss and every gradient, both routes
(fused, staged), seeds 0-1, target kinds labels and unnormalized, and the shapes "small" and
"c10" (the numeric oracle: complex step, float64, "small" only).  float32 is against the
float64 truth of the same float32-rounded arrays (scratch.compare.check_case).

    PYTHONPATH=$PWD python scripts/family_errors.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import functools
import sys

import numpy as np

import oracles
import scratch
from scratch.cases import SHAPES, make_case
from scratch.compare import check_case
from scratch.spec import NetworkSpec
from scratch.tolerances import COMPLEX_STEP_RTOL, oracle_rtol

ACTIVATIONS = (("tanh", {}), ("relu", {}), ("leaky_relu", {"alpha": 0.01}), ("leaky_relu", {"alpha": 0.2}),
               ("sigmoid", {}))
L2S = ({}, {"l2": 1e-3, "l2_form": "half"}, {"l2": 0.1, "l2_form": "full", "l2_biases": True})
COLUMNS = (("torch", "float64"), ("jax", "float64"), ("numeric", "float64"), ("torch", "float32"), ("jax", "float32"))


def members() -> list[NetworkSpec]:
    """The 30 members: 5 activations x 2 reductions x 3 L2 settings."""
    return [NetworkSpec(act, reduction=red, **kw, **l2) for act, kw in ACTIVATIONS for red in ("mean", "sum")
            for l2 in L2S]


def label(spec: NetworkSpec) -> str:
    """A short row label: ``leaky_relu(0.2) sum L2 full 0.1 +b``."""
    act = spec.activation + (f"({spec.alpha:g})" if spec.activation == "leaky_relu" else "")
    l2 = f"L2 {spec.l2_form} {spec.l2:g}" + (" +b" if spec.l2_biases else "") if spec.l2 else "no L2"
    return f"{act} {spec.reduction} {l2}"


def worst(spec: NetworkSpec, oracle: str, dtype: str, seeds: int) -> tuple[float, float]:
    """(worst relative error, worst error / tolerance) over the cases and both routes."""
    shapes = ("small",) if oracle == "numeric" else ("small", "c10")
    ref = functools.partial(oracles.get(oracle), spec=spec)
    if oracle == "numeric":
        ref = functools.partial(oracles.get("numeric"), method="complex", spec=spec)
    err = ratio = 0.0
    for shape in shapes:
        rtol = COMPLEX_STEP_RTOL if oracle == "numeric" else oracle_rtol(dtype, SHAPES[shape])
        for seed in range(seeds):
            for target in ("labels", "unnormalized"):
                c = make_case(seed, SHAPES[shape], np.dtype(dtype), target)
                for route in ("fused", "staged"):
                    ours = functools.partial(scratch.loss_and_grads, route=route, spec=spec)
                    for chk in check_case(ours, ref, c.params, c.x, c.y, rtol=rtol):
                        err, ratio = max(err, chk.max_rel), max(ratio, chk.max_rel / rtol)
    return err, ratio


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2, help="seeds per (shape, target) (default 2)")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    head = f"{'member':<36}" + "".join(f"{o + ' ' + d[-2:]:>12}" for o, d in COLUMNS)
    print(head)
    print("-" * len(head))
    overall = {col: 0.0 for col in COLUMNS}
    worst_ratio = 0.0
    for spec in members():
        cells = []
        for col in COLUMNS:
            e, r = worst(spec, *col, args.seeds)
            overall[col] = max(overall[col], e)
            worst_ratio = max(worst_ratio, r)
            cells.append(f"{e:>12.2e}")
        print(f"{label(spec):<36}" + "".join(cells))
    print("-" * len(head))
    print(f"{'worst':<36}" + "".join(f"{overall[c]:>12.2e}" for c in COLUMNS))
    print(f"largest error / tolerance: {worst_ratio:.3f}")
    return 0 if worst_ratio <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
