r"""The hidden activations of the family, each with its derivative written by hand.

Every activation ``f`` is applied element-wise to ``z1`` (N, H) in eq. (2), ``a1 = f(z1)``,
and eq. (2') multiplies the upstream gradient by ``f'(z1)``:

.. math::

    \tanh:\; a = \tanh z,\; f'(z) = \operatorname{sech}^2 z = \frac{4u}{(1+u)^2},\ u = e^{-2|z|}

    \operatorname{relu}:\; a = \max(z, 0),\; f'(z) = [z > 0]

    \operatorname{leaky\_relu}_\alpha:\; a = \begin{cases} z & z > 0 \\ \alpha z & z \le 0\end{cases},\;
        f'(z) = \begin{cases} 1 & z > 0 \\ \alpha & z \le 0\end{cases}

    \sigma:\; a = \frac{1}{1 + e^{-z}},\; f'(z) = \sigma(z)\,\sigma(-z)

**The kink.**  ReLU and leaky ReLU have no derivative at exactly ``z = 0``; we take the
derivative of the ``z <= 0`` branch there (0 for ReLU, α for leaky ReLU), which is what
``torch.relu``, ``jax.nn.relu`` and ``torch.nn.functional.leaky_relu`` do.  (``jax.nn.leaky_relu``
is written ``where(z >= 0, z, αz)`` and so takes slope 1 at 0: the JAX oracle builds leaky ReLU
with ``z > 0`` to use the same convention.)

**Cancellation.**  ``1 - a^2`` (tanh) and ``a(1 - a)`` (sigmoid) lose every digit once ``a``
rounds to 1: both derivatives are computed from ``z`` instead.  ``σ(z)σ(-z)`` has no
subtraction; each factor is evaluated with the exponential of a non-positive number
(``σ(z) = 1/(1 + e^{-z})`` for z >= 0, ``e^{z}/(1 + e^{z})`` for z < 0), so nothing overflows.

The "textbook" derivatives from the activation ``a1`` (used by the staged route, which writes
each step the way a learner does) are :func:`derivative_from_activation`.

Every function here also accepts complex128 ``z`` (complex-step differentiation): the branches
are chosen on the real part, and each branch is analytic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The hidden activations of the family, the seed network's first.
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "sigmoid")


def _positive(z: np.ndarray) -> np.ndarray:
    return np.real(z) > 0


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Eq. (2) for sigmoid: :math:`\sigma(z) = 1/(1 + e^{-z})` (shape and dtype of ``z``),
    overflow-free: the exponential always gets a non-positive argument."""
    pos = np.real(z) >= 0
    e = np.exp(np.where(pos, -z, z))  # e^{-|z|} in (0, 1]
    return np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def activate(name: str, z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """Eq. (2): ``a1 = f(z1)`` for activation ``name`` (of :data:`ACTIVATIONS`); same shape and
    dtype as ``z`` ((N, H) in the network)."""
    if name == "tanh":
        return np.tanh(z)  # (2) a1 = tanh z1
    if name == "relu":
        return np.where(_positive(z), z, 0.0 * z)  # (2) a1 = max(z1, 0)
    if name == "leaky_relu":
        return np.where(_positive(z), z, alpha * z)  # (2) a1 = z1 if z1 > 0 else alpha z1
    if name == "sigmoid":
        return sigmoid(z)  # (2) a1 = 1 / (1 + e^-z1)
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


def derivative(name: str, z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """Eq. (2'): ``f'(z1)`` from ``z1``, without cancellation (see the module docstring);
    same shape and dtype as ``z``."""
    if name == "tanh":
        u = np.exp(-2.0 * np.abs(z)) if not np.iscomplexobj(z) else np.exp(-2.0 * z * np.sign(np.real(z)))
        return 4.0 * u / (1.0 + u) ** 2  # (2') sech^2 z = 4u / (1 + u)^2, u = e^{-2|z|}
    if name == "relu":
        return _positive(z).astype(z.dtype)  # (2') [z > 0]; 0 at the kink z = 0
    if name == "leaky_relu":
        return np.where(_positive(z), 1.0, alpha).astype(z.dtype)  # (2') 1 if z > 0 else alpha
    if name == "sigmoid":
        return sigmoid(z) * sigmoid(-z)  # (2') sigma(z) sigma(-z), no 1 - sigma
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


def derivative_from_activation(name: str, a: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """Eq. (2') the textbook way, from the activation ``a1`` (the staged route): ``1 - a^2``,
    ``[a > 0]``, ``1 if a > 0 else alpha``, ``a (1 - a)``.  Exact in exact arithmetic; loses
    digits where ``a`` rounds to 1 (tanh and sigmoid on saturated units)."""
    if name == "tanh":
        return 1.0 - a**2
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, alpha).astype(a.dtype)
    if name == "sigmoid":
        return a * (1.0 - a)
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


def is_piecewise_linear(name: str) -> bool:
    """True for the activations with a kink at 0 (relu, leaky_relu): their second derivative is 0
    almost everywhere and finite differences are invalid within a step of the kink."""
    return name in ("relu", "leaky_relu")


__all__ = ["ACTIVATIONS", "activate", "derivative", "derivative_from_activation", "is_piecewise_linear", "sigmoid"]


def _check_alpha(alpha: Any) -> None:  # used by scratch.spec
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)) \
            or not np.isfinite(alpha) or not 0.0 <= float(alpha) < 1.0:
        raise ValueError(f"alpha (the leaky ReLU slope) must be a number in [0, 1), got {alpha!r}")
