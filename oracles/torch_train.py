"""PyTorch twin of :func:`scratch.train.train`: the same run with autograd and ``torch.optim.SGD``.

Starts from copies of the very same initial arrays, visits the very same mini-batches (the
index list computed once in NumPy by :func:`scratch.train.batch_schedule`) and lets
``torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov=False)`` apply eqs.
(8)-(10) of :mod:`scratch.train`.  The loss is ``F.cross_entropy`` (mean over the batch, eq. (7)).
Nothing is derived by hand here.
"""

from __future__ import annotations

import time

import numpy as np

from oracles import require
from scratch.checks import check_inputs
from scratch.network import Params
from scratch.train import Callback, SGDConfig, Step, TrainResult, batches_for

torch = require("torch", "torch")
F = torch.nn.functional


def _logits(W: list, x: "torch.Tensor") -> "torch.Tensor":
    W1, b1, W2, b2 = W
    return torch.tanh(x @ W1 + b1) @ W2 + b2  # (1)-(3) z2 = tanh(x W1 + b1) W2 + b2


def train(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    config: SGDConfig,
    *,
    batches: list[np.ndarray] | None = None,
    callback: Callback | None = None,
) -> TrainResult:
    """Same contract as :func:`scratch.train.train`, computed by PyTorch.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64; never modified.
    x : (N, D), y : (N,) int labels.
    config : SGDConfig
    batches : list of K int index arrays (default: :func:`scratch.train.batch_schedule`).
    callback : called as ``callback(Step(step, loss, accuracy))`` after every update.

    Returns
    -------
    TrainResult with ``framework="torch"``; final parameters as NumPy arrays of the input dtype.
    """
    _, _, _, _, dtype, is_labels = check_inputs(params, x, y)
    if not is_labels:
        raise TypeError("y must be integer labels of shape (N,) for training")
    batches = batches_for(config, x.shape[0], batches)
    threads = torch.get_num_threads()
    # One intra-op thread for the run: on these tiny matrices a thread pool only spins, and on a
    # busy 2-core machine that turned 0.2 ms steps into 17 ms ones.  Restored afterwards.
    torch.set_num_threads(1)
    try:
        return _train(params, x, y, config, batches, callback, dtype)
    finally:
        torch.set_num_threads(threads)


def _train(params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, batches: list[np.ndarray],
           callback: Callback | None, dtype: np.dtype) -> TrainResult:
    start = time.perf_counter()
    W = [torch.tensor(np.array(p, copy=True), requires_grad=True) for p in params]
    xt = torch.tensor(np.array(x, copy=True))
    yt = torch.tensor(y.astype(np.int64))
    opt = torch.optim.SGD(W, lr=config.lr, momentum=config.momentum, dampening=0.0,
                          weight_decay=config.weight_decay, nesterov=False)
    losses = np.empty(config.steps)
    accs = np.empty(config.steps)
    for k, idx in enumerate(batches):
        it = torch.from_numpy(idx)
        opt.zero_grad(set_to_none=True)
        L = F.cross_entropy(_logits(W, xt[it]), yt[it], reduction="mean")  # (7) on the batch
        L.backward()
        with torch.no_grad():
            accs[k] = (_logits(W, xt).argmax(dim=1) == yt).double().mean().item()
        losses[k] = L.item()
        opt.step()  # (8)-(10)
        if callback is not None:
            callback(Step(k, losses[k], accs[k]))
    final = Params(*(w.detach().numpy().copy() for w in W))
    for a in final:
        assert a.dtype == dtype, f"torch training returned {a.dtype}, expected the input dtype {dtype}"
    return TrainResult("torch", final, losses, accs, time.perf_counter() - start)
