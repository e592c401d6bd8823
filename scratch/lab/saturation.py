r"""The saturation sweep of ``python -m scratch saturation`` and of the page: vanishing gradients
from saturated tanh units (the picture: :func:`scratch.lab.plots.saturation_figure`).

Sweep the scale ``s`` of the initial first-layer weights, ``W1 ~ N(0, s^2 / D)`` (s = 1 is
LeCun's scaling), on inputs ``x ~ N(0, I_D)``.  Then each pre-activation is roughly
``z1 ~ N(0, s^2)`` and, once ``s`` is large, most units sit on tanh's flat tails where
``tanh'(z1) = 1 - a1^2`` is ~0.  By (2') ``dz1 = da1 * (1 - a1^2)`` and by (1')
``dW1 = x^T dz1``: the first layer's gradient vanishes although nothing is wrong with the
code.  A unit counts as saturated when ``|a1| > threshold`` (0.99: ``tanh' < 0.02``); the
prediction for the fraction is ``P(|z| > atanh(threshold)) = erfc(atanh(threshold) / (s sqrt 2))``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..network import Params, forward, init_params, loss_and_grads

#: The swept scales: 1e-2 .. 1e2, four per decade.
SCALES = tuple(float(s) for s in np.logspace(-2, 2, 17))


def saturation_sweep(
    scales: Any = SCALES, *, N: int = 512, D: int = 32, H: int = 128, C: int = 10, seed: int = 0,
    threshold: float = 0.99,
) -> dict[str, Any]:
    """Saturated fraction of tanh units and gradient norms at initialisation, per W1 scale.

    Parameters
    ----------
    scales : sequence of S floats > 0
        Multipliers of the LeCun standard deviation 1/sqrt(D) of W1.
    N, D, H, C : int
        Problem size: ``x`` (N, D) ~ N(0, I), labels (N,) uniform in [0, C).
    seed : int
    threshold : float in (0, 1)
        |a1| above it counts as saturated.

    Returns
    -------
    dict with ``scale``, ``saturated`` (measured), ``predicted``, ``dW1_norm``, ``dW1_relative``
    (``||dW1|| / ||W1||``), ``dW2_norm`` (each (S,)), ``threshold``, ``shape`` (N, D, H, C), and ``a1`` {scale: (N, H) activations}.
    """
    scales = [float(s) for s in scales]
    if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
        raise ValueError(f"scales must be finite numbers > 0, got {scales!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))
    y = rng.integers(0, C, size=N)
    base = init_params(D, H, C, rng=rng)
    cut = math.atanh(threshold)  # |a1| > threshold  <=>  |z1| > atanh(threshold)
    out: dict[str, Any] = {"scale": scales, "saturated": [], "predicted": [], "dW1_norm": [], "dW1_relative": [],
                           "dW2_norm": [],
                           "threshold": threshold, "shape": (N, D, H, C), "a1": {}}
    for s in scales:
        p = Params(base.W1 * s, base.b1, base.W2, base.b2)
        a1 = forward(p, x).a1  # (2) a1 = tanh(x W1 + b1)
        _, g = loss_and_grads(p, x, y)
        out["saturated"].append(float(np.mean(np.abs(a1) > threshold)))
        out["predicted"].append(math.erfc(cut / (s * math.sqrt(2.0))))  # z1 ~ N(0, s^2)
        out["dW1_norm"].append(float(np.linalg.norm(g.dW1)))
        out["dW1_relative"].append(out["dW1_norm"][-1] / float(np.linalg.norm(p.W1)))  # the step's size per unit weight
        out["dW2_norm"].append(float(np.linalg.norm(g.dW2)))
        out["a1"][s] = a1
    return out
