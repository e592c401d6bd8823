"""Training parity, for ``python -m scratch train`` and the page: the same SGD run in NumPy, PyTorch
and JAX from the same theta_0 and mini-batch order, the trajectories compared (:func:`parity`)."""

from __future__ import annotations

import importlib
import itertools
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from .bench import spread
from ..compare import elementwise_relative_error, relative_error
from .data import Dataset
from ..network import Params, loss
from .errors import UsageError
from .progress import progress_bar
from ..tolerances import train_rtol
from .train import SGDConfig, TrainResult, accuracy, batch_schedule, train

#: framework -> module holding its ``train`` (same contract as :func:`scratch.lab.train.train`).
TRAINERS = {"numpy": "scratch.lab.train", "torch": "oracles.torch_train", "jax": "oracles.jax_train"}


def get_trainer(name: str) -> Callable[..., TrainResult]:
    """The ``train`` function of framework ``name``.

    Raises
    ------
    UsageError
        ``name`` is not one of :data:`TRAINERS`.
    oracles.MissingFramework
        (an ``ImportError``) the framework is not installed; the message names the extra.
    """
    if name not in TRAINERS:
        raise UsageError(f"unknown framework {name!r}; expected some of {', '.join(TRAINERS)}")
    return importlib.import_module(TRAINERS[name]).train


@contextmanager
def progress(desc: str, total: int, enabled: bool) -> Iterator[Callable]:
    """A training callback that times every step (``callback.times``, seconds) and, when
    ``enabled`` and tqdm is installed, drives a progress bar on stderr."""
    times: list[float] = []
    with progress_bar(desc, total, enabled, unit="step") as bar:
        last = [time.perf_counter()]

        def callback(step: Any) -> None:
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now
            if bar is not None:
                bar.set_postfix(loss=f"{step.loss:.4g}", acc=f"{step.accuracy:.3f}", refresh=False)
                bar.update(1)

        callback.times = times  # type: ignore[attr-defined]
        yield callback


def max_param_diff(a: Params, b: Params) -> float:
    """The largest relative difference (:func:`scratch.compare.relative_error`) over the four arrays."""
    return max(relative_error(p, q) for p, q in zip(a, b))


def one_ulp_up(params: Params) -> Params:
    """theta_0 with every entry of W1 moved up by one ulp: the smallest perturbation there is."""
    return params._replace(W1=np.nextafter(params.W1, np.inf))


def parity(data: Dataset, params: Params, config: SGDConfig, frameworks: list[str], *, show: bool = False) -> dict[str, Any]:
    """Train with every framework from the same theta_0 and batch order, and compare the runs.

    Parameters
    ----------
    data : the data set, ``x`` (N, D), ``y`` (N,).
    params : theta_0 (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)).
    config : the SGD run.
    frameworks : names of :data:`TRAINERS` (installed).
    show : a tqdm bar per framework.

    Returns
    -------
    dict with ``results`` (framework -> TrainResult), ``one_ulp_sensitivity`` (how far a 1-ulp
    change of theta_0 moves NumPy's end point), ``tolerance``, ``final_loss`` and
    ``final_accuracy`` (framework -> float), ``pairs`` ("a-b" -> (largest relative parameter
    difference, largest elementwise relative loss difference)), ``failed`` (the pairs beyond
    the tolerance) and ``spreads`` (framework -> 90th/10th percentile of its step times).
    """
    trainers = {name: get_trainer(name) for name in frameworks}
    batches = batch_schedule(data.x.shape[0], config.batch_size, config.steps, config.seed)
    results: dict[str, TrainResult] = {}
    spreads: dict[str, float] = {}
    for name, fn in trainers.items():
        with progress(name, config.steps, show) as cb:
            results[name] = fn(params, data.x, data.y, config, batches=batches, callback=cb)
        if len(cb.times) > 5:
            spreads[name] = spread(cb.times[1:])  # the first step: JAX compiles, caches warm up
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
             for a, b in itertools.combinations(results, 2)}
    failed = [k for k, (dp, dl) in pairs.items() if not (dp <= tol and dl <= tol)]
    return {"results": results, "one_ulp_sensitivity": sensitivity, "tolerance": tol, "final_loss": final_loss,
            "final_accuracy": final_acc, "pairs": pairs, "failed": failed, "spreads": spreads}
