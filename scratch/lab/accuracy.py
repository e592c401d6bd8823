r"""Accuracy beyond the frameworks: float32 gradients on confident predictions and saturated units.

Two textbook formulas cancel in float32:

- eq. (4') ``dz2 = (yhat - y)/N``: when the true class has a logit gap g ~ 20,
  :math:`1 - \hat y_c = T/(1+T)` with :math:`T \approx (C-1) e^{-g} \approx 2 \cdot 10^{-8}`,
  below float32's resolution near 1 (6e-8): ``yhat_c`` rounds to 1 and the true-class
  gradient to 0 (elementwise relative error exactly 1).
- eq. (2') ``tanh' = 1 - a1**2``: for :math:`|z_1| > 9` float32's ``tanh`` rounds to +-1
  (float64's beyond 18.7) and the derivative :math:`\operatorname{sech}^2 z_1 \approx 4 e^{-2|z_1|}`
  rounds to 0, or to 1.2e-7 when ``a1`` rounds to the float just below 1.

:func:`scratch.dz2_fused` and :func:`scratch.tanh_derivative` avoid both; this module
measures it.  :func:`scratch.cases.confident_case` builds problems with logit gaps in 17-23 on every row
(label = the argmax) and every hidden unit saturated (:math:`10.5 \le |z_1| \le 21`);
:func:`truth` computes the exact gradients of the float32-rounded inputs with mpmath at 60
digits (the textbook formulas: at 60 digits the cancellation costs at most ~20 of them, so
the truth is independent of scratch's cancellation-free algebra, and of float64, whose
``tanh`` itself rounds to 1 beyond |z1| = 18.7); :func:`errors` measures elementwise
relative errors against it.

The elementwise error of dz1 and its floor
------------------------------------------
``dz1 = (dz2 W2^T) * tanh'(z1)`` (3''), (2'): each entry contains a dot product of length C,
:math:`da_{1,nh} = \sum_c dz_{2,nc} W_{2,hc}`, whose terms cancel (rows of dz2 sum to 0).
Its condition number :math:`\kappa_{nh} = \sum_c |dz_{2,nc} W_{2,hc}| / |da_{1,nh}|` reaches
1.1e4 on these cases (seed 12 of 0-39), and dz2 itself carries the float32 rounding of z2
(~4e-6 relative, unavoidable for any float32 forward pass): the dz1 entry is then off by
about that times kappa even when the dot product is done *exactly* (seed 12: 1.86e-3 with
da1 in float64 from scratch's float32 dz2, 1.87e-3 all in float32).  That error belongs to
the data, not to the formula, so every gradient's elementwise error is measured against the
size of the terms it sums:

.. math::  e_{i} = \frac{|g_i - g_i^\ast|}{\max(|g_i^\ast|,\; s_i)}, \qquad
           s(dz_1)_{nh} = \tanh'(z_{1,nh}) \sum_c |dz^\ast_{2,nc} W_{2,hc}|     \;(E)

(and likewise ``s(dW1) = |x|^T s(dz1)``, ``s(dW2) = |a1|^T |dz2|``, the sums for the biases),
which equals the plain elementwise error wherever nothing cancels (kappa ~ 1), and is what
a float32 dot product can promise (Higham: error <= gamma_C sum |terms|).  The plain
elementwise error (``dz1_plain``) and the worst kappa are reported next to it.  dz2 needs no
floor: its entries are single terms (the argmax one, -T/(1+T)/N, a sum of positive terms).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from ..cases import CONFIDENT_SHAPE, confident_case
from ..compare import elementwise_relative_error
from ..network import Grads, Params, loss_and_grads, one_hot
from ..tolerances import ACCURACY_DZ1_GOAL, ACCURACY_DZ2_GOAL, FRAMEWORK_CANCELLATION_MIN_ERROR

#: (N, D, H, C) of the accuracy cases: D >= N and H >= N so that z1 and z2 can be chosen.
ACCURACY_SHAPE = CONFIDENT_SHAPE
#: mpmath working precision of the truth, in decimal digits.
TRUTH_DIGITS = 60


class Truth(NamedTuple):
    """Exact gradients (rounded once to float64) of one problem, and what the errors need.

    ``loss`` float; ``grads`` Grads of float64 arrays; ``scale`` Grads of the term sizes s
    of (E) (zero for dz2, whose entries are not sums); ``z1`` (N, H); ``gap`` (N,) the logit
    gap of each row's best class over its second; ``kappa`` (N, H) the condition number of
    (3'') per entry.
    """

    loss: float
    grads: Grads
    scale: Grads
    z1: np.ndarray
    gap: np.ndarray
    kappa: np.ndarray


def truth(params: Params, x: np.ndarray, y: np.ndarray, *, digits: int = TRUTH_DIGITS) -> Truth:
    """The exact loss and gradients of ``(params, x, y)`` (any float dtype; used exactly as given).

    Eqs. (1)-(7) and (7')-(1') in their textbook form, in mpmath at ``digits`` decimal
    digits: ``dz2 = (yhat s - y)/N``, ``tanh' = 1 - a1^2``.  The term sizes of (E) are the
    same backward pass on absolute values (a running error bound's shape):
    ``s(dz1) = tanh' * (|dz2| |W2|^T)``, ``s(dW1) = |x|^T s(dz1)``, ``s(db1) = sum_n s(dz1)``,
    ``s(dW2) = |a1|^T |dz2|``, ``s(db2) = sum_n |dz2|``.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets.

    Returns
    -------
    Truth
    """
    import mpmath

    N, C = x.shape[0], params.W2.shape[1]
    Y = one_hot(y, C, np.float64) if np.issubdtype(y.dtype, np.integer) else np.asarray(y, np.float64)
    with mpmath.workdps(digits):
        mp = np.vectorize(lambda v: mpmath.mpf(float(v)), otypes=[object])
        W1, b1, W2, b2 = (mp(a) for a in params)
        X, Ym = mp(x), mp(Y)
        z1 = X @ W1 + b1  # (1)
        a1 = np.vectorize(mpmath.tanh, otypes=[object])(z1)  # (2)
        z2 = a1 @ W2 + b2  # (3)
        e = np.vectorize(mpmath.exp, otypes=[object])(z2 - z2.max(axis=1)[:, None])
        yhat = e / e.sum(axis=1)[:, None]  # (4)
        log_yhat = np.vectorize(mpmath.log, otypes=[object])(yhat)  # (5)
        L = -np.sum(log_yhat * Ym) / N  # (6)-(7)
        dz2 = (yhat * Ym.sum(axis=1)[:, None] - Ym) / N  # (4')
        tanh_grad = 1 - a1 * a1  # (2') exact at 60 digits
        da1 = dz2 @ W2.T  # (3'')
        dz1 = da1 * tanh_grad  # (2')
        grads = Grads(dz2, a1.T @ dz2, dz2.sum(axis=0), dz1, X.T @ dz1, dz1.sum(axis=0))  # (3'), (1')
        f64 = lambda a: np.array(a, dtype=np.float64)  # noqa: E731
        g64 = Grads(*(f64(g) for g in grads))
        z2f, tg, a1f, da1f = np.sort(f64(z2), axis=1), f64(tanh_grad), f64(a1), f64(da1)
    terms = np.abs(g64.dz2) @ np.abs(f64(W2)).T  # sum_c |dz2_nc W2_hc|      (N, H)
    s_dz1 = tg * terms
    scale = Grads(np.zeros_like(g64.dz2), np.abs(a1f).T @ np.abs(g64.dz2),
                  np.abs(g64.dz2).sum(axis=0), s_dz1, np.abs(f64(X)).T @ s_dz1, s_dz1.sum(axis=0))
    kappa = terms / np.abs(da1f)  # sum_c |dz2_nc W2_hc| / |da1_nh|
    return Truth(float(L), g64, scale, f64(z1), z2f[:, -1] - z2f[:, -2], kappa)


#: The quantities :func:`errors` reports, in order: the loss, each gradient with the floor of
#: (E), and dz1 without it.
ERROR_KEYS = ("loss", *Grads._fields, "dz1_plain")


def errors(result: tuple[Any, Grads], t: Truth) -> dict[str, float]:
    """Elementwise relative errors of ``result = (loss, Grads)`` against the truth ``t``.

    Each gradient by eq. (E), ``|a - b| / max(|b|, s)`` with the term size s of
    :class:`Truth` (s = 0 for dz2: plain ``|a - b| / |b|``); ``loss``: plain;
    ``dz1_plain``: dz1 without the floor.  A non-finite value anywhere gives inf.
    """
    L, g = result
    if not all(np.all(np.isfinite(a)) for a in (L, *g)):
        return {k: float("inf") for k in ERROR_KEYS}
    out = {"loss": elementwise_relative_error(L, t.loss)}
    for q in Grads._fields:
        out[q] = elementwise_relative_error(getattr(g, q), getattr(t.grads, q), floor=getattr(t.scale, q))
    out["dz1_plain"] = elementwise_relative_error(g.dz1, t.grads.dz1)
    return out


def implementations(frameworks: dict[str, Callable[..., tuple[Any, Grads]]] | None = None) -> dict[str, Callable[..., tuple[Any, Grads]]]:
    """name -> ``loss_and_grads``: scratch's two routes and the autograd oracles (run in the
    input dtype, so float32 inputs give the frameworks' float32 gradients).

    ``frameworks`` (name -> ``loss_and_grads``) replaces the oracles; default: torch and JAX,
    which must be installed."""
    import oracles

    if frameworks is None:
        frameworks = {"torch": oracles.get("torch"), "jax": oracles.get("jax")}
    return {
        "scratch (fused)": loss_and_grads,
        "scratch (staged)": lambda p, x, y: loss_and_grads(p, x, y, route="staged"),
        **frameworks,
    }


def measure(seeds: list[int], dtypes: tuple[Any, ...] = (np.float32, np.float64),
            frameworks: dict[str, Callable[..., tuple[Any, Grads]]] | None = None,
            progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Run every implementation (see :func:`implementations`, which ``frameworks`` is passed
    to) on :func:`confident_case` for each seed and dtype; ``progress()`` after each seed.

    Returns
    -------
    list of dict
        One per (implementation, dtype): ``implementation``, ``dtype``, the worst error over
        the seeds for each of :data:`ERROR_KEYS`, ``per_seed`` (seed -> errors), and the
        cases' ``min_gap``, ``min_abs_z1``, ``max_kappa``.
    """
    impls = implementations(frameworks)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    stats = {"min_gap": np.inf, "min_abs_z1": np.inf, "max_kappa": 0.0}  # of the cases: the same for every row
    for seed in seeds:
        base = confident_case(seed, dtype=np.float32)
        t = truth(*base[:3])
        stats["min_gap"] = min(stats["min_gap"], float(t.gap.min()))
        stats["min_abs_z1"] = min(stats["min_abs_z1"], float(np.abs(t.z1).min()))
        stats["max_kappa"] = max(stats["max_kappa"], float(t.kappa.max()))
        for dtype in dtypes:
            case = base.astype(dtype)  # float32 -> float64 is exact: the same problem
            for name, f in impls.items():
                row = rows.setdefault((name, np.dtype(dtype).name), {
                    "implementation": name, "dtype": np.dtype(dtype).name, "per_seed": {}, **{k: 0.0 for k in ERROR_KEYS}})
                e = errors(f(case.params, case.x, case.y), t)
                row["per_seed"][seed] = e
                for k in ERROR_KEYS:
                    row[k] = max(row[k], e[k])
        if progress is not None:
            progress()
    return [{**row, **stats} for row in rows.values()]


#: Columns of the table: key in a row of scratch.lab.accuracy.measure -> header.
COLUMNS = {"loss": "loss", "dz2": "dz2", "dW2": "dW2", "dz1": "dz1 (E)", "dz1_plain": "dz1 plain", "dW1": "dW1 (E)"}


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """The failed claims (empty when the goal holds and the frameworks are measurably worse)."""
    bad = []
    for r in rows:
        if r["dtype"] != "float32":
            continue
        if r["implementation"] == "scratch (fused)":
            for q, goal in (("dz2", ACCURACY_DZ2_GOAL), ("dz1", ACCURACY_DZ1_GOAL)):
                if not r[q] <= goal:
                    bad.append(f"scratch float32 {q}: {r[q]:.2e} > goal {goal:.0e}")
        elif r["implementation"] in ("torch", "jax"):
            for q in ("loss", "dz2", "dz1"):
                if not r[q] >= FRAMEWORK_CANCELLATION_MIN_ERROR:
                    bad.append(f"{r['implementation']} float32 {q}: {r[q]:.2e}, no longer measurably worse")
    return bad
