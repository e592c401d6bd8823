"""The numerical oracle (oracles/numeric.py): complex step and central differences agree with the
hand-derived gradients, catch a wrong one, and the directional check handles a 784-1024-10 net."""

from __future__ import annotations

import numpy as np
import pytest

import oracles
import scratch
from oracles import numeric
from scratch.cases import SHAPES, TARGETS, make_case
from scratch.compare import check_case, format_failures, relative_error
from scratch.network import Params
from scratch.tolerances import (
    CENTRAL_DIFFERENCE_RTOL,
    COMPLEX_STEP_RTOL,
    DIRECTIONAL_CENTRAL_RTOL,
    DIRECTIONAL_COMPLEX_RTOL,
    EPS64,
    FORWARD_DIFFERENCE_RTOL,
)

from conftest import target_param

#: method -> the tolerance its agreement with the hand-derived gradients must meet (float64)
RTOL = {"complex": COMPLEX_STEP_RTOL, "central": CENTRAL_DIFFERENCE_RTOL}
#: Small shapes only: the oracle costs O(#params + N (H + C)) loss evaluations.
SMALL_SHAPES = ["n1", "h1", "c1", "small", "square", "tall", "c10"]
method_param = pytest.mark.parametrize("method", numeric.METHODS)


def numeric_oracle(method):
    return lambda p, x, y: numeric.loss_and_grads(p, x, y, method=method)


@method_param
@pytest.mark.parametrize("shape_name", SMALL_SHAPES)
@target_param
def test_numeric_matches_hand_derived(method, shape_name, target):
    """Loss and all six gradients (dz2, dz1 by perturbing z2, z1) within the method's tolerance."""
    c = make_case(0, SHAPES[shape_name], np.float64, target)
    checks = check_case(scratch.loss_and_grads, numeric_oracle(method), c.params, c.x, c.y, rtol=RTOL[method])
    assert not format_failures(checks), f"{c.name} vs numeric {method}:\n{format_failures(checks)}"


@method_param
@pytest.mark.parametrize("target", ["labels", "unnormalized"])
def test_numeric_matches_on_the_seed_problem(method, target):
    """The original question's network (1, 2, 500, 2): 2002 parameters, one case per method."""
    c = make_case(1, SHAPES["seed"], np.float64, target)
    checks = check_case(scratch.loss_and_grads, numeric_oracle(method), c.params, c.x, c.y, rtol=RTOL[method])
    assert not format_failures(checks), format_failures(checks)


def test_registered_under_numeric():
    assert oracles.get("numeric") is numeric.loss_and_grads


@pytest.mark.parametrize("dtype, method", [(np.float64, "complex"), (np.float32, "central")],
                         ids=["float64-complex", "float32-central"])
def test_default_method_per_dtype(dtype, method):
    """Without ``method``: complex step for float64 (meets the autograd oracles' 1e-10), central for float32."""
    c = make_case(0, SHAPES["small"], dtype, "soft")
    L, g = numeric.loss_and_grads(c.params, c.x, c.y)
    L_explicit, g_explicit = numeric.loss_and_grads(c.params, c.x, c.y, method=method)
    assert L == L_explicit
    # np.array_equal, unlike assert_array_equal, does not call NaN equal to NaN; finiteness is checked too
    differ = [q for q, a, b in zip(scratch.Grads._fields, g, g_explicit) if not (np.array_equal(a, b) and np.all(np.isfinite(a)))]
    assert not differ, f"default differs from method={method!r} (or is non-finite) in {differ}"


def test_compare_command_accepts_the_numeric_oracle(capsys):
    """``python -m scratch compare --oracles numeric`` passes at the usual tolerances, both dtypes."""
    from scratch.lab.cli import main

    rc = main(["compare", "--oracles", "numeric", "--seeds", "0", "--shapes", "small", "h1", "c1"])
    assert rc == 0, capsys.readouterr().out


@method_param
@pytest.mark.parametrize("field", ["dz2", "dW2", "db2", "dz1", "dW1", "db1"])
def test_numeric_oracle_catches_a_wrong_gradient(method, field):
    """A gradient off by 0.1% in one quantity fails exactly that quantity."""
    c = make_case(2, SHAPES["small"], np.float64, "soft")

    def broken(params, x, y):
        L, g = scratch.loss_and_grads(params, x, y)
        return L, g._replace(**{field: getattr(g, field) * 1.001})

    checks = check_case(broken, numeric_oracle(method), c.params, c.x, c.y, rtol=RTOL[method])
    assert {k.quantity for k in checks if not k.passed} == {field}


@method_param
def test_complex_step_through_the_core_loss(method):
    """``param_grads`` perturbs scratch.loss itself (complex128 parameters for the complex step)."""
    c = make_case(3, SHAPES["c10"], np.float64, "unnormalized")
    got = numeric.param_grads(c.params, c.x, c.y, method=method)
    want = scratch.loss_and_grads(c.params, c.x, c.y)[1].params_grads()
    not_float64 = [name for name, a in zip(Params._fields, got) if a.dtype != np.float64 or not np.all(np.isfinite(a))]
    assert not not_float64, f"not finite float64: {not_float64}"
    errors = {name: relative_error(a, b) for name, a, b in zip(Params._fields, got, want)}
    assert all(e <= RTOL[method] for e in errors.values()), errors


@pytest.mark.parametrize(
    "method, h, rtol",
    [("forward", None, FORWARD_DIFFERENCE_RTOL), ("central", None, CENTRAL_DIFFERENCE_RTOL), ("complex", None, COMPLEX_STEP_RTOL),
     ("complex", 1e-100, COMPLEX_STEP_RTOL)],
    ids=["forward", "central", "complex", "complex-h1e-100"],
)
def test_partial_derivatives_of_a_known_function(method, h, rtol):
    """d/dθ sum(sin θ · e^θ) = cos θ e^θ + sin θ e^θ, every entry of a (3, 4) array."""
    theta = np.linspace(-2.0, 3.0, 12).reshape(3, 4)
    got = numeric.partial_derivatives(lambda t: np.sum(np.sin(t) * np.exp(t)), theta, method=method, h=h)
    want = (np.cos(theta) + np.sin(theta)) * np.exp(theta)
    assert got.shape == theta.shape and np.all(np.isfinite(got))
    assert relative_error(got, want) <= rtol


@pytest.mark.parametrize("method, root", [("central", 1 / 3), ("forward", 1 / 2)])
def test_default_step_scales_with_the_magnitude(method, root):
    theta = np.array([0.0, 0.5, -1.0, 100.0, -1e4])
    want = EPS64**root * np.array([1.0, 1.0, 1.0, 100.0, 1e4])
    np.testing.assert_allclose(numeric.default_step(theta, method), want, rtol=1e-12)


@method_param
def test_inputs_are_not_modified(method):
    c = make_case(0, SHAPES["small"], np.float64, "soft")
    before = [a.copy() for a in (*c.params, c.x, c.y)]
    numeric.loss_and_grads(c.params, c.x, c.y, method=method)
    names = (*Params._fields, "x", "y")
    changed = [name for name, a, b in zip(names, (*c.params, c.x, c.y), before) if not np.array_equal(a, b)]
    assert not changed, f"modified: {changed}"


def test_central_keeps_float32():
    """float32 in, float32 out (no silent upcast); complex step is float64 only (below)."""
    c32 = make_case(0, SHAPES["small"], np.float32, "labels")
    L, g = numeric.loss_and_grads(c32.params, c32.x, c32.y, method="central")
    assert L.dtype == np.float32 and all(a.dtype == np.float32 for a in g)
    assert all(np.all(np.isfinite(a)) for a in g)


@pytest.mark.parametrize(
    "call",
    [lambda c: numeric.loss_and_grads(c.params, c.x, c.y, method="backward"),
     lambda c: numeric.partial_derivatives(np.sum, c.x, method="sideways"),
     lambda c: numeric.partial_derivatives(np.sum, c.x, h=0.0),
     lambda c: numeric.directional_check(c.params, c.x, c.y, c.params, rng=0, method="forward")],
    ids=["method", "pd-method", "pd-h", "directional-method"],
)
def test_bad_options_are_named(call):
    with pytest.raises(ValueError, match="method|h must be"):
        call(make_case(0, SHAPES["small"], np.float64, "labels"))


def test_complex_step_refuses_float32():
    c32 = make_case(0, SHAPES["small"], np.float32, "labels")
    with pytest.raises(TypeError, match="complex step needs float64"):
        numeric.loss_and_grads(c32.params, c32.x, c32.y, method="complex")


def test_bad_input_goes_through_check_inputs():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    with pytest.raises(ValueError, match="y labels must lie in"):
        numeric.loss_and_grads(c.params, c.x, c.y + 10)


@pytest.fixture(scope="module")
def mnist_sized():
    """A 784-1024-10 network (814,090 parameters), N = 16, its hand-derived gradients."""
    rng = np.random.default_rng(784)
    params = scratch.init_params(784, 1024, 10, rng=rng, bias_scale=0.5)
    x = rng.standard_normal((16, 784))
    y = rng.integers(0, 10, size=16)
    return params, x, y, scratch.loss_and_grads(params, x, y)[1]


DIRECTIONAL_RTOL = {"complex": DIRECTIONAL_COMPLEX_RTOL, "central": DIRECTIONAL_CENTRAL_RTOL}


@method_param
@pytest.mark.parametrize("seed", range(3), ids=[f"v{s}" for s in range(3)])
def test_directional_check_passes_on_a_784_1024_10_network(mnist_sized, method, seed):
    params, x, y, grads = mnist_sized
    r = numeric.directional_check(params, x, y, grads, rng=seed, method=method)
    assert np.isfinite(r.numeric) and np.isfinite(r.analytic) and r.analytic != 0
    assert r.rel_error <= DIRECTIONAL_RTOL[method], r


@pytest.mark.parametrize(
    "field, factor", [("dW1", 1 + 1e-6), ("db1", 1.001), ("dW2", 1.001), ("db2", 0.0)],
    ids=["dW1-1e-6", "db1-1e-3", "dW2-1e-3", "db2-zero"],
)
def test_directional_check_catches_a_wrong_gradient(mnist_sized, field, factor):
    params, x, y, grads = mnist_sized
    broken = grads._replace(**{field: getattr(grads, field) * factor})
    r = numeric.directional_check(params, x, y, broken, rng=0)
    assert r.rel_error > DIRECTIONAL_COMPLEX_RTOL, r


def test_directional_check_names_a_misshapen_gradient(small_case):
    c = small_case
    g = scratch.loss_and_grads(c.params, c.x, c.y)[1]
    with pytest.raises(ValueError, match=r"grads.db1 must be an array of shape \(5,\)"):
        numeric.directional_check(c.params, c.x, c.y, g._replace(db1=g.db1[:-1]), rng=0)


@pytest.mark.parametrize("target", TARGETS)
def test_directional_accepts_params_or_grads(target):
    c = make_case(4, SHAPES["square"], np.float64, target)
    g = scratch.loss_and_grads(c.params, c.x, c.y)[1]
    a = numeric.directional_check(c.params, c.x, c.y, g, rng=5)
    b = numeric.directional_check(c.params, c.x, c.y, g.params_grads(), rng=5)
    assert a == b and a.rel_error <= DIRECTIONAL_COMPLEX_RTOL
