"""Implementations written the way a user would write them, for the conformance kit's tests.

``textbook`` is a correct, independent NumPy implementation (no code shared with scratch);
the others are the same with one deliberate change each.
"""

from __future__ import annotations

import numpy as np


def textbook(params, x, y):
    """Correct: (loss, {"dW1", "db1", "dW2", "db2"}); dz1 and dz2 not returned."""
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    a1 = np.tanh(x @ W1 + b1)
    z2 = a1 @ W2 + b2
    z = z2 - z2.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(z - lse)
    Y = np.eye(C, dtype=x.dtype)[y] if y.ndim == 1 else y
    loss = -(Y * (z - lse)).sum() / N
    dz2 = (p * Y.sum(axis=1, keepdims=True) - Y) / N
    dz1 = dz2 @ W2.T * (1 - a1**2)
    return x.dtype.type(loss), {"dW1": x.T @ dz1, "db1": dz1.sum(0), "dW2": a1.T @ dz2, "db2": dz2.sum(0)}


def textbook_arrays(W1, b1, W2, b2, x, y):
    """Correct, called as fn(W1, b1, W2, b2, x, y), returning one mapping with "loss"."""
    loss, g = textbook((W1, b1, W2, b2), x, y)
    return {"loss": loss, **g}


def column_sign(params, x, y):
    """Unknown bug: column 0 of dW2 negated."""
    loss, g = textbook(params, x, y)
    g["dW2"] = g["dW2"] * np.where(np.arange(g["dW2"].shape[1]) == 0, -1, 1).astype(x.dtype)
    return loss, g


def doubled(params, x, y):
    """Unknown bug: every gradient twice too large."""
    loss, g = textbook(params, x, y)
    return loss, {k: 2 * v for k, v in g.items()}


def upcast(params, x, y):
    """Unknown bug: float32 in, float64 out."""
    loss, g = textbook(params, x, y)
    return np.float64(loss), {k: v.astype(np.float64) for k, v in g.items()}


def argmax_targets(params, x, y):
    """Unknown bug: float targets collapsed to their argmax label."""
    return textbook(params, x, y.argmax(axis=1) if y.ndim == 2 else y)


def transposed_dW2(params, x, y):
    """Unknown bug: dW2 returned transposed."""
    loss, g = textbook(params, x, y)
    g["dW2"] = g["dW2"].T.copy()
    return loss, g


def modifies_x(params, x, y):
    """Scales x in place before computing (a side effect on the caller's array)."""
    x *= 1.0
    x[0, 0] += 1.0
    return textbook(params, x, y)


def raises_on_c1(params, x, y):
    """Crashes when C = 1."""
    if params[2].shape[1] == 1:
        raise ValueError("C must be >= 2")
    return textbook(params, x, y)
