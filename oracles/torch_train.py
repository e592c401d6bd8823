"""PyTorch twin of :func:`scratch.lab.train.train`: the same run with autograd and ``torch.optim.SGD``.

Starts from copies of the very same initial arrays, visits the very same mini-batches (the
index list computed once in NumPy by :func:`scratch.lab.train.batch_schedule`) and lets
``torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov=False)`` apply eqs.
(8)-(10) of :mod:`scratch.lab.train`.  The loss is ``F.cross_entropy`` (mean over the batch, eq. (7)).
Nothing is derived by hand here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oracles import require
from scratch.network import Params
from scratch.lab.train import SGDConfig, TrainResult, run_training

torch = require("torch", "torch")
F = torch.nn.functional


def _logits(W: list, x: "torch.Tensor") -> "torch.Tensor":
    W1, b1, W2, b2 = W
    return torch.tanh(x @ W1 + b1) @ W2 + b2  # (1)-(3) z2 = tanh(x W1 + b1) W2 + b2


class TorchSGD:
    """The PyTorch :class:`scratch.lab.train.Engine`: autograd through ``F.cross_entropy``, then ``torch.optim.SGD``."""

    framework = "torch"

    def __init__(self, params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, batches: list[np.ndarray]):
        self.W = [torch.tensor(p, requires_grad=True) for p in params]  # torch.tensor copies
        self.x = torch.tensor(x)
        self.y = torch.tensor(y.astype(np.int64))
        self.opt = torch.optim.SGD(self.W, lr=config.lr, momentum=config.momentum, dampening=0.0,
                                   weight_decay=config.weight_decay, nesterov=False)

    def step(self, idx: np.ndarray) -> tuple[float, float]:
        it = torch.from_numpy(idx)
        self.opt.zero_grad(set_to_none=True)
        L = F.cross_entropy(_logits(self.W, self.x[it]), self.y[it], reduction="mean")  # (7) on the batch
        L.backward()
        with torch.no_grad():
            acc = (_logits(self.W, self.x).argmax(dim=1) == self.y).double().mean().item()
        self.opt.step()  # (8)-(10)
        return L.item(), acc

    def params(self) -> Params:
        return Params(*(w.detach().numpy().copy() for w in self.W))


def train(params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, **options: Any) -> TrainResult:
    """:func:`scratch.lab.train.train` computed by PyTorch: same arguments (``options``: ``batches``,
    ``callback``), same :class:`~scratch.lab.train.TrainResult` (``framework="torch"``).

    ``params`` W1 (D, H), b1 (H,), W2 (H, C), b2 (C,) in float32 or float64; ``x`` (N, D); ``y`` (N,).
    Runs with one intra-op thread: on these tiny matrices a thread pool only spins, and on a busy
    2-core machine that turned 0.2 ms steps into 17 ms ones.  The thread count is restored.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(TorchSGD, params, x, y, config, **options)
    finally:
        torch.set_num_threads(threads)
