"""A student's backprop for the network, written without scratch, to check with the kit.

    python -m scratch check scripts/examples/student_backprop.py:loss_and_grads
    python -m scratch check scripts/examples/student_backprop.py:loss_and_grads_buggy   # one classic bug

Shapes: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), x (N, D), y int labels (N,) or targets (N, C).
"""

import numpy as np


def loss_and_grads(params, x, y):
    """Loss and parameter gradients, the textbook way; returns (loss, dict)."""
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    a1 = np.tanh(x @ W1 + b1)                                   # (1), (2)  (N, H)
    z2 = a1 @ W2 + b2                                           # (3)       (N, C)
    z = z2 - z2.max(axis=1, keepdims=True)                      # max-shift
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))    # (4), (5) log-softmax
    Y = np.eye(C, dtype=x.dtype)[y] if y.ndim == 1 else y       # labels -> one-hot
    loss = -(Y * log_p).sum() / N                               # (6), (7)
    dz2 = (np.exp(log_p) * Y.sum(axis=1, keepdims=True) - Y) / N  # (4')
    dz1 = (dz2 @ W2.T) * (1 - a1**2)                            # (3''), (2')
    grads = {"dW1": x.T @ dz1, "db1": dz1.sum(axis=0), "dW2": a1.T @ dz2, "db2": dz2.sum(axis=0),
             "dz1": dz1, "dz2": dz2}
    return x.dtype.type(loss), grads


def loss_and_grads_buggy(params, x, y):
    """The same with one classic bug: the hidden bias gradient averaged over the batch."""
    loss, g = loss_and_grads(params, x, y)
    g["db1"] = g["dz1"].mean(axis=0)  # bug: dz1 already carries the 1/N of the loss
    return loss, g
