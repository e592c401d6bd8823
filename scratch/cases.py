"""Reproducible problem instances for the checks: seeds x shapes x dtypes x target kinds.

One :class:`Case` is ``(params, x, y)`` drawn from ``np.random.default_rng`` in float64 and
rounded to the requested dtype, so a float32 case holds the float32 rounding of the float64
case's numbers.  Biases are non-zero (a bias bug cannot hide behind zeros).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .network import Params, init_params, one_hot

#: Named shapes (N, D, H, C).  "seed" is the original question's network.
SHAPES: dict[str, tuple[int, int, int, int]] = {
    "seed": (1, 2, 500, 2),
    "n1": (1, 4, 6, 3),
    "h1": (8, 3, 1, 4),
    "c1": (8, 3, 5, 1),
    "small": (4, 3, 5, 3),
    "square": (12, 6, 5, 5),
    "tall": (64, 2, 3, 2),
    "wide": (3, 40, 30, 7),
    "c10": (32, 8, 16, 10),
    "large": (256, 64, 128, 10),
}

#: Target kinds: int labels (N,); one-hot, soft (rows on the simplex) and unnormalised
#: (non-negative weights, rows not summing to 1) float targets (N, C).
TARGETS = ("labels", "onehot", "soft", "unnormalized")

DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}


class Case(NamedTuple):
    """One problem: ``params``, ``x`` (N, D), ``y`` labels (N,) or targets (N, C), and its id."""

    params: Params
    x: np.ndarray
    y: np.ndarray
    name: str

    def astype(self, dtype: Any) -> "Case":
        """The same case with floating arrays cast to ``dtype`` (labels stay integers)."""
        y = self.y if np.issubdtype(self.y.dtype, np.integer) else self.y.astype(dtype)
        return Case(self.params.astype(dtype), self.x.astype(dtype), y, self.name)


def make_targets(kind: str, N: int, C: int, rng: np.random.Generator) -> np.ndarray:
    """Targets of ``kind`` (one of :data:`TARGETS`) in float64, or int64 labels."""
    labels = rng.integers(0, C, size=N)
    if kind == "labels":
        return labels
    if kind == "onehot":
        return one_hot(labels, C, np.float64)
    if kind == "soft":
        return rng.dirichlet(np.ones(C), size=N)
    if kind == "unnormalized":
        return rng.uniform(0.0, 3.0, size=(N, C))
    raise ValueError(f"target kind must be one of {TARGETS}, got {kind!r}")


def make_case(
    seed: int,
    shape: tuple[int, int, int, int],
    dtype: Any = np.float64,
    target: str = "labels",
    *,
    bias_scale: float = 0.5,
    logit_scale: float = 1.0,
) -> Case:
    """Draw a case.  ``logit_scale`` multiplies W2 and b2 (large values: confident predictions)."""
    N, D, H, C = shape
    rng = np.random.default_rng([seed, N, D, H, C, TARGETS.index(target) if target in TARGETS else 99])
    p = init_params(D, H, C, rng=rng, bias_scale=bias_scale)
    p = Params(p.W1, p.b1, p.W2 * logit_scale, p.b2 * logit_scale)
    x = rng.standard_normal((N, D))
    y = make_targets(target, N, C, rng)
    name = f"s{seed}-N{N}D{D}H{H}C{C}-{np.dtype(dtype).name}-{target}"
    return Case(p, x, y, name).astype(dtype)
