"""The staged route (through the full C x C softmax Jacobian) equals the fused route,
and each stage equals autograd's gradient at that node of the unfused graph."""

from __future__ import annotations

import numpy as np
import pytest

import scratch
from oracles import torch_oracle
from scratch.cases import SHAPES, TARGETS, make_case
from scratch.compare import QUANTITIES, relative_error
from scratch.tolerances import FLOAT64_ORACLE_RTOL, ROUTE_RTOL

from conftest import shape_param, target_param

SEEDS = range(5)


@shape_param
@target_param
@pytest.mark.parametrize("seed", SEEDS, ids=[f"s{s}" for s in SEEDS])
def test_staged_equals_fused(seed, shape_name, target):
    c = make_case(seed, SHAPES[shape_name], np.float64, target)
    fused = scratch.loss_and_grads(c.params, c.x, c.y, route="fused")
    staged = scratch.loss_and_grads(c.params, c.x, c.y, route="staged")
    for q, a, b in zip(QUANTITIES, (fused[0], *fused[1]), (staged[0], *staged[1])):
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), q
        assert relative_error(a, b) <= ROUTE_RTOL, f"{q}: {relative_error(a, b):.3g}"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape_name", ["seed", "c10", "square"])
def test_each_stage_matches_autograd(shape_name, target):
    """dPL, dl, dyhat and dz2 of the staged route vs torch's retain_grad on the same nodes."""
    c = make_case(3, SHAPES[shape_name], np.float64, target)
    fwd = scratch.forward(c.params, c.x)
    is_labels = target == "labels"
    ours = scratch.dz2_staged(fwd.yhat, c.y, is_labels)
    ref = torch_oracle.staged_intermediates(c.params, c.x, c.y)
    for k in ("dPL", "dl", "dyhat", "dz2"):
        got = getattr(ours, k)
        assert got.shape == ref[k].shape and got.dtype == ref[k].dtype, k
        assert np.all(np.isfinite(got)), k
        assert relative_error(got, ref[k]) <= FLOAT64_ORACLE_RTOL, f"{k}: {relative_error(got, ref[k]):.3g}"


@pytest.mark.parametrize("C", [1, 2, 3, 10])
def test_softmax_jacobian_matches_autograd(C):
    z2 = np.random.default_rng(C).standard_normal((5, C)) * 3
    J = scratch.softmax_jacobian(scratch.softmax(z2))
    ref = torch_oracle.softmax_jacobian(z2)
    assert J.shape == (5, C, C)
    assert relative_error(J, ref) <= FLOAT64_ORACLE_RTOL


def test_textbook_form_only_for_normalised_rows():
    """dz2 = (yhat - y)/N holds for rows summing to 1, and is wrong otherwise."""
    soft = make_case(0, SHAPES["c10"], np.float64, "soft")
    unnorm = make_case(0, SHAPES["c10"], np.float64, "unnormalized")
    for c, should_match in ((soft, True), (unnorm, False)):
        N = c.x.shape[0]
        _, g = scratch.loss_and_grads(c.params, c.x, c.y)
        textbook = (scratch.forward(c.params, c.x).yhat - c.y) / N
        assert (relative_error(g.dz2, textbook) <= ROUTE_RTOL) == should_match


def test_unknown_route_is_rejected(small_case):
    with pytest.raises(ValueError, match="route must be one of"):
        scratch.loss_and_grads(*small_case[:3], route="fast")


@pytest.mark.parametrize("shape_name", ["small", "c10", "c1"])
def test_predict_is_the_argmax_of_the_probabilities(shape_name):
    """predict uses eqs. (1)-(3) only; the softmax is monotone, so it is the argmax of yhat."""
    c = make_case(4, SHAPES[shape_name], np.float64, "labels")
    pred = scratch.predict(c.params, c.x)
    assert pred.shape == (c.x.shape[0],) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, np.argmax(scratch.forward(c.params, c.x).yhat, axis=1))


@shape_param
@target_param
@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_staged_route_matches_the_oracle_directly(shape_name, target, dtype_name):
    """Every quantity of the staged route, dz1 dW1 db1 included, against torch autograd at the
    oracle tolerance: a bug on the staged route alone (e.g. in its tanh') is caught here even
    if the fused route were wrong the same way."""
    from oracles import get

    from scratch.compare import check_case, format_failures
    from scratch.tolerances import oracle_rtol

    shape = SHAPES[shape_name]
    c = make_case(1, shape, np.dtype(dtype_name), target)
    staged = lambda p, x, y: scratch.loss_and_grads(p, x, y, route="staged")  # noqa: E731
    checks = check_case(staged, get("torch"), c.params, c.x, c.y, rtol=oracle_rtol(np.dtype(dtype_name), shape))
    assert not format_failures(checks), f"{c.name}:\n{format_failures(checks)}"
