"""The toy data sets: shapes, label dtype and range, determinism, and each one's geometry."""

from __future__ import annotations

import numpy as np
import pytest

from scratch.lab.data import DATASETS, blobs, make_dataset, moons, spirals

#: name -> (expected N, D, C) with the default arguments.
DEFAULT_DIMS = {"moons": (200, 2, 2), "spirals": (300, 2, 3), "blobs": (1000, 2, 10)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_shapes_dtypes_and_labels(name, dtype):
    d = make_dataset(name, seed=3, dtype=dtype)
    N, D, C = DEFAULT_DIMS[name]
    assert d.dims == (N, D, C) and d.name == name
    assert d.x.shape == (N, D) and d.x.dtype == dtype and d.x.flags.c_contiguous
    assert d.y.shape == (N,) and d.y.dtype == np.int64
    assert np.all(np.isfinite(d.x))
    assert set(np.unique(d.y).tolist()) == set(range(C)), "every class present, nothing outside [0, C)"


@pytest.mark.parametrize("name", list(DATASETS))
def test_same_seed_same_data_other_seed_other_data(name):
    a, b, c = make_dataset(name, seed=5), make_dataset(name, seed=5), make_dataset(name, seed=6)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", list(DATASETS))
def test_float32_is_the_rounding_of_float64(name):
    d64, d32 = make_dataset(name, seed=1), make_dataset(name, seed=1, dtype=np.float32)
    np.testing.assert_array_equal(d32.x, d64.x.astype(np.float32))
    np.testing.assert_array_equal(d32.y, d64.y)


@pytest.mark.parametrize("name", list(DATASETS))
def test_rows_are_shuffled(name):
    """No class is contiguous: the first N/C rows hold more than one class."""
    d = make_dataset(name, seed=0)
    assert len(np.unique(d.y[: d.x.shape[0] // d.C])) > 1


def test_moons_without_noise_lie_on_the_two_half_circles():
    d = moons(201, noise=0.0, seed=2)
    outer, inner = d.x[d.y == 0], d.x[d.y == 1]
    assert len(outer) == 101 and len(inner) == 100
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, rtol=1e-15)
    assert outer[:, 1].min() >= 0 and inner[:, 1].max() <= 0.5 + 1e-15


def test_moons_are_balanced_and_noisy_by_default():
    d = moons()
    assert np.bincount(d.y).tolist() == [100, 100]
    assert np.abs(np.hypot(*d.x[d.y == 0].T) - 1.0).max() > 0.05


def test_spirals_have_k_arms_inside_the_unit_disc():
    d = spirals(50, 4, seed=1)
    assert d.dims == (200, 2, 4) and np.bincount(d.y).tolist() == [50] * 4
    assert np.hypot(*d.x.T).max() <= 1.0 + 1e-15  # noise is on the angle only


def test_blobs_cluster_around_their_centres():
    d = blobs(200, 5, dim=7, spread=0.1, box=5.0, seed=4)
    assert d.dims == (1000, 7, 5)
    means = np.stack([d.x[d.y == c].mean(axis=0) for c in range(5)])
    dist = np.linalg.norm(d.x - means[d.y], axis=1)  # every point within 8 sigma of its class mean
    assert dist.max() < 8 * 0.1, f"largest distance {dist.max():.3f}"
    assert np.abs(d.x).max() < 5.0 + 1.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: moons(1), "n_samples"),
        (lambda: moons(noise=-1.0), "noise"),
        (lambda: spirals(0), "n_per_class"),
        (lambda: spirals(10, 1), "n_classes"),
        (lambda: blobs(dim=0), "dim"),
        (lambda: blobs(spread=float("nan")), "spread"),
        (lambda: moons(dtype=np.int64), "dtype"),
        (lambda: make_dataset("circles"), "dataset must be one of"),
    ],
    ids=["moons-n1", "moons-noise", "spirals-n0", "spirals-k1", "blobs-dim0", "blobs-spread-nan", "int-dtype", "unknown"],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
