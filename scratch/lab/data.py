"""Toy classification data sets, generated in NumPy from a seed (no download).

Every generator returns a :class:`Dataset` with ``x`` of shape (N, D) in the requested float
dtype (drawn in float64, then rounded, so float32 and float64 hold the same numbers) and
``y`` int64 labels of shape (N,) in ``[0, C)``.  The rows are shuffled with the same seed, so
no class is contiguous.  Randomness comes only from ``np.random.default_rng(seed)``.

- :func:`moons`: scikit-learn's ``make_moons`` (two interleaving half circles), 200 points,
  D = 2, C = 2.
- :func:`spirals`: the CS231n case study (K arms of a spiral, one class each), D = 2.
- :func:`blobs`: isotropic Gaussian clusters, C = 10 by default, for a larger case; D = 2
  by default (any D >= 1).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from ..checks import FLOAT_DTYPES


class Dataset(NamedTuple):
    """A labelled data set: ``x`` (N, D) float, ``y`` (N,) int64 in ``[0, C)``, ``name``, ``C``."""

    x: np.ndarray
    y: np.ndarray
    name: str
    C: int

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(N, D, C)``."""
        return self.x.shape[0], self.x.shape[1], self.C


def _check_count(name: str, v: Any, low: int = 1) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _check_scale(name: str, v: Any) -> float:
    if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return float(v)


def _finish(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, name: str, C: int, dtype: Any) -> Dataset:
    """Shuffle rows with ``rng``, round x to ``dtype``, labels to int64."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    order = rng.permutation(x.shape[0])
    return Dataset(np.ascontiguousarray(x[order], dtype=dt), y[order].astype(np.int64), name, C)


def moons(n_samples: int = 200, *, noise: float = 0.1, seed: int = 0, dtype: Any = np.float64) -> Dataset:
    """Two interleaving half circles (scikit-learn's ``make_moons``), with Gaussian noise.

    Class 0: ``(cos t, sin t)``, class 1: ``(1 - cos t, 1/2 - sin t)``, ``t`` evenly spaced in
    ``[0, pi]``; ``ceil(n/2)`` and ``floor(n/2)`` points; then ``N(0, noise^2)`` added to both
    coordinates.

    Parameters
    ----------
    n_samples : int >= 2
    noise : float >= 0
        Standard deviation of the added noise.
    seed : int
    dtype : float32 or float64

    Returns
    -------
    Dataset
        ``x`` (n_samples, 2), ``y`` (n_samples,) int64 in {0, 1}, C = 2.
    """
    n = _check_count("n_samples", n_samples, 2)
    noise = _check_scale("noise", noise)
    rng = np.random.default_rng(seed)
    n0 = (n + 1) // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([outer, inner]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _finish(x, y, rng, "moons", 2, dtype)


def spirals(
    n_per_class: int = 100, n_classes: int = 3, *, noise: float = 0.2, seed: int = 0, dtype: Any = np.float64
) -> Dataset:
    """K spiral arms in the plane, one class each (the CS231n neural-network case study).

    Arm ``k``: radius ``r`` evenly spaced in ``[0, 1]``, angle ``t = linspace(4k, 4(k+1)) +
    N(0, noise^2)``, point ``(r sin t, r cos t)``.  Not linearly separable.

    Parameters
    ----------
    n_per_class : int >= 1
    n_classes : int >= 2
        K, the number of arms (classes).
    noise : float >= 0
        Standard deviation of the angle noise (radians).
    seed : int
    dtype : float32 or float64

    Returns
    -------
    Dataset
        ``x`` (n_per_class * K, 2), ``y`` (n_per_class * K,) int64 in ``[0, K)``, C = K.
    """
    m = _check_count("n_per_class", n_per_class)
    K = _check_count("n_classes", n_classes, 2)
    noise = _check_scale("noise", noise)
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, m), K)
    t = np.concatenate([np.linspace(4.0 * k, 4.0 * (k + 1), m) for k in range(K)]) + noise * rng.standard_normal(m * K)
    x = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    y = np.repeat(np.arange(K), m)
    return _finish(x, y, rng, "spirals", K, dtype)


def blobs(
    n_per_class: int = 100,
    n_classes: int = 10,
    dim: int = 2,
    *,
    spread: float = 0.5,
    box: float = 4.0,
    seed: int = 0,
    dtype: Any = np.float64,
) -> Dataset:
    """Isotropic Gaussian clusters: centres uniform in ``[-box, box]^dim``, points ``N(centre, spread^2 I)``.

    Parameters
    ----------
    n_per_class : int >= 1
    n_classes : int >= 2
        C, the number of clusters (classes); 10 by default.
    dim : int >= 1
        D, the input dimension.
    spread : float >= 0
        Standard deviation of each cluster.
    box : float >= 0
        Half width of the box holding the centres.
    seed : int
    dtype : float32 or float64

    Returns
    -------
    Dataset
        ``x`` (n_per_class * C, dim), ``y`` (n_per_class * C,) int64 in ``[0, C)``.
    """
    m = _check_count("n_per_class", n_per_class)
    C = _check_count("n_classes", n_classes, 2)
    D = _check_count("dim", dim)
    spread = _check_scale("spread", spread)
    box = _check_scale("box", box)
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-box, box, size=(C, D))
    y = np.repeat(np.arange(C), m)
    x = centres[y] + spread * rng.standard_normal((m * C, D))
    return _finish(x, y, rng, "blobs", C, dtype)


#: name -> generator, for the command line.
DATASETS: dict[str, Callable[..., Dataset]] = {"moons": moons, "spirals": spirals, "blobs": blobs}


def make_dataset(name: str, *, seed: int = 0, dtype: Any = np.float64, **kwargs: Any) -> Dataset:
    """The data set ``name`` (one of :data:`DATASETS`) from ``seed``; ``kwargs`` go to its generator."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](seed=seed, dtype=dtype, **kwargs)
