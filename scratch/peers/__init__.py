"""Third-party implementations of the same network, run as *clients* of the conformance kit.

Unlike :mod:`oracles` (references this project trusts), a peer is someone else's code that the
kit checks, conventions, clipping and all.  Each peer is a function
``fn(params, x, y) -> (loss, {"dW1", "db1", "dW2", "db2", "dz1", "dz2": arrays})``:

- ``params``: :class:`scratch.Params` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,));
- ``x``: (N, D) of the parameters' dtype;
- ``y``: (N,) int labels in [0, C) or (N, C) float targets.

The loss is a NumPy scalar and every array is exactly what the peer computed (no cast: a
peer that changed the dtype would be reported by the kit, not hidden here).

Peers
-----
``sklearn``
    scikit-learn's ``MLPClassifier`` (``activation="tanh"``, ``alpha=0``): its own
    hand-written ``_forward_pass`` / ``_backprop`` on our parameters (see
    :mod:`scratch.peers.sklearn_mlp`).  C >= 3 is exactly this network.  For C = 2 the adapter
    sets ``out_activation_ = "softmax"`` with 2 outputs by hand (``fit`` would choose one
    logistic output; sklearn's softmax, ``log_loss`` and ``_backprop`` handle 2 columns
    unchanged).  Limits: C >= 2 (sklearn's ``LabelBinarizer`` turns a single class into a column
    of zeros); targets whose rows sum to 1 (its output delta is ``yhat - y``, the gradient only
    when ``sum_c y_nc = 1``); its ``log_loss`` clips probabilities to ``[eps, 1 - eps]``, so the
    loss differs wherever a probability carrying target weight leaves that range.
``sklearn-logistic``
    The same estimator in the configuration ``fit`` really uses for 2 classes: one logistic
    output ``sigmoid(a1 w + b)`` with ``w = W2[:, 1] - W2[:, 0]``, ``b = b2[1] - b2[0]`` (softmax
    over 2 classes is exactly that sigmoid), ``binary_log_loss``; the gradients for (W2, b2)
    and dz2 are ``[-g, g]`` of sklearn's ``g`` for (w, b) and its delta.  Limits: C = 2 only;
    targets on the simplex (``binary_log_loss`` uses ``1 - y_1`` for ``y_0``); the same clipping.
``autograd``
    HIPS ``autograd``: the network written in ``autograd.numpy`` with a max-shifted
    log-softmax, every gradient (dz1 and dz2 through zero taps) from ``value_and_grad``; no
    derivative by hand (see :mod:`scratch.peers.hips_autograd`).  Limits: none within the
    sweep (every dtype, target kind and C >= 1); the input dtype is kept (asserted).

:data:`PEERS_SUPPORT` declares each peer's limits as data, so the kit checks each on exactly
what it supports (:func:`supports`, :func:`sweep_options`).  :func:`get` returns a peer's function; a missing library
raises :class:`oracles.MissingFramework` naming ``pip install 'scratch-backprop[peers]'``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

from oracles import MissingFramework  # noqa: F401  (re-exported: what get() raises)

#: name -> (module or "module:function", the pip extra that provides its library).  A bare
#: module means its ``loss_and_grads``.
REGISTRY: dict[str, tuple[str, str | None]] = {
    "sklearn": ("scratch.peers.sklearn_mlp", "peers"),
    "sklearn-logistic": ("scratch.peers.sklearn_mlp:loss_and_grads_logistic", "peers"),
    "autograd": ("scratch.peers.hips_autograd", "peers"),
}

_ALL_QUANTITIES = ("loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1")

#: What each peer supports: ``dtypes`` and ``targets`` (names as in :mod:`scratch.cases`),
#: ``min_C`` / ``max_C`` (None: no upper bound) on the number of classes, and the
#: ``quantities`` it returns.  Outside this a peer computes something else on purpose (its
#: documented convention), which tests/test_peers.py asserts case by case.
PEERS_SUPPORT: dict[str, dict[str, Any]] = {
    "sklearn": {
        "dtypes": ("float64", "float32"),
        "targets": ("labels", "onehot", "soft"),  # not "unnormalized": delta = yhat - y
        "min_C": 2,
        "max_C": None,
        "quantities": _ALL_QUANTITIES,  # dz1, dz2: its deltas / N
    },
    "sklearn-logistic": {
        "dtypes": ("float64", "float32"),
        "targets": ("labels", "onehot", "soft"),  # not "unnormalized": y_0 taken as 1 - y_1
        "min_C": 2,
        "max_C": 2,
        "quantities": _ALL_QUANTITIES,
    },
    "autograd": {
        "dtypes": ("float64", "float32"),
        "targets": ("labels", "onehot", "soft", "unnormalized"),
        "min_C": 1,
        "max_C": None,
        "quantities": _ALL_QUANTITIES,
    },
}


def supports(name: str, dtype: Any, target: str, shape: tuple[int, int, int, int]) -> bool:
    """Whether peer ``name`` supports a case of ``dtype`` (name or dtype), target kind
    ``target`` and ``shape`` (N, D, H, C), by :data:`PEERS_SUPPORT`."""
    s = PEERS_SUPPORT[_known(name)]
    C = int(shape[3])
    return (
        np.dtype(dtype).name in s["dtypes"]
        and target in s["targets"]
        and C >= s["min_C"]
        and (s["max_C"] is None or C <= s["max_C"])
    )


def sweep_options(name: str, shapes: Any = None) -> dict[str, list]:
    """The part of a sweep peer ``name`` supports, as keyword arguments of
    :func:`scratch.testing.check_implementation` / :func:`scratch.cases.sweep`.

    Parameters
    ----------
    name : a peer of :data:`REGISTRY`
    shapes : shapes to choose from (names of :data:`scratch.cases.SHAPES`, "confident", or
        dims); default every named shape and "confident".

    Returns
    -------
    dict
        ``dtypes`` and ``targets`` (names) and ``shapes`` (those whose C the peer supports).
    """
    from scratch.cases import SHAPES, shape_label

    s = PEERS_SUPPORT[_known(name)]
    shapes = [*SHAPES, "confident"] if shapes is None else list(shapes)
    keep = [sh for sh in shapes if s["min_C"] <= shape_label(sh)[1][3] <= (s["max_C"] or np.inf)]
    return {"dtypes": list(s["dtypes"]), "targets": list(s["targets"]), "shapes": keep}


def _known(name: str) -> str:
    if name not in REGISTRY:
        raise ValueError(f"unknown peer {name!r}; expected one of {sorted(REGISTRY)}")
    return name


def get(name: str) -> Callable:
    """Return peer ``name``'s function ``fn(params, x, y) -> (loss, dict of gradients)``.

    Raises
    ------
    ValueError
        ``name`` is not in :data:`REGISTRY`.
    oracles.MissingFramework
        Its library is not installed (the message names ``pip install 'scratch-backprop[peers]'``).
    """
    module, _ = REGISTRY[_known(name)]
    module, _, attr = module.partition(":")
    return getattr(importlib.import_module(module), attr or "loss_and_grads")
