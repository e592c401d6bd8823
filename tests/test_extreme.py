"""Numerical stability: logits of magnitude 1e3 and more give finite, correct results."""

from __future__ import annotations

import numpy as np
import pytest

import oracles
import scratch
from scratch.cases import SHAPES, make_case
from scratch.compare import check_case, format_failures
from scratch.tolerances import oracle_rtol


@pytest.mark.parametrize("oracle", oracles.AUTOGRAD)
@pytest.mark.parametrize("target", ["labels", "onehot", "soft", "unnormalized"])
@pytest.mark.parametrize("logit_scale", [1e3, 1e4, 1e6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_huge_logits_finite_and_correct(oracle, target, logit_scale, dtype):
    shape = SHAPES["c10"]
    c = make_case(2, shape, dtype, target, logit_scale=logit_scale)
    z2 = scratch.forward(c.params, c.x).z2
    assert np.abs(z2).max() >= logit_scale / 10  # the case really is extreme
    checks = check_case(scratch.loss_and_grads, oracles.get(oracle), c.params, c.x, c.y,
                        rtol=oracle_rtol(dtype, shape))
    assert not format_failures(checks), format_failures(checks)


def test_softmax_does_not_overflow():
    z = np.array([[1000.0, 0.0, -1000.0], [-1e300, 0.0, 1e300]])
    p = scratch.softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.all(np.isfinite(scratch.log_softmax(z)))
    assert scratch.logsumexp(z)[0] == 1000.0


def test_confident_mistake_has_finite_loss():
    """log(softmax) would give -inf; log-softmax gives the exact logit gap."""
    p = scratch.Params(np.eye(2), np.zeros(2), np.array([[0.0, 800.0], [0.0, 0.0]]), np.zeros(2))
    x = np.array([[1.0, 0.0]])
    L, g = scratch.loss_and_grads(p, x, np.array([0]))
    assert L == pytest.approx(800.0 * np.tanh(1.0), rel=1e-15)  # the logit gap
    assert all(np.all(np.isfinite(a)) for a in g)


def test_staged_route_survives_underflow_with_labels():
    """Labels on the winning class: the underflowed classes carry no target weight (0/0 -> 0)."""
    c = make_case(2, SHAPES["c10"], np.float64, "labels", logit_scale=1e3)
    fwd = scratch.forward(c.params, c.x)
    y = np.argmax(fwd.z2, axis=1)
    assert np.any(fwd.yhat == 0)
    fused = scratch.loss_and_grads(c.params, c.x, y)
    staged = scratch.loss_and_grads(c.params, c.x, y, route="staged")
    assert np.all(np.isfinite(staged[1].dz2))
    np.testing.assert_allclose(staged[1].dz2, fused[1].dz2, rtol=0, atol=1e-15)


@pytest.mark.parametrize("target", ["labels", "soft"])
def test_staged_route_refuses_infinite_dyhat(target):
    """A positive target weight on an underflowed class (a confident mistake): staged cannot
    form 1/yhat, and says so instead of returning NaN."""
    c = make_case(2, SHAPES["c10"], np.float64, target, logit_scale=1e3)
    with pytest.raises(FloatingPointError, match="route='fused'"):
        scratch.loss_and_grads(c.params, c.x, c.y, route="staged")
