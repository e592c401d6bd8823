"""The grading benchmark: a generated class of 300 submissions graded by ``python -m scratch grade``.

The class mixes right implementations (float32-accurate and textbook), buggy ones (no
max-shift, no 1/N, bias gradient by mean, sign flipped), crashing ones (a segfault, an exit,
an exception on every call) and hanging ones (``time.sleep`` forever), in fixed proportions
(:data:`MIX`), shuffled with a fixed seed.  It is graded on the default assignment (the seed
network, check's default sweep, all three tiers) with ``--jobs`` at a time and the given time
limit; the script reports the total wall-clock time, the time per submission by kind, whether
each kind got the verdict it should, and the per-submission cost of the process boundary: a
right submission's grading time against the same three sweeps run in-process
(``scratch.testing.check_implementation``).  Entry point: ``scripts/bench_grade.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEXTBOOK = '''\
import numpy as np

def loss_and_grads(params, x, y):
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2
    z = z2 - z2.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    t = np.eye(C, dtype=x.dtype)[y] if y.ndim == 1 else y
    loss = -(t * logp).sum() / N
    dz2 = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / N
    dz1 = (dz2 @ W2.T) * (1 - a1 ** 2)
    db1 = dz1.sum(axis=0)
    return x.dtype.type(loss), {"dW1": x.T @ dz1, "db1": db1, "dW2": a1.T @ dz2, "db2": dz2.sum(axis=0)}
'''

ACCURATE = '''\
import numpy as np

def loss_and_grads(params, x, y):
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    rows = np.arange(N)
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2
    m = z2.argmax(axis=1)
    s = z2 - z2[rows, m][:, None]
    e = np.exp(s)
    others = e.copy()
    others[rows, m] = 0
    T = others.sum(axis=1)                       # the other classes' mass
    logp = s - np.log1p(T)[:, None]              # log-softmax, no log of a sum near 1
    t = np.eye(C, dtype=x.dtype)[y] if y.ndim == 1 else y
    loss = -(t * logp).sum() / N
    S = t.sum(axis=1)
    dz2 = e / (1 + T)[:, None] * S[:, None] - t
    tm = t[rows, m]
    dz2[rows, m] = ((S - tm) - tm * T) / (1 + T)  # the top class without cancellation
    dz2 /= N
    u = np.exp(-2 * np.abs(z1))
    dz1 = (dz2 @ W2.T) * (4 * u / (1 + u) ** 2)  # tanh' = sech^2 from z1
    return x.dtype.type(loss), {"dW1": x.T @ dz1, "db1": dz1.sum(axis=0), "dW2": a1.T @ dz2, "db2": dz2.sum(axis=0)}
'''


def _variant(old: str, new: str) -> str:
    assert old in TEXTBOOK, old
    return TEXTBOOK.replace(old, new)


#: kind -> (source, share of the class, the status it must get).
MIX: dict[str, tuple[str, float, str]] = {
    "accurate": (ACCURATE, 0.20, "graded"),
    "textbook": (TEXTBOOK, 0.20, "graded"),
    "no_shift": (_variant("z = z2 - z2.max(axis=1, keepdims=True)", "z = z2"), 0.12, "graded"),
    "no_mean": (_variant("loss = -(t * logp).sum() / N", "loss = -(t * logp).sum()").replace("- t) / N", "- t)"),
                0.10, "graded"),
    "bias_by_mean": (_variant("db1 = dz1.sum(axis=0)", "db1 = dz1.mean(axis=0)"), 0.08, "graded"),
    "sign_flipped": (_variant("- t) / N", "- t) / -N"), 0.05, "graded"),
    "raises": ("def loss_and_grads(params, x, y):\n    raise NotImplementedError('TODO')\n", 0.08, "graded"),
    "segfault": ("import ctypes\n\ndef loss_and_grads(params, x, y):\n    return ctypes.string_at(0)\n", 0.06,
                 "crashed"),
    "exits": ("import sys\n\ndef loss_and_grads(params, x, y):\n    sys.exit(3)\n", 0.06, "crashed"),
    "hangs": ("import time\n\ndef loss_and_grads(params, x, y):\n    time.sleep(10 ** 6)\n", 0.05, "timed out"),
}


def write_class(folder: Path, n: int, seed: int = 0) -> dict[str, str]:
    """Write ``n`` submissions into ``folder`` in the proportions of :data:`MIX`; return name -> kind."""
    import numpy as np

    counts = {k: int(round(share * n)) for k, (_, share, _) in MIX.items()}
    counts["accurate"] += n - sum(counts.values())
    kinds = [k for k, c in counts.items() for _ in range(c)]
    np.random.default_rng(seed).shuffle(kinds)
    names = {}
    for i, kind in enumerate(kinds):
        name = f"student{i:03d}.py"
        (folder / name).write_text(MIX[kind][0])
        names[name] = kind
    return names


def in_process_seconds(source: str, workdir: Path, repeat: int = 3) -> float:
    """Seconds to check ``source`` in-process on the default assignment's three tiers (best of ``repeat``)."""
    from ..adapter import load_function
    from ..grading import load_assignment
    from ..testing import check_implementation

    path = workdir / "in_process_subject.py"
    path.write_text(source)
    fn = load_function(f"{path}:loss_and_grads")
    a = load_assignment()
    try:  # one BLAS thread, as each graded check process has
        from threadpoolctl import threadpool_limits

        limits: Any = threadpool_limits(1)
    except ImportError:
        import contextlib

        limits = contextlib.nullcontext()
    best = float("inf")
    with limits:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for t in a.tiers:
                shapes = [s if "," not in s else tuple(map(int, s.split(","))) for s in t.shapes]
                check_implementation(fn, seeds=t.seeds, shapes=shapes, dtypes=t.dtypes, targets=t.targets,
                                     spec=a.spec)
            best = min(best, time.perf_counter() - t0)
    return best


def graded_alone_seconds(source: str, workdir: Path, config: Path, repeat: int = 3) -> float:
    """The ``seconds`` grades.csv gives ``source`` graded alone (``--jobs 1``; best of ``repeat``):
    its three check processes, start-up and imports included."""
    one = workdir / "alone"
    one.mkdir(exist_ok=True)
    (one / "textbook.py").write_text(source)
    best = float("inf")
    for _ in range(repeat):
        subprocess.run([sys.executable, "-m", "scratch", "grade", str(one), "--out", str(workdir / "alone-results"),
                        "--config", str(config), "--jobs", "1", "--quiet"], capture_output=True, check=True)
        with open(workdir / "alone-results" / "grades.csv", newline="") as f:
            best = min(best, float(next(csv.DictReader(f))["seconds"]))
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write ``--json``); exit 1 when a kind got a wrong verdict."""
    from ..grading import DEFAULT_CONFIG

    p = argparse.ArgumentParser(prog="scripts/bench_grade.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="submissions (default 300)")
    p.add_argument("--jobs", type=int, default=2, help="grade --jobs (default 2)")
    p.add_argument("--time-limit", type=float, default=10.0, help="[limits] time, seconds (default 10)")
    p.add_argument("--json", type=Path, help="also write the numbers as JSON")
    p.add_argument("--keep", type=Path, help="grade into this folder and keep it (default: a temporary one)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        root = args.keep or Path(tmp)
        subs, out = root / "submissions", root / "results"
        subs.mkdir(parents=True, exist_ok=True)
        kinds = write_class(subs, args.n)
        cfg = root / "assignment.toml"
        cfg.write_text(DEFAULT_CONFIG.replace("time = 60 ", f"time = {args.time_limit:g} "))
        cmd = [sys.executable, "-m", "scratch", "grade", str(subs), "--out", str(out), "--config", str(cfg),
               "--jobs", str(args.jobs), "--quiet"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        total = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            return 1
        with open(out / "grades.csv", newline="") as f:
            rows = {r["submission"]: r for r in csv.DictReader(f)}
        per_kind: dict[str, Any] = {}
        wrong = []
        for kind, (_, _, status) in MIX.items():
            rs = [rows[n] for n, k in kinds.items() if k == kind]
            if not rs:
                continue
            bad = [r["submission"] for r in rs if r["status"] != status]
            wrong += [f"{n} ({kind}): {rows[n]['status']}, expected {status}" for n in bad]
            secs = [float(r["seconds"]) for r in rs]
            per_kind[kind] = {"count": len(rs), "mean_s": sum(secs) / len(secs), "max_s": max(secs),
                              "status": status, "wrong_verdicts": len(bad),
                              "mean_score": sum(float(r["score"]) for r in rs) / len(rs)}
        inproc = in_process_seconds(TEXTBOOK, root)
        graded_textbook = graded_alone_seconds(TEXTBOOK, root, cfg)
    result = {"submissions": args.n, "jobs": args.jobs, "time_limit_s": args.time_limit, "cpus": os.cpu_count(),
              "total_s": total, "per_submission_s": total / args.n, "kinds": per_kind,
              "textbook_in_process_s": inproc, "textbook_graded_s": graded_textbook,
              "process_overhead_per_submission_s": graded_textbook - inproc, "wrong_verdicts": wrong}
    print(f"graded {args.n} submissions with --jobs {args.jobs} ({os.cpu_count()} CPUs) in {total:.1f} s: "
          f"{total / args.n:.2f} s per submission (time limit {args.time_limit:g} s)")
    print(f"{'kind':14s} {'count':>5s} {'mean s':>7s} {'max s':>7s} {'score':>6s}  verdict")
    for kind, k in per_kind.items():
        print(f"{kind:14s} {k['count']:5d} {k['mean_s']:7.2f} {k['max_s']:7.2f} {k['mean_score']:6.1f}  "
              f"{k['status']}" + (f" ({k['wrong_verdicts']} wrong)" if k["wrong_verdicts"] else ""))
    print(f"a textbook submission graded alone: {graded_textbook:.2f} s (3 check processes) vs {inproc:.2f} s "
          f"checked in-process: {graded_textbook - inproc:.2f} s of process start-up and imports per submission")
    for w in wrong[:20]:
        print("WRONG:", w)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if wrong else 0
