"""``python -m scratch train``: the same SGD run in NumPy, PyTorch and JAX, compared step by step."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..bench import DISTURBED_SPREAD
from ...cases import DTYPES
from ..data import DATASETS, Dataset, make_dataset
from ...network import Params, init_params
from ..errors import UsageError
from ..extras import load_installed
from ..parity import TRAINERS, get_trainer, parity
from ..plots import require_matplotlib, training_figure
from ..report import print_table, write_json
from ..train import SGDConfig
from ._options import (
    add_json_option,
    add_names_option,
    add_plot_option,
    add_quiet_option,
    flat_names,
    positive_int, positive_int_upto,
    seed,
    show_progress,
)

#: Upper bounds of ``--steps`` and of ``--hidden``/``--dim`` (exit 2 above them, before any work).
MAX_STEPS, MAX_UNITS = 100_000, 10_000


def register(sub: Any) -> None:
    """Add the ``train`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "train",
        help="train with SGD in NumPy, PyTorch and JAX from the same arrays; compare the trajectories",
        description="Train the network on a toy data set with the hand-derived gradients (numpy) and its "
        "autograd twins (torch.optim.SGD, optax.sgd) from the same initial arrays and mini-batch order; "
        "print the final loss, accuracy, wall time and the largest relative parameter difference between "
        "frameworks; exit 1 when two trajectories disagree beyond the tolerance.",
    )
    p.add_argument("--dataset", choices=sorted(DATASETS), default="moons", help="default: moons")
    p.add_argument("--dim", type=positive_int_upto(MAX_UNITS), default=None,
                   help=f"input dimension D for blobs, at most {MAX_UNITS:,} (default 2)")
    p.add_argument("--hidden", type=positive_int_upto(MAX_UNITS), default=16, metavar="H",
                   help=f"hidden units, at most {MAX_UNITS:,} (default 16)")
    p.add_argument("--steps", type=positive_int_upto(MAX_STEPS), default=200, metavar="K",
                   help=f"SGD updates, at most {MAX_STEPS:,} (default 200)")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum in [0, 1) (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=1e-3, help="L2 weight decay (default 1e-3)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="mini-batch size, at most the data set's N (default: full batch)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the data, the initial weights and the shuffling")
    add_names_option(p, "--frameworks", list(TRAINERS), "default: those installed")
    p.add_argument("--dtype", choices=list(DTYPES), default="float64", help="one run's dtype; default: float64")
    add_plot_option(p, "the figure (loss curves and decision regions)")
    add_json_option(p, "the report")
    add_quiet_option(p)
    p.set_defaults(func=run)


def thread_settings(with_torch: bool) -> str:
    """One line: the BLAS thread pools NumPy uses (threadpoolctl) and, ``with_torch``, torch's
    intra-op threads during training (pinned to 1 by :mod:`oracles.torch_train`)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = "threadpoolctl not installed (pip install 'scratch-backprop[cli]')"
    else:
        blas = "; ".join(f"{p.get('internal_api')} {p.get('version', '')} threads={p.get('num_threads')}"
                         for p in threadpool_info() if p.get("user_api") == "blas") or "no BLAS pool visible"
    return f"threads: numpy BLAS {blas}" + ("; torch intra-op 1 (pinned while training)" if with_torch else "")


def build(args: argparse.Namespace) -> tuple[Dataset, Params, SGDConfig]:
    """The data set, theta_0 and the configuration from the options; bad values are a :class:`UsageError`."""
    if args.dim is not None and args.dataset != "blobs":
        raise UsageError(f"--dim applies to --dataset blobs only (got --dataset {args.dataset})")
    try:
        config = SGDConfig(lr=args.lr, steps=args.steps, momentum=args.momentum, weight_decay=args.weight_decay,
                           batch_size=args.batch_size, seed=args.seed)
    except ValueError as exc:  # the message starts with the field's name: name the option instead
        field, rest = str(exc).split(" ", 1)
        raise UsageError(f"--{field.replace('_', '-')} {rest}") from exc
    extra = {"dim": args.dim} if args.dim is not None else {}
    data = make_dataset(args.dataset, seed=args.seed, dtype=DTYPES[args.dtype], **extra)
    N, D, C = data.dims
    if config.batch_size is not None and config.batch_size > N:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the data set ({data.name}: N = {N}); "
                         f"use at most {N}, or leave it out for full batch")
    params = init_params(D, args.hidden, C, rng=np.random.default_rng([args.seed, 1]), dtype=DTYPES[args.dtype])
    return data, params, config


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch train``; return the exit status (0 ok, 1 a check failed)."""
    data, params, config = build(args)
    if args.plot:
        require_matplotlib(UsageError)
    trainers = load_installed(flat_names(args.frameworks, "--frameworks"), list(TRAINERS), get_trainer,
                              option="--frameworks")
    par = parity(data, params, config, list(trainers), show=show_progress(args))
    results, sensitivity, tol = par["results"], par["one_ulp_sensitivity"], par["tolerance"]
    final_loss, final_acc, pairs, failed = par["final_loss"], par["final_accuracy"], par["pairs"], par["failed"]
    spreads = par["spreads"]
    N, D, C = data.dims
    what = (f"{data.name} N={N} D={D} C={C}, H={args.hidden}, {config.steps} steps, lr={config.lr:g}, "
            f"momentum={config.momentum:g}, weight decay={config.weight_decay:g}, "
            f"batch={config.batch_size or 'full'}, {args.dtype}, seed {args.seed}")
    print_table(f"train: {what}", ["framework", "final loss", "accuracy", "wall time (s)", "steps/s"],
                [[n, final_loss[n], f"{final_acc[n]:.3f}", f"{r.wall_time:.3f}", f"{config.steps / r.wall_time:.0f}"]
                 for n, r in results.items()])
    print(thread_settings("torch" in results))
    for name, factor in spreads.items():
        if factor > DISTURBED_SPREAD:
            print(f"WARNING: {name}: the step time varied {factor:.0f}x between steps (90th/10th percentile): "
                  "the machine was busy, so the wall times are unreliable")
    if pairs:
        print_table(f"largest relative difference after {config.steps} steps (tolerance {tol:.1e}; "
                    f"a 1-ulp change of theta_0 alone moves numpy's end point by {sensitivity:.1e})",
                    ["pair", "parameters", "loss (any step)", "status"],
                    [[k, dp, dl, "PASS" if k not in failed else "FAIL"] for k, (dp, dl) in pairs.items()])
    if failed:
        growth = sensitivity / np.finfo(data.x.dtype).eps  # how much a 1-ulp perturbation grew
        print(f"FAIL: the trajectories differ beyond {tol:.1e} ({', '.join(failed)}).  "
              + (f"These dynamics amplify rounding: a 1-ulp change of theta_0 alone grows {growth:.0f}-fold, to "
                 f"{sensitivity:.1e} at the end, and every step's rounding differences grow likewise; a smaller "
                 "--lr or --momentum, or a larger --batch-size, makes the run stable." if growth > 10 else
                 f"The run itself is stable (a 1-ulp change of theta_0 moves the end point by {sensitivity:.1e}): "
                 "look for a convention mismatch between the frameworks."))
    if args.json:
        write_json(args.json, {
            "config": {**vars(config), "dataset": data.name, "N": N, "D": D, "C": C, "hidden": args.hidden,
                       "dtype": args.dtype, "frameworks": list(results)},
            "tolerance": tol, "passed": not failed, "one_ulp_sensitivity": sensitivity,
            "max_param_diff": {k: dp for k, (dp, _) in pairs.items()},
            "max_loss_diff": {k: dl for k, (_, dl) in pairs.items()},
            "final_loss": final_loss, "final_accuracy": final_acc,
            "wall_time": {n: r.wall_time for n, r in results.items()},
            "loss": {n: r.loss for n, r in results.items()},
            "accuracy": {n: r.accuracy for n, r in results.items()},
        })
    if args.plot:
        training_figure(args.plot, data, results, final_acc, title=f"train: {what}", tolerance=tol)
    return 1 if failed else 0
