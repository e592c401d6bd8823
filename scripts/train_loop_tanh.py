#!/usr/bin/env python
"""Time per step of ``scratch.lab.train``'s loop with each ``Workspace(tanh=...)`` method, interleaved,
best of ``--rounds`` (spirals, N = 300): does a faster step stay faster inside the loop?

    scripts/train_loop_tanh.py [--hidden 512] [--steps 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np

import scratch
import scratch.lab.train as train_module
from scratch.lab.data import spirals
from scratch.workspace import Workspace


def positive(v: str) -> int:
    if not v.isdigit() or int(v) < 1:
        raise argparse.ArgumentTypeError(f"{v!r} is not a positive integer")
    return int(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/train_loop_tanh.py", description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=positive, default=512)
    p.add_argument("--steps", type=positive, default=40)
    p.add_argument("--rounds", type=positive, default=3)
    a = p.parse_args(argv)
    methods = ["numpy", "poly"]
    try:
        Workspace(2, 2, 2, 2, tanh="numba")
        methods.append("numba")
    except ImportError:
        print("numba not installed: its column is skipped (pip install 'scratch-backprop[fast]')", file=sys.stderr)
    for dtype in (np.float64, np.float32):
        d = spirals(seed=0, dtype=dtype)
        p0 = scratch.init_params(d.x.shape[1], a.hidden, int(d.y.max()) + 1, rng=0, bias_scale=0.5, dtype=dtype)
        for batch in (None, 32):
            config = train_module.SGDConfig(lr=0.1, steps=a.steps, momentum=0.9, weight_decay=1e-3, batch_size=batch)
            best: dict[str, float] = {}
            warm = train_module.SGDConfig(lr=0.1, steps=1, batch_size=batch)
            try:
                for m in methods:  # untimed: numba loads (or compiles) its kernels on first use
                    train_module.Workspace = functools.partial(Workspace, tanh=m)
                    train_module.train(p0, d.x, d.y, warm)
                for _ in range(a.rounds):
                    for m in methods:
                        train_module.Workspace = functools.partial(Workspace, tanh=m)  # what scratch.lab.train builds
                        t0 = time.perf_counter()
                        train_module.train(p0, d.x, d.y, config)
                        best[m] = min(best.get(m, np.inf), (time.perf_counter() - t0) / a.steps)
            finally:
                train_module.Workspace = Workspace
            print(f"{np.dtype(dtype).name} N={d.x.shape[0]} H={a.hidden} batch={batch or 'full'}: "
                  + " | ".join(f"{m} {t * 1e3:.2f} ms/step" for m, t in best.items()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader left early (| head): end quietly, as the commands do
        sys.stdout = None
        sys.exit(141)
