"""PyTorch oracle: the same network built from the same arrays, gradients from autograd.

No derivative is written by hand here: ``z1`` and ``z2`` keep their gradients with
``retain_grad`` and ``loss.backward()`` fills every leaf.  The loss is PyTorch's own
``F.cross_entropy`` (log-softmax fused with the negative log-likelihood), whose ``'mean'``
reduction divides by N for class labels and for probability targets alike, i.e. eq. (7).
Runs in the input dtype (float64 by default in our tests); TF32 only exists on CUDA and is
switched off there anyway.
"""

from __future__ import annotations

import numpy as np

from oracles import as_result, require
from scratch.checks import check_inputs
from scratch.network import Grads, Params
from scratch.spec import SEED, NetworkSpec, as_spec

torch = require("torch", "torch")
F = torch.nn.functional

if hasattr(torch.backends, "cuda"):
    torch.backends.cuda.matmul.allow_tf32 = False  # TF32 would round matmul inputs to 10 bits
torch.backends.cudnn.allow_tf32 = False


def _leaf(a: np.ndarray) -> "torch.Tensor":
    # A copy: torch must never share (and so never be able to modify) the caller's memory.
    return torch.tensor(np.array(a, copy=True), requires_grad=True)


def activation(spec: NetworkSpec, z: "torch.Tensor") -> "torch.Tensor":
    """Eq. (2) with torch's own functions: ``torch.tanh``, ``torch.relu``,
    ``F.leaky_relu(negative_slope=alpha)``, ``torch.sigmoid`` (derivative 0, resp. alpha, at z = 0)."""
    if spec.activation == "tanh":
        return torch.tanh(z)
    if spec.activation == "relu":
        return torch.relu(z)
    if spec.activation == "leaky_relu":
        return F.leaky_relu(z, negative_slope=spec.alpha)
    return torch.sigmoid(z)


def penalty(spec: NetworkSpec, W1, b1, W2, b2) -> "torch.Tensor | float":
    """Eq. (8) in torch: ``(lambda/2) sum ||W||^2`` or ``lambda sum ||W||^2`` (biases when asked); autograd differentiates it."""
    if not spec.l2:
        return 0.0
    arrays = (W1, b1, W2, b2) if spec.l2_biases else (W1, W2)
    sq = sum(torch.sum(p * p) for p in arrays)
    return (0.5 * spec.l2 if spec.l2_form == "half" else spec.l2) * sq


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray, *, spec: NetworkSpec = SEED) -> tuple[np.generic, Grads]:
    """Loss and gradients by ``torch.autograd``; same contract as :func:`scratch.loss_and_grads`.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets
    spec : scratch.NetworkSpec (the member of the family; default the seed network)

    Returns
    -------
    loss : scalar of the input dtype; grads : Grads of NumPy arrays in the input dtype.
    """
    spec = as_spec(spec)
    _, _, _, _, dtype, is_labels = check_inputs(params, x, y)
    W1, b1, W2, b2 = (_leaf(p) for p in params)
    xt = torch.tensor(np.array(x, copy=True))
    target = torch.tensor(y.astype(np.int64)) if is_labels else torch.tensor(np.array(y, copy=True))
    z1 = xt @ W1 + b1  # (1)
    z1.retain_grad()
    a1 = activation(spec, z1)  # (2)
    z2 = a1 @ W2 + b2  # (3)
    z2.retain_grad()
    L = F.cross_entropy(z2, target, reduction=spec.reduction)  # (4)-(7), mean or sum over N
    L = L + penalty(spec, W1, b1, W2, b2)  # (8)
    L.backward()
    grads = (z2.grad, W2.grad, b2.grad, z1.grad, W1.grad, b1.grad)
    return as_result("torch", dtype, L.detach().numpy(), *(g.numpy() for g in grads))


def staged_intermediates(params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Autograd's gradients at every stage of the *unfused* graph (for the staged route).

    Builds eqs. (4)-(7) literally: ``yhat = softmax(z2)``, ``l = log(yhat)``,
    ``PL = sum(l * y)``, ``L = -mean(PL)``, keeps each with ``retain_grad``, and returns
    ``dPL`` (N,), ``dl`` (N, C), ``dyhat`` (N, C), ``dz2`` (N, C).  Only meaningful where no
    probability underflows (this graph is the unstable textbook one on purpose).
    """
    _, _, _, C, dtype, is_labels = check_inputs(params, x, y)
    W1, b1, W2, b2 = (_leaf(p) for p in params)
    Y = F.one_hot(torch.tensor(y.astype(np.int64)), C).to(W1.dtype) if is_labels else torch.tensor(np.array(y, copy=True))
    z2 = torch.tanh(torch.tensor(np.array(x, copy=True)) @ W1 + b1) @ W2 + b2
    yhat = torch.softmax(z2, dim=1)
    l = torch.log(yhat)
    PL = (l * Y).sum(dim=1)
    for t in (z2, yhat, l, PL):
        t.retain_grad()
    L = -PL.mean()
    L.backward()
    return {k: t.grad.numpy() for k, t in (("dPL", PL), ("dl", l), ("dyhat", yhat), ("dz2", z2))}


def softmax_jacobian(z2: np.ndarray) -> np.ndarray:
    """Per-sample softmax Jacobians (N, C, C) by ``torch.autograd.functional.jacobian``."""
    rows = [torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), torch.tensor(r)) for r in z2]
    return torch.stack(rows).numpy()
