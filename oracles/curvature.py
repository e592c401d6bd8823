"""Second-order oracles (issue 12): Hessian-vector and Gauss-Newton-vector products, no
second derivative written by hand.

Each oracle module exposes ``r_grads(params, x, y, v) -> scratch.Grads`` (the directional
derivative along ``v`` of every quantity of ``loss_and_grads``: R{dz2}, R{dW2}, R{db2}, R{dz1},
R{dW1}, R{db1}; its ``params_grads()`` is H v) and, where the framework can, ``gnvp(params, x,
y, v) -> scratch.Params`` (G v).  NumPy arrays out, in the input dtype.

- ``jax``: forward-over-reverse, ``jax.jvp`` of ``jax.grad`` (x64 on); G v from
  ``jax.linearize`` (J v), ``jax.jvp`` of ``jax.grad`` in logit space (H_z) and ``jax.vjp`` (J^T).
- ``torch``: ``torch.func.jvp`` of ``torch.func.grad``; G v from ``torch.func.jvp`` /
  ``torch.func.vjp`` of the logits.
- ``numeric``: the complex step applied to the hand-derived gradient, which is analytic:
  ``Im grad L(theta + i h v) / h`` (float64 only).
"""

from __future__ import annotations

import importlib
from typing import Callable

#: name -> (module, the pip extra that provides its framework or None)
REGISTRY: dict[str, tuple[str, str | None]] = {
    "jax": ("oracles.jax_curvature", "jax"),
    "torch": ("oracles.torch_curvature", "torch"),
    "numeric": ("oracles.numeric_curvature", None),
}

#: The oracles of H v, and those of G v (the complex step differentiates the gradient, so it gives H only).
HVP_ORACLES = ("jax", "torch", "numeric")
GNVP_ORACLES = ("jax", "torch")


def get(name: str, kind: str = "r_grads") -> Callable:
    """The ``kind`` function (``"r_grads"``, ``"hvp"`` or ``"gnvp"``) of curvature oracle ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown curvature oracle {name!r}; expected one of {sorted(REGISTRY)}")
    if kind not in ("r_grads", "hvp", "gnvp"):
        raise ValueError(f"kind must be 'r_grads', 'hvp' or 'gnvp', got {kind!r}")
    if kind == "gnvp" and name not in GNVP_ORACLES:
        raise ValueError(f"the {name!r} oracle has no Gauss-Newton product; expected one of {GNVP_ORACLES}")
    module = importlib.import_module(REGISTRY[name][0])
    if kind == "hvp":
        return lambda params, x, y, v: module.r_grads(params, x, y, v).params_grads()
    return getattr(module, kind)
