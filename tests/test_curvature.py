"""Second order (issue 12): the hand-derived H v and G v against JAX (forward-over-reverse,
linearize/vjp), torch.func and the complex step on the hand-derived gradient, on every case
of the first-order suite (seeds x shapes x dtypes x target kinds), each with its own random
direction v.  float64 at 1e-10; float32 against the float64 truth at
scratch.tolerances.curvature_rtol.  Every quantity of the R-pass is compared (R{dz2} and
R{dz1} through the oracles' zero taps), shape, dtype and finiteness before values.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracles.curvature as oc
import scratch
from scratch.cases import SHAPES
from scratch.compare import format_failures
from scratch.curvature import check_product, gnvp, hessian_terms, r_grads, random_direction
from scratch.tolerances import CURVATURE_ROUTE_RTOL, curvature_rtol

from conftest import dtype_param, seed_param, shape_param, target_param


def direction(case, seed, shape_name):
    """The case's direction: N(0, 1) entries drawn in float64, rounded to the case's dtype."""
    return random_direction(case.params, [seed, *SHAPES[shape_name], 12])


@pytest.mark.parametrize("oracle", oc.HVP_ORACLES)
@shape_param
@dtype_param
@target_param
@seed_param
def test_hvp_matches_oracle(oracle, case, seed, shape_name, dtype_name):
    v = direction(case, seed, shape_name)
    checks = check_product(r_grads, oc.get(oracle), case.params, case.x, case.y, v,
                           rtol=curvature_rtol(dtype_name, SHAPES[shape_name]))
    failures = format_failures(checks)
    assert not failures, f"{case.name} H v vs {oracle}:\n{failures}"


@pytest.mark.parametrize("oracle", oc.GNVP_ORACLES)
@shape_param
@dtype_param
@target_param
@seed_param
def test_gnvp_matches_oracle(oracle, case, seed, shape_name, dtype_name):
    v = direction(case, seed, shape_name)
    checks = check_product(gnvp, oc.get(oracle, "gnvp"), case.params, case.x, case.y, v,
                           rtol=curvature_rtol(dtype_name, SHAPES[shape_name]), label="(G v).")
    failures = format_failures(checks)
    assert not failures, f"{case.name} G v vs {oracle}:\n{failures}"


@shape_param
@target_param
@seed_param
@pytest.mark.parametrize("dtype_name", ["float64"])
def test_gnvp_staged_route_equals_fused(case, seed, shape_name):
    """The C x C blocks formed the long way (d²L/dyhat², the softmax's Hessian) give the same G v."""
    v = direction(case, seed, shape_name)
    staged = lambda p, x, y, d: gnvp(p, x, y, d, route="staged")  # noqa: E731
    failures = format_failures(check_product(staged, gnvp, case.params, case.x, case.y, v,
                                             rtol=CURVATURE_ROUTE_RTOL, label="(G v)."))
    assert not failures, failures


@shape_param
@dtype_param
@target_param
@pytest.mark.parametrize("seed", [0, 1])
def test_hessian_terms_add_up(case, seed, shape_name, dtype_name):
    """G v + cross + tanh'' = H v (the same arithmetic grouped otherwise: rounding only, measured
    against the largest of the terms, which may cancel), and the Gauss-Newton part is gnvp."""
    v = direction(case, seed, shape_name)
    t = hessian_terms(*case[:3], v)
    Hv, Gv = scratch.curvature.hvp(*case[:3], v), gnvp(*case[:3], v)
    rtol = curvature_rtol(dtype_name, SHAPES[shape_name])
    for name, a, b in zip(("W1", "b1", "W2", "b2"), t.total(), Hv):
        assert a.dtype == case.params.W1.dtype and np.all(np.isfinite(a)) and np.all(np.isfinite(b))
        scale = max(float(np.max(np.abs(getattr(part, name)))) for part in (*t, Hv))
        assert np.max(np.abs(a - b)) <= rtol * scale, name
    assert all(np.array_equal(a, b) for a, b in zip(t.gauss_newton, Gv))  # the very same computation


@pytest.mark.parametrize("target", ["labels", "unnormalized"])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_outputs_keep_the_dtype(target, dtype_name):
    from scratch.cases import DTYPES, make_case

    c = make_case(0, SHAPES["small"], DTYPES[dtype_name], target)
    v = random_direction(c.params, 0)
    for f in (scratch.curvature.hvp, gnvp, lambda *a: gnvp(*a, route="staged")):
        out = f(*c[:3], v)
        assert all(a.dtype == DTYPES[dtype_name] and a.shape == p.shape for a, p in zip(out, c.params))
