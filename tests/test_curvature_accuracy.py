"""Second order on confident, saturated problems (scratch.cases.confident_case: logit gaps
17-23, |z1| in 10.5-21), and the validation of the direction v.

float32: scratch's H v stays within the float32 curvature bound of the float64 truth (the
complex step on the float32-rounded inputs), while torch's and JAX's float32 H v, which take the
softmax's second derivative from a yhat rounded to 1, miss it by orders of magnitude.
float64: where autograd's float64 loses tanh' (|z1| > 18.7: 1 - a1^2 rounds to 0, or JAX's tanh
stops a few ulps below 1) it loses tanh'' too: its R{dz1} is exactly 0 (torch) or off by a
factor (JAX) on those units, while scratch's agrees with the complex step entry by entry.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracles.curvature as oc
import scratch
from scratch.lab.accuracy import ACCURACY_SHAPE
from scratch.cases import SHAPES, confident_case, make_case
from scratch.compare import elementwise_relative_error, format_failures, relative_error
from scratch.curvature import check_direction, check_product, gnvp, hvp, logit_curvature_staged, r_grads, random_direction
from scratch.network import Params, forward
from scratch.tolerances import (
    CURVATURE_SATURATED_FLOAT64_RTOL,
    FRAMEWORK_CANCELLATION_MIN_ERROR,
    FRAMEWORK_CURVATURE_MIN_EXCESS,
    curvature_rtol,
)

SEEDS = [0, 1, 2, 3]
#: Beyond this |z1| float64's tanh rounds to +-1 and 1 - a1^2 to 0.
FLOAT64_TANH_SATURATES = 18.7


def _confident(seed, dtype):
    c = confident_case(seed, dtype=np.float32).astype(dtype)  # float32 -> float64 is exact: one problem
    return c, random_direction(c.params, [seed, 12]).astype(dtype)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("product", ["hvp", "gnvp"])
def test_float32_meets_the_bound_on_confident_saturated_cases(seed, product):
    c, v = _confident(seed, np.float32)
    ours, ref = (r_grads, oc.get("numeric")) if product == "hvp" else (gnvp, oc.get("torch", "gnvp"))
    checks = check_product(ours, ref, *c[:3], v, rtol=curvature_rtol(np.float32, ACCURACY_SHAPE), label="(G v).")
    assert not format_failures(checks), format_failures(checks)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_frameworks_float32_hvp_cancels_on_confident_rows(seed, framework):
    """The frameworks' float32 H v on the same problem: far outside the bound (the softmax's
    second derivative cancels where yhat_m rounds to 1); the control above passes."""
    c, v = _confident(seed, np.float32)
    got = oc.get(framework, "hvp")(*c[:3], v)
    truth = oc.get("numeric", "hvp")(c.params.astype(np.float64), c.x.astype(np.float64), c.y, v.astype(np.float64))
    err = max(relative_error(a, b) for a, b in zip(got, truth))
    assert err >= FRAMEWORK_CURVATURE_MIN_EXCESS * curvature_rtol(np.float32, ACCURACY_SHAPE), err


@pytest.mark.parametrize("seed", SEEDS)
def test_float64_saturated_units_scratch_keeps_tanh2(seed):
    """Entry by entry on R{dz1}: scratch against the complex step (1/cosh^2, no cancellation)."""
    c, v = _confident(seed, np.float64)
    ours = r_grads(*c[:3], v)
    ref = oc.get("numeric")(*c[:3], v)
    assert np.all(np.isfinite(ours.dz1)) and np.all(ref.dz1 != 0)
    assert elementwise_relative_error(ours.dz1, ref.dz1) <= CURVATURE_SATURATED_FLOAT64_RTOL
    checks = check_product(r_grads, oc.get("numeric"), *c[:3], v, rtol=curvature_rtol(np.float64, ACCURACY_SHAPE))
    assert not format_failures(checks), format_failures(checks)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_float64_autograd_loses_tanh2_where_it_loses_tanh1(seed, framework):
    """On units with |z1| > 18.7 the frameworks' float64 R{dz1} is wrong by a factor (torch: exactly
    0; JAX: its tanh stops a few ulps below 1, so 1 - a1^2 is too large), while the whole-array
    check still passes: the entries are tiny next to the unsaturated ones.  The same happens
    to their first-order dz1 (the accuracy section)."""
    c, v = _confident(seed, np.float64)
    z1 = c.x @ c.params.W1 + c.params.b1
    sat = np.abs(z1) > FLOAT64_TANH_SATURATES
    assert sat.sum() >= 10
    got = oc.get(framework)(*c[:3], v).dz1
    ref = oc.get("numeric")(*c[:3], v).dz1
    assert elementwise_relative_error(got[sat], ref[sat]) >= FRAMEWORK_CANCELLATION_MIN_ERROR
    if framework == "torch":
        assert np.all(got[np.abs(z1) > 19.1] == 0)  # tanh = +-1 exactly: tanh' = tanh'' = 0
    whole = oc.get(framework, "hvp")(*c[:3], v)
    truth = oc.get("numeric", "hvp")(*c[:3], v)
    assert max(relative_error(a, b) for a, b in zip(whole, truth)) > curvature_rtol(np.float64, ACCURACY_SHAPE)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@pytest.fixture
def problem():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    return c, random_direction(c.params, 0)


@pytest.mark.parametrize("fn", [hvp, gnvp, r_grads, lambda *a: gnvp(*a, route="staged")],
                         ids=["hvp", "gnvp", "r_grads", "gnvp-staged"])
@pytest.mark.parametrize(
    "field, bad, error, match",
    [
        ("W1", lambda a: a.T.copy(), ValueError, r"v\.W1 must have the shape of params\.W1 \(3, 5\), got \(5, 3\)"),
        ("b2", lambda a: a[:2], ValueError, r"v\.b2 must have the shape of params\.b2 \(3,\), got \(2,\)"),
        ("b1", lambda a: a.astype(np.float32), TypeError, r"v\.b1 must have the parameters' dtype float64"),
        ("W2", lambda a: a.tolist(), TypeError, r"v\.W2 must be a numpy\.ndarray"),
        ("W2", lambda a: np.where(a > 0, np.nan, a), ValueError, r"v\.W2 must be finite"),
        ("b1", lambda a: a.astype(np.int64), TypeError, r"v\.b1 must have a floating dtype"),
    ],
    ids=["W1-transposed", "b2-short", "b1-float32", "W2-list", "W2-nan", "b1-int"],
)
def test_bad_direction_is_named(problem, fn, field, bad, error, match):
    c, v = problem
    with pytest.raises(error, match=match):
        fn(*c[:3], v._replace(**{field: bad(getattr(v, field))}))


@pytest.mark.parametrize("v", [None, (1, 2, 3), np.zeros(4)], ids=["None", "tuple", "array"])
def test_direction_must_be_params_like(problem, v):
    c, _ = problem
    with pytest.raises(TypeError, match=r"v must have fields W1, b1, W2, b2"):
        hvp(*c[:3], v)


def test_direction_dtype_follows_float32_params():
    c = make_case(0, SHAPES["small"], np.float32, "soft")
    v = random_direction(c.params, 0)
    assert check_direction(c.params, v) == v
    with pytest.raises(TypeError, match=r"v\.W1 must have the parameters' dtype float32"):
        hvp(*c[:3], v.astype(np.float64))


def test_bad_inputs_are_checked_before_v(problem):
    c, v = problem
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\) with D = 3"):
        hvp(c.params, c.x[:, :2], c.y, v)


def test_unknown_route_is_named(problem):
    c, v = problem
    with pytest.raises(ValueError, match=r"route must be one of \('fused', 'staged'\), got 'exact'"):
        gnvp(*c[:3], v, route="exact")


def test_staged_blocks_refuse_an_underflowed_target_class():
    """A positive target weight on a class whose probability underflowed: 1/yhat^2 is infinite
    in the staged route (it raises, naming the fused route), the fused route is fine."""
    c = make_case(0, SHAPES["c10"], np.float64, "soft", logit_scale=1e3)
    v = random_direction(c.params, 0)
    fwd = forward(c.params, c.x)
    assert np.any(fwd.yhat == 0)
    with pytest.raises(FloatingPointError, match="use route='fused'"):
        logit_curvature_staged(fwd.yhat, c.y, False)
    with pytest.raises(FloatingPointError):
        gnvp(*c[:3], v, route="staged")
    assert all(np.all(np.isfinite(a)) for a in gnvp(*c[:3], v))


def test_inputs_are_not_modified(problem):
    c, v = problem
    before = [a.copy() for a in (*c.params, c.x, *v)]
    hvp(*c[:3], v), gnvp(*c[:3], v), gnvp(*c[:3], v, route="staged")
    assert all(np.array_equal(a, b) for a, b in zip(before, (*c.params, c.x, *v)))


def test_exported_from_the_package():
    assert scratch.hvp is hvp and scratch.gnvp is gnvp
    assert isinstance(scratch.hvp(*make_case(0, SHAPES["n1"])[:3], random_direction(make_case(0, SHAPES["n1"]).params, 1)), Params)
