r"""Stable softmax, log-softmax and log-sum-exp, and the softmax Jacobian.

For one row of logits :math:`z \in \mathbb{R}^C` with largest entry :math:`z_m`,

.. math::

    e_k = e^{z_k - z_m} \le 1, \qquad T = \sum_{k \ne m} e_k, \qquad
    \hat y_k = \frac{e_k}{1 + T}, \qquad \log \hat y_k = (z_k - z_m) - \operatorname{log1p}(T).

Shifting by the maximum makes every exponent non-positive (no overflow, eq. (4) is exact
under the shift: softmax is shift invariant).  Keeping :math:`T` (the mass of the other
classes) *separately* instead of :math:`S = 1 + T` means that for a confident row
(:math:`T \ll \epsilon`) both :math:`\log \hat y_m = -\operatorname{log1p}(T)` and
:math:`1 - \hat y_m = T / (1 + T)` are computed without cancellation.

Complex logits (complex-step differentiation) are accepted: the argmax and the shift use
the real part, which is what the max-shift is for; the function stays analytic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SoftmaxParts(NamedTuple):
    """The pieces of a max-shifted softmax, for rows of logits ``z`` of shape (N, C).

    Attributes
    ----------
    argmax : (N,) int
        Column of the largest (real part of the) logit in each row.
    shifted : (N, C)
        ``z - z[n, argmax]``: every real part <= 0.
    others : (N,)
        ``T = sum_{k != argmax} exp(shifted_k)``, the mass of the non-maximal classes.
    """

    argmax: np.ndarray
    shifted: np.ndarray
    others: np.ndarray


def softmax_parts(z: np.ndarray) -> SoftmaxParts:
    """Max-shift the logits ``z`` (N, C) and sum the non-maximal exponentials.

    Returns :class:`SoftmaxParts`; costs one ``exp`` over (N, C).
    """
    rows = np.arange(z.shape[0])
    m = np.argmax(z.real, axis=1)
    shifted = z - z[rows, m][:, None]
    e = np.exp(shifted)
    e[rows, m] = 0.0  # exclude the maximal class: exp(0) = 1 is added analytically
    return SoftmaxParts(m, shifted, e.sum(axis=1))


def softmax(z: np.ndarray) -> np.ndarray:
    r"""Softmax over the last axis, eq. (4): :math:`\hat y_{nk} = e^{z_{nk}} / \sum_j e^{z_{nj}}`.

    Parameters
    ----------
    z : (N, C) array
        Logits.

    Returns
    -------
    (N, C) array of the same dtype; rows sum to 1, every entry in [0, 1].
    """
    parts = softmax_parts(z)
    return np.exp(parts.shifted) / (1.0 + parts.others)[:, None]


def logsumexp(z: np.ndarray) -> np.ndarray:
    r"""Row-wise :math:`\log \sum_k e^{z_k} = z_m + \operatorname{log1p}(T)`, shape (N,)."""
    parts = softmax_parts(z)
    return z[np.arange(z.shape[0]), parts.argmax] + np.log1p(parts.others)


def log_softmax(z: np.ndarray) -> np.ndarray:
    r"""Eq. (5) done stably: :math:`\log \hat y = (z - z_m) - \operatorname{log1p}(T)`, shape (N, C).

    Never takes the log of a rounded probability, so a confident mistake gives a large
    finite loss instead of ``-inf``.
    """
    parts = softmax_parts(z)
    return parts.shifted - np.log1p(parts.others)[:, None]


def softmax_jacobian(yhat: np.ndarray) -> np.ndarray:
    r"""Per-sample softmax Jacobians :math:`J_n = \operatorname{diag}(\hat y_n) - \hat y_n \hat y_n^\top`.

    :math:`(J_n)_{ij} = \partial \hat y_{ni} / \partial z_{nj} = \hat y_{ni}(\delta_{ij} - \hat y_{nj})`.
    Symmetric, and every row sums to 0 (because :math:`\sum_i \hat y_i = 1`).

    Parameters
    ----------
    yhat : (N, C) array of probabilities.

    Returns
    -------
    (N, C, C) array.
    """
    J = -yhat[:, :, None] * yhat[:, None, :]
    idx = np.arange(yhat.shape[1])
    J[:, idx, idx] += yhat
    return J


def softmax_vjp(yhat: np.ndarray, g: np.ndarray) -> np.ndarray:
    r"""Vector-Jacobian product through the softmax without forming J: :math:`J_n^\top g_n`.

    :math:`(J^\top g)_j = \sum_i g_i \hat y_i(\delta_{ij} - \hat y_j) = \hat y_j (g_j - \hat y \cdot g)`.

    Parameters
    ----------
    yhat : (N, C) probabilities.
    g : (N, C) upstream gradient dL/dyhat.

    Returns
    -------
    (N, C) gradient dL/dz.
    """
    return yhat * (g - np.sum(yhat * g, axis=1, keepdims=True))
