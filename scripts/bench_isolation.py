#!/usr/bin/env python
"""What isolation costs: the user's function in a worker process (:mod:`scratch.worker`)
against the same function called in-process, on the default sweep of ``python -m scratch check``.

Measures (wall clock, the best of ``--repeats``):

- per submission: starting a worker, its imports (NumPy, the kit) and importing the submission;
- per call: one round trip (inputs out, outputs back, ``np.save``/``np.load``) against an
  in-process call of the same function, over every case of the sweep;
- the whole check: ``check_implementation`` of a target string (isolated) against the same
  function as a callable (in-process), blind spots included, as ``check`` runs it.

Usage: ``PYTHONPATH=. python scripts/bench_isolation.py [--repeats 3] [--target scratch.network:loss_and_grads]``
"""

from __future__ import annotations

import argparse
import time


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)  # the least disturbed run: other processes only ever add time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best is shown (default: 3)")
    p.add_argument("--target", default="scratch.network:loss_and_grads", help="the implementation to time")
    args = p.parse_args()
    if args.repeats < 1:
        p.error("--repeats must be at least 1")

    import scratch.testing as st
    from scratch.adapter import call, load_function
    from scratch.worker import Isolated

    fn = load_function(args.target)
    sweep = st.cases()

    def start() -> None:
        with Isolated(args.target):
            pass

    t_start = _median_time(start, args.repeats)

    with Isolated(args.target) as worker:
        def isolated_calls() -> None:
            for c in sweep:
                worker.run(c.params, c.x, c.y)

        t_iso_calls = _median_time(isolated_calls, args.repeats)

    def inprocess_calls() -> None:
        for c in sweep:
            call(fn, "params", c.params.copy(), c.x.copy(), c.y.copy())

    t_in_calls = _median_time(inprocess_calls, args.repeats)
    t_in_check = _median_time(lambda: st.check_implementation(fn), args.repeats)
    t_iso_check = _median_time(lambda: st.check_implementation(args.target), args.repeats)

    n = len(sweep)
    rows = [
        ("worker start + imports + import of the submission", f"{t_start * 1e3:8.1f} ms", "per submission"),
        ("one call, in-process", f"{t_in_calls / n * 1e3:8.3f} ms", f"mean of {n} cases"),
        ("one call, isolated (round trip)", f"{t_iso_calls / n * 1e3:8.3f} ms", f"mean of {n} cases"),
        ("per-call overhead", f"{(t_iso_calls - t_in_calls) / n * 1e3:8.3f} ms", ""),
        ("check, in-process (callable)", f"{t_in_check:8.3f} s", f"{n} cases, blind spots"),
        ("check, isolated (target string)", f"{t_iso_check:8.3f} s", f"{n} cases, blind spots"),
        ("isolation overhead on the check", f"{(t_iso_check - t_in_check):8.3f} s",
         f"{(t_iso_check / t_in_check - 1) * 100:+.1f} %"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"isolation cost for {args.target}, best of {args.repeats} run(s)")
    for name, value, note in rows:
        print(f"  {name:<{w}}  {value:>12}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
