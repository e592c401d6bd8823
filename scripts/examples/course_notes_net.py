"""A two-layer net written the way course notes write it, to check with the kit.

ReLU hidden units, the data loss *summed* over samples, L2 as ``reg * sum(W * W)`` (gradient
``2 reg W``) on the weights only, biases' gradients as (1, H) / (1, C) rows, gradients keyed by
parameter name.  None of these is a mistake; the kit accepts each and says so::

    python -m scratch check scripts/examples/course_notes_net.py:loss_and_grads \
        --targets labels --activation relu --reduction sum --l2 1e-3 --l2-form full
    python -m scratch check scripts/examples/course_notes_net.py:loss_and_grads --targets labels --identify --l2-form full

Shapes: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), X (N, D), y int labels (N,).
"""

import numpy as np

REG = 1e-3


def loss_and_grads(params, X, y):
    """Summed softmax loss + REG * (||W1||^2 + ||W2||^2), and its gradients keyed W1 b1 W2 b2."""
    W1, b1, W2, b2 = params
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1.reshape(1, -1))          # (1), (2) ReLU   (N, H)
    scores = hidden @ W2 + b2.reshape(1, -1)                    # (3)             (N, C)
    scores = scores - scores.max(axis=1, keepdims=True)         # max-shift
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)  # (4)
    loss = -np.log(probs[np.arange(N), y]).sum()                # (5)-(7), summed
    loss += REG * (np.sum(W1 * W1) + np.sum(W2 * W2))           # L2, the "full" form
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1                               # (4') without the 1/N
    dW2 = hidden.T @ dscores + 2 * REG * W2
    db2 = dscores.sum(axis=0, keepdims=True)                    # a (1, C) row
    dhidden = dscores @ W2.T
    dhidden[hidden <= 0] = 0                                    # (2') ReLU'
    dW1 = X.T @ dhidden + 2 * REG * W1
    db1 = dhidden.sum(axis=0, keepdims=True)                    # a (1, H) row
    return X.dtype.type(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
