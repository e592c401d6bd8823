"""``python -m scratch bench``: median time per training step, scratch vs PyTorch eager vs ``jax.jit``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..bench import BOUNDS, DISTURBED_SPREAD, IMPLAUSIBLE_FACTOR, IMPLEMENTATIONS, SIZES, WORKERS, WorkerFailed, gemm_flops, spawn_worker, spread, summarize
from ..plots import new_figure, require_matplotlib, save_figure
from ..report import print_table, write_json
from ..errors import UsageError
from ..progress import progress_bar
from ._options import (add_dtypes_option, add_flat_names_option, add_json_option, add_plot_option, add_quiet_option,
                       add_shapes_option, positive_int_upto, show_progress)

#: ``--frameworks`` names, as ``train --frameworks`` spells them -> the worker that measures it
#: (``scratch`` is still accepted for ``numpy``).
FRAMEWORK_WORKERS = {"numpy": "scratch", "torch": "torch", "jax": "jax", "scratch": "scratch"}
#: Upper bounds of the count options (exit 2 above them, before any work).
MAX_REPEATS, MAX_WARMUP, MAX_ROUNDS = 10_000, 1_000, 100

#: Goal of the issue: the workspace step at most this fraction of each framework's step.
GOALS = {"jax": 1.0, "torch": 0.5}


def register(sub: Any) -> None:
    """Add the ``bench`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "bench",
        help="time one training step: scratch (workspace, plain), PyTorch eager, jax.jit",
        description="Median time per training step (forward + backward) of scratch's workspace and plain "
        "routes, PyTorch eager autograd and jax.jit(value_and_grad), each framework in its own subprocess, "
        "with the GEMM-bound floor and the memory-traffic bound ('stream': the two large GEMMs and two "
        "streaming passes, no other work).  To measure OpenBLAS's native kernel where the environment forces "
        "one, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for that command.",
    )
    add_shapes_option(p, [",".join(map(str, s)) for s in SIZES])
    add_dtypes_option(p)
    p.add_argument("--repeats", type=positive_int_upto(MAX_REPEATS), default=30,
                   help=f"timed steps per point (median), at most {MAX_REPEATS:,}; default 30")
    p.add_argument("--warmup", type=positive_int_upto(MAX_WARMUP), default=3,
                   help=f"untimed steps first (JAX compiles here), at most {MAX_WARMUP:,}; default 3")
    p.add_argument("--rounds", type=positive_int_upto(MAX_ROUNDS), default=1,
                   help="run every framework's worker this many times, interleaved, and pool the samples "
                        f"(evens out a busy machine), at most {MAX_ROUNDS}; default 1")
    add_flat_names_option(p, "--frameworks", list(FRAMEWORK_WORKERS), metavar="FRAMEWORK",
                          help="some of numpy torch jax (space- or comma-separated; as train --frameworks); "
                               "default: those installed")
    add_json_option(p, "every measurement")
    add_plot_option(p, "time per step against GEMM FLOPs")
    add_quiet_option(p)
    p.set_defaults(func=run)


def fmt_time(seconds: float | None) -> str:
    """``54 us``, ``1.59 ms``, ``147 ms``; ``-`` when not measured."""
    if seconds is None:
        return "-"
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f} us"
    return f"{us:.0f} us" if us < 1000 else (f"{us / 1000:.2f} ms" if us < 1e4 else f"{us / 1000:.0f} ms")


def collect(args: argparse.Namespace, progress: Any = None) -> dict[str, Any]:
    """Run one worker per framework; ``{"points": [...], "blas_rate": ..., "environment": ...}``.
    ``progress`` (a tqdm-like bar or None) advances by one per worker, size and dtype."""
    sizes = [s for _, s in args.shapes]
    asked = None if args.frameworks is None else list(dict.fromkeys(FRAMEWORK_WORKERS[f] for f in args.frameworks))
    workers = ["scratch", *(w for w in (asked or WORKERS) if w != "scratch")]  # scratch: the BLAS rate

    def step(label: str) -> None:
        if progress is not None:
            progress.set_postfix_str(label)
            progress.update(1)

    runs: dict[str, dict[str, Any]] = {}
    samples: dict[tuple[str, tuple[int, ...], str], list[float]] = {}
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for w in list(workers):
            try:
                runs[w] = spawn_worker(w, sizes, args.dtypes, args.repeats, args.warmup, progress=step)
            except WorkerFailed as exc:
                if progress is not None:
                    progress.update(len(sizes) * len(args.dtypes))
                if not exc.missing:
                    raise
                if asked is not None:  # asked for by name: a usage error naming the extra
                    raise UsageError(str(exc)) from exc
                print(f"skipped: {exc}", file=sys.stderr)
                workers.remove(w)
                continue
            for r in runs[w]["results"]:
                samples.setdefault((r["impl"], tuple(r["shape"]), r["dtype"]), []).extend(r["times"])
            for d, v in runs[w]["blas_rate"].items():
                rates.setdefault(d, []).append(v)
    times = {k: summarize(v) for k, v in samples.items()}
    disturbed = {f"{impl} {dtype} {','.join(map(str, shape))}": spread(v)
                 for (impl, shape, dtype), v in samples.items() if spread(v) > DISTURBED_SPREAD}
    rate = {d: max(v) for d, v in rates.items()}
    points = []
    for dtype in args.dtypes:
        for shape in sizes:
            pt: dict[str, Any] = {"shape": list(shape), "dtype": dtype, "gemm_flops": gemm_flops(*shape),
                                  "floor": gemm_flops(*shape) / rate[dtype]}
            for impl in IMPLEMENTATIONS:
                r = times.get((impl, shape, dtype))
                pt[impl] = None if r is None else r["median"]
                pt[f"{impl}_q"] = None if r is None else [r["q1"], r["q3"]]
                pt[f"{impl}_n"] = 0 if r is None else r["repeats"]
            for fw, goal in GOALS.items():
                pt[f"workspace/{fw}"] = pt["workspace"] / pt[fw] if pt.get(fw) else None
                pt[f"goal_{fw}"] = None if pt.get(fw) is None else pt[f"workspace/{fw}"] <= goal
                pt[f"numba/{fw}"] = pt["numba"] / pt[fw] if pt.get(fw) and pt.get("numba") else None
            pt["workspace/floor"] = pt["workspace"] / pt["floor"]
            pt["stream/floor"] = pt["stream"] / pt["floor"] if pt.get("stream") else None
            measured = {i: pt[i] for i in IMPLEMENTATIONS if pt.get(i) and i not in BOUNDS}
            fastest = min(measured.values())
            for impl, t in measured.items():
                if t > IMPLAUSIBLE_FACTOR * fastest:
                    disturbed.setdefault(f"{impl} {dtype} {','.join(map(str, shape))}", t / fastest)
            pt["numba/floor"] = pt["numba"] / pt["floor"] if pt.get("numba") else None
            points.append(pt)
    return {"points": points, "blas_rate": rate, "repeats": args.repeats, "warmup": args.warmup, "rounds": args.rounds,
            "environment": {w: r["environment"] for w, r in runs.items()}, "disturbed": disturbed}


def tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The two printed tables, each under ~100 columns: the times per step, then the ratios
    (with the goals).  ``(title, headers, rows)`` each; ``{steps}`` in a title is the step count."""
    def fmt_ratio(v: float | None) -> str:
        return "-" if v is None else f"{v:.3g}"

    def shape(p: dict[str, Any]) -> str:
        return ",".join(map(str, p["shape"]))

    rates = ", ".join(f"{d} {r / 1e9:.0f} GFLOP/s" for d, r in report["blas_rate"].items())
    def time(v: float | None) -> str:
        return fmt_time(v).replace(" ", "")  # 1.59ms: one column narrower

    times = [[p["dtype"][5:], shape(p), *(time(p[i]) for i in IMPLEMENTATIONS), time(p["floor"])]
             for p in report["points"]]
    ratios = []
    for p in report["points"]:
        goal = [("-" if p[f"workspace/{fw}"] is None else
                 f"{p[f'workspace/{fw}']:.2f} {'met' if p[f'goal_{fw}'] else 'missed'}") for fw in GOALS]
        ratios.append([p["dtype"][5:], shape(p), *goal, fmt_ratio(p["workspace/floor"]), fmt_ratio(p.get("numba/jax")),
                       fmt_ratio(p["numba/floor"]), fmt_ratio(p["stream/floor"])])
    goals = ", ".join(f"ws/{fw} <= {g}" for fw, g in GOALS.items())
    return [
        (f"median time per training step over {{steps}} steps (ws = workspace, fp = float bits); BLAS rate {rates}",
         ["fp", "N,D,H,C", *("ws" if i == "workspace" else i for i in IMPLEMENTATIONS), "floor"], times),
        (f"ratios (ws = workspace, nb = numba, floor = GEMM floor; fp = float bits); goals: {goals}",
         ["fp", "N,D,H,C", *(f"ws/{fw}" for fw in GOALS), "ws/floor", "nb/jax", "nb/floor", "stream/floor"],
         ratios),
    ]


def describe_environment(env: dict[str, Any]) -> list[str]:
    """One line per framework: its thread pools (library, version, kernel, threads) as seen by
    threadpoolctl in its worker, and the framework's own description."""
    lines = []
    for worker, e in env.items():
        pools = e["threadpools"]
        desc = pools if isinstance(pools, str) else "; ".join(
            f"{p.get('internal_api')} {p.get('version', '')} kernel={p.get('architecture', 'n/a')} "
            f"threads={p.get('num_threads')}" for p in pools) or "no pool visible to threadpoolctl"
        lines.append(f"{worker}: {e.get('framework', '')}; threadpoolctl: {desc}")
    env_vars = next(iter(env.values()))["env"]
    lines.append("environment: " + ", ".join(f"{k}={'(unset)' if v is None else v}" for k, v in env_vars.items()))
    return lines


def plot(report: dict[str, Any], path: str) -> None:
    """Time per step against GEMM FLOPs, log-log, one panel per dtype, written to ``path``."""
    dtypes = list(dict.fromkeys(p["dtype"] for p in report["points"]))
    fig = new_figure((6 * len(dtypes), 4.5))
    axes = fig.subplots(1, len(dtypes), squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        pts = sorted((p for p in report["points"] if p["dtype"] == dtype), key=lambda p: p["gemm_flops"])
        flops = [p["gemm_flops"] for p in pts]
        for impl in [*IMPLEMENTATIONS, "floor"]:
            if all(p.get(impl) is not None for p in pts):
                ax.plot(flops, [p[impl] for p in pts], "--" if impl == "floor" else "-o", label=impl)
        for p in pts:
            top = max(p[i] for i in [*IMPLEMENTATIONS, "floor"] if p.get(i) is not None)
            ax.annotate(",".join(map(str, p["shape"])), (p["gemm_flops"], top), fontsize=7,
                        textcoords="offset points", xytext=(0, 8), ha="center")
        ax.set(xscale="log", yscale="log", xlabel="GEMM FLOPs per step (4NDH + 6NHC)",
               ylabel="median time per step [s]", title=f"one training step, {dtype}")
        ax.margins(x=0.08, y=0.12)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch bench``; return the exit status (0 ok, 1 a check failed)."""
    if args.plot:  # before the measurements, not after them
        require_matplotlib(UsageError)
    n_workers = len(WORKERS if args.frameworks is None else {"scratch", *(FRAMEWORK_WORKERS[f] for f in args.frameworks)})
    total = n_workers * args.rounds * len(args.shapes) * len(args.dtypes)
    with progress_bar("bench", total, show_progress(args), unit="point") as bar:
        report = collect(args, progress=bar)
    for title, headers, rows in tables(report):
        print_table(title.format(steps=args.repeats * args.rounds), headers, rows)
    for line in describe_environment(report["environment"]):
        print(line)
    for point, factor in report["disturbed"].items():
        print(f"WARNING: {point}: {factor:.0f}x (unreliable)")
    if report["disturbed"]:
        print(f"WARNING: at the {len(report['disturbed'])} point(s) above the step time varied that much between "
              f"repeats (90th/10th percentile), or was more than {IMPLAUSIBLE_FACTOR:.0f}x the fastest implementation's: "
              "the machine was busy (or a thread pool oversubscribed), so those times and ratios are unreliable; rerun "
              "on a quiet machine or with --rounds 3")
    if args.json:
        write_json(args.json, report)
    if args.plot:
        plot(report, args.plot)
    return 0
