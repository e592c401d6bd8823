"""Reproducible problem instances for the checks: seeds x shapes x dtypes x target kinds.

One :class:`Case` is ``(params, x, y)`` drawn from ``np.random.default_rng`` in float64 and
rounded to the requested dtype, so a float32 case holds the float32 rounding of the float64
case's numbers.  Biases are non-zero (a bias bug cannot hide behind zeros).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .network import Params, init_params, one_hot
from .spec import SEED, NetworkSpec, as_spec

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

#: (N, D, H, C) of the confident, saturated problems of :func:`confident_case`
#: (logit gaps 17-23 on every row, every |z1| in [10.5, 21]); in a sweep, the shape name
#: "confident" draws them (labels and one-hot targets only: they are built around a label).
CONFIDENT_SHAPE = (16, 24, 32, 10)
CONFIDENT_TARGETS = ("labels", "onehot")
#: Each row's label logit is drawn from this range, the others from [-1, 1]: logit gaps of 17-23.
GAP_RANGE = (18.0, 22.0)
#: |z1| of every hidden unit is drawn from this range (every unit saturated in float32).
Z1_RANGE = (10.5, 21.0)
#: In a sweep, the shape name "huge": the "c10" problem with W2 and b2 scaled by 1e3, logits of
#: order 1e3 (exp overflows without the max-shift; a confident mistake's probability underflows).
HUGE_SHAPE, HUGE_LOGIT_SCALE = SHAPES["c10"], 1e3
#: The shape names a sweep knows besides :data:`SHAPES`.
SPECIAL_SHAPES = {"confident": CONFIDENT_SHAPE, "huge": HUGE_SHAPE}


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


def confident_case(seed: int, shape: tuple[int, int, int, int] = CONFIDENT_SHAPE, dtype: Any = np.float32) -> Case:
    """A confident, saturated problem: labels (N,) int, every row's label ahead by a logit gap
    of 17-23, every |z1| in [10.5, 21].

    Built backwards: pick z1 (random signs, magnitudes in :data:`Z1_RANGE`), solve
    ``x W1 = z1 - b1`` for W1 (min-norm, exact since D >= N); pick logits with the label's
    at :data:`GAP_RANGE` and the others in [-1, 1], solve ``a1 W2 = z2 - b2`` for W2 (exact,
    H >= N).  Everything is drawn in float64, then rounded to ``dtype``.

    Parameters
    ----------
    seed : int
    shape : (N, D, H, C) with D >= N and H >= N.
    dtype : float32 (default) or float64.

    Returns
    -------
    scratch.cases.Case
        ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), ``x`` (N, D), ``y`` (N,) int.
    """
    N, D, H, C = shape
    if D < N or H < N or C < 2:
        raise ValueError(f"shape must have D >= N, H >= N and C >= 2 to place z1 and z2, got {shape}")
    rng = np.random.default_rng([seed, *shape])
    x = rng.standard_normal((N, D))
    b1 = rng.standard_normal(H)
    z1 = rng.choice([-1.0, 1.0], size=(N, H)) * rng.uniform(*Z1_RANGE, size=(N, H))
    W1 = np.linalg.lstsq(x, z1 - b1, rcond=None)[0]  # (1) x W1 + b1 = z1
    a1 = np.tanh(x @ W1 + b1)  # (2)
    y = rng.integers(0, C, size=N)
    z2 = rng.uniform(-1.0, 1.0, size=(N, C))
    z2[np.arange(N), y] = rng.uniform(*GAP_RANGE, size=N)
    b2 = rng.standard_normal(C)
    W2 = np.linalg.lstsq(a1, z2 - b2, rcond=None)[0]  # (3) a1 W2 + b2 = z2
    name = f"confident-s{seed}-N{N}D{D}H{H}C{C}-{np.dtype(dtype).name}-labels"
    return Case(Params(W1, b1, W2, b2), x, y, name).astype(dtype)


class SweepCase(NamedTuple):
    """One case of a sweep, with what it was drawn from: ``seed``, ``shape`` (a name of
    :data:`SHAPES` or :data:`SPECIAL_SHAPES`, or ``N{N}D{D}H{H}C{C}``), ``dims`` (N, D, H, C), ``dtype`` and
    ``target`` (names), and the arrays ``params``, ``x`` (N, D), ``y`` (N,) int or (N, C)."""

    seed: int
    shape: str
    dims: tuple[int, int, int, int]
    dtype: str
    target: str
    params: Params
    x: np.ndarray
    y: np.ndarray
    #: The member of the family the case is checked against (:class:`scratch.spec.NetworkSpec`).
    spec: NetworkSpec = SEED

    @property
    def id(self) -> str:
        """A readable id, usable as a pytest id and a folder name: ``s0-small-float64-labels``
        (with the spec's tag appended for a member other than the seed network:
        ``s0-small-float64-labels-relu-sum``)."""
        tag = self.spec.tag()
        return f"s{self.seed}-{self.shape}-{self.dtype}-{self.target}" + (f"-{tag}" if tag else "")

    @property
    def name(self) -> str:
        """The id (the name :class:`Case` calls it)."""
        return self.id

    def __str__(self) -> str:
        return self.id

    def describe(self) -> str:
        """``seed 0, shape small (N=4, D=3, H=5, C=3), float64, labels``."""
        N, D, H, C = self.dims
        return f"seed {self.seed}, shape {self.shape} (N={N}, D={D}, H={H}, C={C}), {self.dtype}, {self.target}"


def shape_label(shape: Any) -> tuple[str, tuple[int, int, int, int]]:
    """``(name, dims)`` for a name of :data:`SHAPES`, "confident", a ``(name, dims)`` pair or dims."""
    if isinstance(shape, str):
        if shape in SPECIAL_SHAPES:
            return shape, SPECIAL_SHAPES[shape]
        if shape not in SHAPES:
            raise ValueError(f"shape {shape!r}: expected one of {', '.join([*SHAPES, *SPECIAL_SHAPES])}, "
                             "or (N, D, H, C)")
        return shape, SHAPES[shape]
    if len(shape) == 2 and isinstance(shape[0], str):
        name, dims = shape
        name = name if (name in SHAPES or name in SPECIAL_SHAPES) else "N{}D{}H{}C{}".format(*dims)
        return name, tuple(int(d) for d in dims)  # type: ignore[return-value]
    dims = tuple(int(d) for d in shape)
    if len(dims) != 4 or min(dims) < 1:
        raise ValueError(f"shape {shape!r}: expected four positive integers (N, D, H, C)")
    return "N{}D{}H{}C{}".format(*dims), dims  # type: ignore[return-value]


def sweep(
    seeds: Any = range(5), shapes: Any = tuple(SHAPES), dtypes: Any = tuple(DTYPES), targets: Any = TARGETS,
    *, spec: Any = SEED,
) -> list[SweepCase]:
    """Every case of seeds x shapes x dtypes x targets, in that nesting (dtype outermost).

    ``spec``: the member of the family every case is checked against (a
    :class:`scratch.spec.NetworkSpec`; the arrays do not depend on it).

    ``shapes``: names of :data:`SHAPES`, "confident" (:func:`confident_case`;
    drawn for :data:`CONFIDENT_TARGETS` only), "huge" (logits of order 1e3, see
    :data:`HUGE_LOGIT_SCALE`), ``(name, (N, D, H, C))`` pairs or dims.
    ``dtypes``: names or NumPy dtypes (float32, float64).  The same arguments always give the
    same arrays (each case's randomness comes from its own seed sequence).
    """
    shapes = [shape_label(s) for s in shapes]
    dtype_names = [np.dtype(d).name for d in dtypes]
    for d in dtype_names:
        if d not in DTYPES:
            raise ValueError(f"dtype {d!r}: expected one of {', '.join(DTYPES)}")
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"target kind {t!r}: expected one of {', '.join(TARGETS)}")
    spec = as_spec(spec)
    out = []
    for dtype in dtype_names:
        for shape in shapes:
            for target in targets:
                for seed in seeds:
                    case = draw(seed, shape, dtype, target, spec=spec)
                    if case is not None:
                        out.append(case)
    return out


def draw(seed: int, shape: Any, dtype: Any, target: str, *, spec: Any = SEED) -> SweepCase | None:
    """One case of a sweep (see :func:`sweep` for ``shape``); None for a combination that does
    not exist ("confident" with soft or unnormalized targets)."""
    name, dims = shape_label(shape)
    dtype = np.dtype(dtype).name
    if name == "confident":
        if target not in CONFIDENT_TARGETS:
            return None
        c = confident_case(int(seed), dtype=DTYPES[dtype])
        y = c.y if target == "labels" else one_hot(c.y, dims[3], DTYPES[dtype])
    else:
        scale = HUGE_LOGIT_SCALE if name == "huge" else 1.0
        c = make_case(int(seed), dims, DTYPES[dtype], target, logit_scale=scale)
        y = c.y
    return SweepCase(int(seed), name, dims, dtype, target, c.params, c.x, y, as_spec(spec))
