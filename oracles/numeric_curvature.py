r"""Numerical curvature oracle: the complex step applied to the hand-derived gradient.

The gradient of (1)-(7) written by hand (:func:`scratch.loss_and_grads`'s formulas) is an
analytic function of the parameters, so the complex step (S) of :mod:`oracles.numeric` applies
to it as a whole, along a direction v:

.. math:: H v = \frac{\operatorname{Im} \nabla L(\theta + \mathrm{i} h v)}{h} + O(h^2)   \;(S_H)

with h = 1e-20: no subtraction, so no round-off term, and the truncation error h^2 (...) is
far below float64's resolution.  Every piece must be analytic in complex arithmetic: the
forward pass (max-shift on the real part, see :mod:`scratch.softmax`), the closed-form dz2
(4') of :func:`scratch.dz2_fused`, and tanh' as ``1 / cosh(z1)**2`` (``tanh_derivative``'s
``exp(-2|z|)`` uses ``abs``, which is not analytic).  The result is independent of
:mod:`scratch.curvature`: no second derivative is written anywhere here.
"""

from __future__ import annotations

import numpy as np

from oracles.numeric import COMPLEX_STEP, _require_float64
from scratch.checks import check_inputs
from scratch.curvature import check_direction
from scratch.network import Grads, Params, _forward, backward, dz2_fused


def analytic_grads(params: Params, x: np.ndarray, y: np.ndarray, is_labels: bool) -> Grads:
    """The hand-derived dz2, dW2, db2, dz1, dW1, db1 (eqs. (7')-(1')), evaluated for complex128
    ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)); ``x`` (N, D) real, ``y`` as usual."""
    fwd = _forward(params, x)  # (1)-(5), analytic
    dz2 = dz2_fused(fwd, y, is_labels)  # (4') closed form, analytic
    return backward(params, x, fwd, dz2, tanh_grad=1.0 / np.cosh(fwd.z1) ** 2)  # (3')-(1'), sech^2 analytic


def r_grads(params: Params, x: np.ndarray, y: np.ndarray, v: Params) -> Grads:
    """R{dz2}, R{dW2}, R{db2}, R{dz1}, R{dW1}, R{db1} along ``v`` by (S_H); float64 only.

    ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), ``x`` (N, D), ``y`` labels (N,) or
    targets (N, C), ``v`` shaped like ``params``.  Grads of float64 arrays.
    """
    *_, dtype, is_labels = check_inputs(params, x, y)
    v = check_direction(params, v)
    _require_float64(dtype, "params")
    h = COMPLEX_STEP
    shifted = Params(*(p + 1j * h * d for p, d in zip(params, v)))  # theta + i h v, complex128
    with np.errstate(over="ignore"):  # cosh overflows to inf for |z1| > 710: sech^2 = 0 there, as it should
        g = analytic_grads(shifted, x, y, is_labels)
    return Grads(*(np.imag(a) / h for a in g))  # (S_H)
