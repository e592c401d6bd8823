"""scikit-learn's ``MLPClassifier`` as a peer: its own hand-written forward pass and backprop.

An ``MLPClassifier(hidden_layer_sizes=(H,), activation="tanh", alpha=0)`` is given our
parameters (``coefs_ = [W1, W2]``, ``intercepts_ = [b1, b2]``) and the attributes ``fit``
would set (``n_layers_ = 3``, ``n_outputs_``, ``out_activation_``); then its private
``_backprop(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads)`` (scikit-learn
>= 1.7; before, without ``sample_weight``) runs ``_forward_pass`` and returns its loss and
gradients.  Nothing here computes a derivative.

What sklearn computes (``sklearn/neural_network/_multilayer_perceptron.py``, ``_base.py``):

- forward: ``z1 = X W1 + b1``, ``a1 = tanh z1``, ``z2 = a1 W2 + b2``, then ``inplace_softmax``
  (max-shifted exp, divided by the row sum): probabilities, not log-probabilities;
- loss: ``log_loss(y, yhat) = -sum_c mean_n xlogy(y_nc, clip(yhat_nc, eps, 1 - eps))``, eps
  of the dtype (2.2e-16 / 1.2e-7): the log of a rounded probability, clipped;
- ``deltas[-1] = yhat - y`` (the canonical-link shortcut, without 1/N; the gradient only when
  each row of y sums to 1), ``deltas[0] = (deltas[-1] W2^T) * (1 - a1**2)``;
- ``coef_grads[i] = activations[i]^T deltas[i] / N``, ``intercept_grads[i] = sum_n deltas[i] / N``.

So ``dz2 = deltas[-1] / N`` and ``dz1 = deltas[0] / N`` (the 1/N that sklearn applies to the
parameter gradients), returned too.  Every array keeps the input dtype (float32 stays float32:
checked by tests/test_peers.py, not forced here).

Targets: int labels are one-hot encoded by :func:`sklearn.preprocessing.label_binarize` with
``classes = 0..C-1`` (what ``fit``'s ``LabelBinarizer`` produces), in the input dtype; float
targets (N, C) are passed to ``_backprop`` as ``y`` unchanged.  For C = 2 ``label_binarize``
gives one column ``y_1``; :func:`loss_and_grads` widens it to ``[1 - y_1, y_1]`` (as ``log_loss``
itself does), :func:`loss_and_grads_logistic` uses it as is.  C = 1 is refused: sklearn encodes
a single class as a column of zeros (its negative label), so it has no such network.
"""

from __future__ import annotations

import inspect

import numpy as np

from oracles import require
from scratch.checks import check_inputs
from scratch.network import Params

require("sklearn", "peers", "the sklearn peer")
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.preprocessing import label_binarize  # noqa: E402

#: scikit-learn >= 1.7 added ``sample_weight`` to ``_backprop``.
_TAKES_SAMPLE_WEIGHT = "sample_weight" in inspect.signature(MLPClassifier._backprop).parameters


def _estimator(coefs: list, intercepts: list, out_activation: str) -> MLPClassifier:
    """An MLPClassifier in the state ``fit`` leaves it, holding the given parameters."""
    m = MLPClassifier(hidden_layer_sizes=(coefs[0].shape[1],), activation="tanh", alpha=0.0)
    m.n_layers_ = 3
    m.n_outputs_ = coefs[1].shape[1]
    m.out_activation_ = out_activation
    m.coefs_ = list(coefs)
    m.intercepts_ = list(intercepts)
    return m


def _backprop(m: MLPClassifier, x: np.ndarray, Y: np.ndarray) -> tuple:
    """Run sklearn's ``_backprop``: ``(loss, coef_grads, intercept_grads, deltas)``."""
    activations: list = [x, None, None]
    deltas: list = [None, None]
    coef_grads: list = [None, None]
    intercept_grads: list = [None, None]
    args = (x, Y, None) if _TAKES_SAMPLE_WEIGHT else (x, Y)
    loss, coef_grads, intercept_grads = m._backprop(*args, activations, deltas, coef_grads, intercept_grads)
    return loss, coef_grads, intercept_grads, deltas


def _targets(y: np.ndarray, C: int, dtype: np.dtype, is_labels: bool) -> np.ndarray:
    """Labels one-hot as ``LabelBinarizer`` would ((N, 1) for C = 2), floats unchanged."""
    if not is_labels:
        return y
    return label_binarize(y, classes=np.arange(C)).astype(dtype)


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[np.generic, dict[str, np.ndarray]]:
    """Loss and gradients by scikit-learn's ``MLPClassifier._backprop`` (softmax output, C >= 2).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64, C >= 2
    x : (N, D)
    y : (N,) int labels or (N, C) float targets (rows summing to 1 for sklearn's gradient).

    Returns
    -------
    loss : NumPy scalar (sklearn's, clipped ``log_loss``)
    grads : dict
        ``dW1`` (D, H), ``db1`` (H,), ``dW2`` (H, C), ``db2`` (C,), ``dz1`` (N, H) and ``dz2``
        (N, C) (sklearn's deltas / N), as sklearn returned them.

    Raises
    ------
    ValueError
        C = 1 (sklearn has no one-class network).
    """
    N, _, _, C, dtype, is_labels = check_inputs(params, x, y)
    if C < 2:
        raise ValueError("the sklearn peer needs C >= 2: sklearn's LabelBinarizer encodes one class as a column of zeros")
    Y = _targets(y, C, dtype, is_labels)
    if Y.shape[1] == 1:  # C = 2 labels: LabelBinarizer's one column y_1 -> [1 - y_1, y_1], as log_loss widens it
        Y = np.hstack([1 - Y, Y])
    m = _estimator([params.W1, params.W2], [params.b1, params.b2], "softmax")
    loss, cg, ig, deltas = _backprop(m, x, Y)
    return loss, {"dW1": cg[0], "db1": ig[0], "dW2": cg[1], "db2": ig[1], "dz1": deltas[0] / N, "dz2": deltas[1] / N}


def loss_and_grads_logistic(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[np.generic, dict[str, np.ndarray]]:
    """C = 2 as ``fit`` builds it: one logistic output, ``binary_log_loss``.

    Softmax over two logits is ``sigmoid(z2_1 - z2_0)``, so sklearn gets ``w = W2[:, 1] - W2[:, 0]``
    (H, 1) and ``b = b2[1] - b2[0]`` (1,); by the chain rule through that difference our
    gradients are ``dW2 = [-g_w, g_w]``, ``db2 = [-g_b, g_b]``, ``dz2 = [-delta, delta] / N``.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, 2), b2 (2,))
    x : (N, D)
    y : (N,) int labels or (N, 2) float targets (only ``y[:, 1]`` reaches sklearn: ``y_0`` is
        taken as ``1 - y_1``).

    Returns
    -------
    loss, grads : as :func:`loss_and_grads`.
    """
    N, _, _, C, dtype, is_labels = check_inputs(params, x, y)
    if C != 2:
        raise ValueError(f"the sklearn-logistic peer is the C = 2 network only, got C = {C}")
    Y = _targets(y, C, dtype, is_labels)[:, -1:]  # (N, 1): y_1
    W2, b2 = params.W2, params.b2
    m = _estimator([params.W1, W2[:, 1:] - W2[:, :1]], [params.b1, b2[1:] - b2[:1]], "logistic")
    loss, cg, ig, deltas = _backprop(m, x, Y)
    pm = lambda g: np.hstack([-g, g])  # noqa: E731  d/d(theta_0, theta_1) of theta_1 - theta_0
    return loss, {"dW1": cg[0], "db1": ig[0], "dW2": pm(cg[1]), "db2": pm(ig[1]), "dz1": deltas[0] / N, "dz2": pm(deltas[1]) / N}
