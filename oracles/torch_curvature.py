"""PyTorch curvature oracle: H v by ``torch.func.jvp`` of ``torch.func.grad`` (forward-over-
reverse), G v by ``torch.func.jvp`` / ``torch.func.vjp`` of the logits.  The loss is
``F.cross_entropy`` (mean over N, eq. (7)) with zero taps e1 (N, H), e2 (N, C) on z1 and z2 so
that R{dz1} and R{dz2} come out of the same jvp.  No derivative is written by hand.
"""

from __future__ import annotations

import functools

import numpy as np

from oracles import as_result, require
from scratch.checks import check_inputs
from scratch.curvature import check_direction
from scratch.network import Grads, Params

torch = require("torch", "torch")
F = torch.nn.functional


def _one_thread(f):
    """Run ``f`` with one intra-op thread (restored after): on these small matrices a thread pool
    only spins, and on a busy 2-core machine that made each product 10-50x slower."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return f(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def _t(a: np.ndarray) -> "torch.Tensor":
    return torch.tensor(np.array(a, copy=True))  # a copy: never share the caller's memory


def _logits(p, e1, e2, x):
    W1, b1, W2, b2 = p
    return torch.tanh(x @ W1 + b1 + e1) @ W2 + b2 + e2  # (1)-(3), tapped


def _inputs(params, x, y, v):
    N, _, H, C, dtype, is_labels = check_inputs(params, x, y)
    v = check_direction(params, v)
    target = _t(y.astype(np.int64)) if is_labels else _t(y)
    return N, H, C, dtype, tuple(_t(p) for p in params), tuple(_t(a) for a in v), _t(x), target


@_one_thread
def r_grads(params: Params, x: np.ndarray, y: np.ndarray, v: Params) -> Grads:
    """R{dz2}, R{dW2}, R{db2}, R{dz1}, R{dW1}, R{db1} along ``v`` by ``torch.func.jvp(torch.func.grad(L))``.

    ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), ``x`` (N, D), ``y`` labels (N,) or
    targets (N, C), ``v`` shaped like ``params``; Grads of NumPy arrays in the input dtype.
    """
    N, H, C, dtype, tp, tv, tx, target = _inputs(params, x, y, v)
    e1 = torch.zeros((N, H), dtype=tp[0].dtype)
    e2 = torch.zeros((N, C), dtype=tp[0].dtype)

    def L(p, a, b):
        return F.cross_entropy(_logits(p, a, b, tx), target, reduction="mean")  # (4)-(7)

    _, (Rg, Rdz1, Rdz2) = torch.func.jvp(torch.func.grad(L, argnums=(0, 1, 2)), (tp, e1, e2),
                                         (tv, torch.zeros_like(e1), torch.zeros_like(e2)))
    RdW1, Rdb1, RdW2, Rdb2 = (a.numpy() for a in Rg)
    _, g = as_result("torch", dtype, np.zeros((), dtype), Rdz2.numpy(), RdW2, Rdb2, Rdz1.numpy(), RdW1, Rdb1)
    return g


@_one_thread
def gnvp(params: Params, x: np.ndarray, y: np.ndarray, v: Params) -> Params:
    """G v = J^T H_z J v by ``torch.func``: jvp of the logits, jvp of grad of the loss in logit
    space, vjp of the logits.  Params of NumPy arrays in the input dtype."""
    N, H, C, dtype, tp, tv, tx, target = _inputs(params, x, y, v)
    e1 = torch.zeros((N, H), dtype=tp[0].dtype)
    e2 = torch.zeros((N, C), dtype=tp[0].dtype)

    def logits(p):
        return _logits(p, e1, e2, tx)

    z2, Jv = torch.func.jvp(logits, (tp,), (tv,))
    _, HJv = torch.func.jvp(torch.func.grad(lambda z: F.cross_entropy(z, target, reduction="mean")), (z2,), (Jv,))
    _, vjp_fn = torch.func.vjp(logits, tp)
    (Gv,) = vjp_fn(HJv)
    out = Params(*(a.detach().numpy() for a in Gv))
    for a in out:
        assert a.dtype == dtype, f"torch oracle returned {a.dtype}, expected the input dtype {dtype}"
    return out
