"""Worst relative error of scratch.loss_and_grads against each oracle, per family member and dtype.

    PYTHONPATH=$PWD python scripts/family_errors.py [--seeds 0 1 2] [--shapes small square c10 ...]

One row per member x oracle x dtype: the largest ``scratch.compare.relative_error`` over loss and
every gradient, over seeds x shapes x target kinds, and the ratio to the tolerance it is checked at
(``scratch.tolerances.oracle_rtol``; the complex step, ``COMPLEX_STEP_RTOL``, in float64).
float32 cases are compared with the oracle in float64 on the same rounded inputs (the truth).
"""

from __future__ import annotations

import argparse
import functools
import itertools

import oracles
import scratch
from scratch.cases import DTYPES, SHAPES, TARGETS, draw
from scratch.compare import check_case
from scratch.spec import NetworkSpec
from scratch.tolerances import COMPLEX_STEP_RTOL, oracle_rtol

#: The members measured: every activation, then the L2 / reduction conventions.
MEMBERS = {
    "tanh (seed)": NetworkSpec(),
    "relu": NetworkSpec(activation="relu"),
    "leaky_relu": NetworkSpec(activation="leaky_relu"),
    "leaky_relu a=0.2": NetworkSpec(activation="leaky_relu", alpha=0.2),
    "sigmoid": NetworkSpec(activation="sigmoid"),
    "relu+L2 full+sum (CS231n)": NetworkSpec(activation="relu", l2=1e-3, l2_form="full", reduction="sum"),
    "tanh+L2 half+biases": NetworkSpec(l2=0.05, l2_biases=True),
    "sigmoid sum": NetworkSpec(activation="sigmoid", reduction="sum"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--shapes", nargs="+", default=["n1", "h1", "c1", "small", "square", "tall", "c10"], choices=list(SHAPES))
    p.add_argument("--oracles", nargs="+", default=["torch", "jax", "numeric"], choices=["torch", "jax", "numeric"])
    args = p.parse_args()
    print(f"{'member':28s} {'oracle':8s} {'dtype':8s} {'worst rel err':>13s} {'worst err/tol':>13s}  (quantity, case)")
    for (label, spec), oracle, dtype in itertools.product(MEMBERS.items(), args.oracles, DTYPES):
        ours = functools.partial(scratch.loss_and_grads, spec=spec)
        ref = functools.partial(oracles.get(oracle), spec=spec)
        worst, ratio, where = 0.0, 0.0, ""
        for shape, target, seed in itertools.product(args.shapes, TARGETS, args.seeds):
            case = draw(seed, shape, dtype, target, spec=spec)
            rtol = COMPLEX_STEP_RTOL if (oracle == "numeric" and dtype == "float64") else oracle_rtol(dtype, SHAPES[shape])
            for c in check_case(ours, ref, case.params, case.x, case.y, rtol=rtol):
                if c.max_rel >= worst:
                    worst, where = c.max_rel, f"{c.quantity}, {case.name}"
                ratio = max(ratio, c.max_rel / rtol)
        print(f"{label:28s} {oracle:8s} {dtype:8s} {worst:13.2e} {ratio:13.3f}  ({where})")


if __name__ == "__main__":
    main()
