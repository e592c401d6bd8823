"""``python -m scratch train``: the same SGD run in NumPy, PyTorch and JAX, compared step by step."""

from __future__ import annotations

import argparse
import importlib
import itertools
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from ..cases import DTYPES
from ..compare import elementwise_relative_error, relative_error
from ..data import DATASETS, Dataset, make_dataset
from ..network import Params, init_params, loss
from ..plots import require_matplotlib, training_figure
from ..report import print_table, write_json
from ..tolerances import train_rtol
from ..train import SGDConfig, TrainResult, accuracy, batch_schedule, train
from . import UsageError

#: framework -> module holding its ``train`` (same contract as :func:`scratch.train.train`).
TRAINERS = {"numpy": "scratch.train", "torch": "oracles.torch_train", "jax": "oracles.jax_train"}


def get_trainer(name: str) -> Callable[..., TrainResult]:
    """The ``train`` function of framework ``name``; a missing framework is a :class:`UsageError` naming the extra."""
    import oracles

    if name not in TRAINERS:
        raise UsageError(f"unknown framework {name!r}; expected some of {', '.join(TRAINERS)}")
    try:
        return importlib.import_module(TRAINERS[name]).train
    except oracles.MissingFramework as exc:
        raise UsageError(str(exc)) from exc


def parse_frameworks(text: str) -> list[str]:
    """``numpy,torch,jax`` -> a list of distinct known names (argparse type)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in TRAINERS]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"unknown framework(s) {', '.join(map(repr, bad)) or '(none given)'}: expected a comma-separated "
            f"list of {', '.join(TRAINERS)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"framework listed twice in {text!r}")
    return names


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
    p.add_argument("--dim", type=int, default=None, help="input dimension D for blobs (default 2)")
    p.add_argument("--hidden", type=int, default=16, metavar="H", help="hidden units (default 16)")
    p.add_argument("--steps", type=int, default=200, metavar="K", help="SGD updates (default 200)")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum in [0, 1) (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=1e-3, help="L2 weight decay (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: full batch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the initial weights and the shuffling")
    p.add_argument("--frameworks", type=parse_frameworks, default=list(TRAINERS), metavar="LIST",
                   help="comma-separated, from numpy,torch,jax (default: all three)")
    p.add_argument("--dtype", choices=list(DTYPES), default="float64", help="default: float64")
    p.add_argument("--plot", metavar="FILE.png", help="write the figure (loss curves and decision regions)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@contextmanager
def progress(desc: str, total: int, enabled: bool) -> Iterator[Callable | None]:
    """A tqdm bar on stderr as a training callback, or None (disabled, or tqdm not installed)."""
    if not enabled:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    with tqdm(total=total, desc=desc, file=sys.stderr, unit="step", leave=False) as bar:

        def callback(step: Any) -> None:
            bar.set_postfix(loss=f"{step.loss:.4g}", acc=f"{step.accuracy:.3f}", refresh=False)
            bar.update(1)

        yield callback


def max_param_diff(a: Params, b: Params) -> float:
    """The largest relative difference (:func:`scratch.compare.relative_error`) over the four arrays."""
    return max(relative_error(p, q) for p, q in zip(a, b))


def one_ulp_up(params: Params) -> Params:
    """theta_0 with every entry of W1 moved up by one ulp: the smallest perturbation there is."""
    return params._replace(W1=np.nextafter(params.W1, np.inf))


def build(args: argparse.Namespace) -> tuple[Dataset, Params, SGDConfig]:
    """The data set, theta_0 and the configuration from the options; bad values are a :class:`UsageError`."""
    if args.hidden < 1:
        raise UsageError(f"--hidden must be >= 1, got {args.hidden}")
    if args.dim is not None and args.dataset != "blobs":
        raise UsageError(f"--dim applies to --dataset blobs only (got --dataset {args.dataset})")
    if args.dim is not None and args.dim < 1:
        raise UsageError(f"--dim must be >= 1, got {args.dim}")
    try:
        config = SGDConfig(lr=args.lr, steps=args.steps, momentum=args.momentum, weight_decay=args.weight_decay,
                           batch_size=args.batch_size, seed=args.seed)
    except ValueError as exc:  # the message starts with the field's name: name the option instead
        field, rest = str(exc).split(" ", 1)
        raise UsageError(f"--{field.replace('_', '-')} {rest}") from exc
    extra = {"dim": args.dim} if args.dim is not None else {}
    data = make_dataset(args.dataset, seed=args.seed, dtype=DTYPES[args.dtype], **extra)
    _, D, C = data.dims
    params = init_params(D, args.hidden, C, rng=np.random.default_rng([args.seed, 1]), dtype=DTYPES[args.dtype])
    return data, params, config


def parity(data: Dataset, params: Params, config: SGDConfig, frameworks: list[str], *, show: bool = False) -> dict[str, Any]:
    """Train with every framework from the same theta_0 and batch order, and compare the runs.

    Parameters
    ----------
    data : the data set, ``x`` (N, D), ``y`` (N,).
    params : theta_0 (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)).
    config : the SGD run.
    frameworks : names of :data:`TRAINERS`.
    show : a tqdm bar per framework.

    Returns
    -------
    dict with ``results`` (framework -> TrainResult), ``one_ulp_sensitivity`` (how far a 1-ulp
    change of theta_0 moves NumPy's end point), ``tolerance``, ``final_loss`` and
    ``final_accuracy`` (framework -> float), ``pairs`` ("a-b" -> (largest relative parameter
    difference, largest elementwise relative loss difference)) and ``failed`` (the pairs beyond
    the tolerance).
    """
    trainers = {name: get_trainer(name) for name in frameworks}
    batches = batch_schedule(data.x.shape[0], config.batch_size, config.steps, config.seed)
    results: dict[str, TrainResult] = {}
    for name, fn in trainers.items():
        with progress(name, config.steps, show) as cb:
            results[name] = fn(params, data.x, data.y, config, batches=batches, callback=cb)
    # The sensitivity of this run: the NumPy run again from theta_0 moved by one ulp.  Where it is
    # large the dynamics amplify rounding, and no two implementations can agree.
    base = results["numpy"] if "numpy" in results else train(params, data.x, data.y, config, batches=batches)
    nudged = train(one_ulp_up(params), data.x, data.y, config, batches=batches)
    sensitivity = max_param_diff(base.params, nudged.params)
    tol = train_rtol(data.x.dtype, config.steps)
    final_loss = {n: float(loss(r.params, data.x, data.y)) for n, r in results.items()}
    final_acc = {n: accuracy(r.params, data.x, data.y) for n, r in results.items()}
    pairs = {f"{a}-{b}": (max_param_diff(results[a].params, results[b].params),
                          elementwise_relative_error(results[a].loss, results[b].loss))
             for a, b in itertools.combinations(frameworks, 2)}
    failed = [k for k, (dp, dl) in pairs.items() if not (dp <= tol and dl <= tol)]
    return {"results": results, "one_ulp_sensitivity": sensitivity, "tolerance": tol, "final_loss": final_loss,
            "final_accuracy": final_acc, "pairs": pairs, "failed": failed}


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch train``; return the exit status (0 ok, 1 a check failed)."""
    data, params, config = build(args)
    if args.plot:
        require_matplotlib(UsageError)
    par = parity(data, params, config, args.frameworks, show=sys.stderr.isatty() and not args.quiet)
    results, sensitivity, tol = par["results"], par["one_ulp_sensitivity"], par["tolerance"]
    final_loss, final_acc, pairs, failed = par["final_loss"], par["final_accuracy"], par["pairs"], par["failed"]
    N, D, C = data.dims
    what = (f"{data.name} N={N} D={D} C={C}, H={args.hidden}, {config.steps} steps, lr={config.lr:g}, "
            f"momentum={config.momentum:g}, weight decay={config.weight_decay:g}, "
            f"batch={config.batch_size or 'full'}, {args.dtype}, seed {args.seed}")
    print_table(f"train: {what}", ["framework", "final loss", "accuracy", "wall time (s)", "steps/s"],
                [[n, final_loss[n], f"{final_acc[n]:.3f}", f"{r.wall_time:.3f}", f"{config.steps / r.wall_time:.0f}"]
                 for n, r in results.items()])
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
                       "dtype": args.dtype, "frameworks": args.frameworks},
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
        print(f"wrote {args.plot}")
    return 1 if failed else 0
