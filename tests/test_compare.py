"""The comparison machinery itself must be able to fail: NaN, shape, dtype, values."""

from __future__ import annotations

import numpy as np
import pytest

import scratch
from scratch.cases import SHAPES, make_case
from scratch.compare import assert_results_match, check_quantity, relative_error


def test_nan_equal_nan_is_a_failure():
    """np.testing.assert_allclose(nan, nan) passes by default; our check does not."""
    a = np.array([1.0, np.nan])
    np.testing.assert_allclose(a, a)  # the pitfall: silently passes
    c = check_quantity("dz2", a, a, rtol=1e-10, dtype=np.float64, shape=(2,))
    assert not c.passed and "non-finite" in c.problem


@pytest.mark.parametrize(
    "got,ref,expect",
    [
        (np.ones((2, 3)), np.ones((3, 2)), "shape"),
        (np.ones(3, np.float32), np.ones(3), "dtype"),
        (np.array([1.0, np.inf]), np.array([1.0, 2.0]), "non-finite"),
        (np.array([1.0, 2.0]), np.array([1.0, np.inf]), "non-finite"),
        (np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), "value"),
    ],
    ids=["shape", "dtype", "inf-ours", "inf-reference", "value"],
)
def test_check_quantity_fails(got, ref, expect):
    c = check_quantity("q", got, ref, rtol=1e-10, dtype=np.float64, shape=ref.shape)
    assert not c.passed and c.problem.startswith(expect)


def test_relative_error_definition():
    assert relative_error([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert relative_error([1.0, 4.0], [1.0, 2.0]) == pytest.approx(0.5)  # 2 / max(4, 2)
    assert relative_error([0.0], [1e-300]) == 1.0
    assert relative_error([np.nan], [np.nan]) == float("inf")


def test_a_wrong_gradient_is_reported_with_all_failing_quantities():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    broken = g._replace(db2=g.db2 * 2, dW1=g.dW1 + 1e-3)
    with pytest.raises(AssertionError) as info:
        assert_results_match((L, broken), (L, g), rtol=1e-10, dtype=np.float64, dims=SHAPES["small"])
    assert "db2" in str(info.value) and "dW1" in str(info.value) and "dz2" not in str(info.value)
