"""The family (scratch.spec.NetworkSpec): ours = torch = JAX = numeric for every member.

Members: activation {tanh, relu, leaky_relu (alpha 0.01 and 0.2), sigmoid} x reduction
{mean, sum} x L2 {none, "half" 1e-3 on the weights only, "full" 0.1 with the biases}: 30 specs.

How the cross product is chosen (wall time): the autograd oracles (torch, JAX) see every member
x both routes (fused, staged) x 2 shapes ("small", "c10") x 2 target kinds (labels, unnormalized:
the two ends of the target axis, s = 1 and s != 1) x 2 dtypes x seed 0; float64 on identical
arrays at FLOAT64_ORACLE_RTOL, float32 against the float64 truth at float32_rtol (the way
tests/test_oracles.py does for the seed network, whose full seeds x shapes sweep stays there).
The numeric oracle (complex step, float64 only, O(#parameters) loss evaluations) sees every
member x both routes x both target kinds on "small" only.

Then the identities that tie the members together (half with lambda == full with lambda/2,
sum == N x mean, L2 never touches dz1/dz2, dz2 = (s yhat - y)/N for every activation, inputs
never modified), the ReLU kink at exactly z1 = 0, sigmoid' in float32 on saturated units,
bad spec values, and the refusals of the seed-only parts (Workspace, scratch.curvature).
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest

import oracles
import scratch
from oracles.numeric import kink_entries
from scratch import activations
from scratch.cases import SHAPES, make_case
from scratch.compare import check_case, compare_results, format_failures
from scratch.network import Grads, Params
from scratch.spec import SEED, NetworkSpec, as_spec
from scratch.tolerances import (
    COMPLEX_STEP_RTOL,
    CENTRAL_DIFFERENCE_RTOL,
    FLOAT64_ORACLE_RTOL,
    FORWARD_DIFFERENCE_RTOL,
    FRAMEWORK_CANCELLATION_MIN_ERROR,
    IDENTITY_RTOL,
    WORKSPACE_DZ1_ULP,
    oracle_rtol,
)

ACTIVATIONS = {"tanh": {}, "relu": {}, "leaky_relu": {"alpha": 0.01}, "leaky_relu0.2": {"alpha": 0.2},
               "sigmoid": {}}
L2S = {"nol2": {}, "half1e-3": {"l2": 1e-3, "l2_form": "half"},
       "full0.1b": {"l2": 0.1, "l2_form": "full", "l2_biases": True}}
REDUCTIONS = ("mean", "sum")
ROUTES = ("fused", "staged")
FAMILY_SHAPES = ("small", "c10")
FAMILY_TARGETS = ("labels", "unnormalized")


def make_spec(act_id: str, reduction: str = "mean", l2_id: str = "nol2") -> NetworkSpec:
    """The spec of an activation id of :data:`ACTIVATIONS`, a reduction and an L2 id of :data:`L2S`."""
    return NetworkSpec(act_id.removesuffix("0.2"), reduction=reduction, **ACTIVATIONS[act_id], **L2S[l2_id])


act_param = pytest.mark.parametrize("act_id", list(ACTIVATIONS), ids=list(ACTIVATIONS))
l2_param = pytest.mark.parametrize("l2_id", list(L2S), ids=list(L2S))
red_param = pytest.mark.parametrize("reduction", REDUCTIONS, ids=REDUCTIONS)
route_param = pytest.mark.parametrize("route", ROUTES, ids=ROUTES)
target_param = pytest.mark.parametrize("target", FAMILY_TARGETS, ids=FAMILY_TARGETS)
dtype_param = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def assert_agrees(ours, reference, case, *, rtol: float, label: str) -> None:
    """The project's one comparison (scratch.compare.check_case: shape, dtype, finiteness, then
    values of loss and every gradient; a float32 case against the float64 truth), failing with
    every quantity that disagrees."""
    checks = check_case(ours, reference, case.params, case.x, case.y, rtol=rtol)
    failures = format_failures(checks)
    assert not failures, f"{label}:\n{failures}"


# ---------------------------------------------------------------------------------------------
# 1. ours vs the oracles, every member
# ---------------------------------------------------------------------------------------------

_ORACLE_RESULTS: dict = {}


def _cached_oracle(key: tuple, params, x, y, *, spec: NetworkSpec):
    """``oracles.get(key[0])(params, x, y, spec=spec)``, computed once per (oracle, shape, dtype,
    target, spec): the fused and the staged route are checked against the same oracle result."""
    if (key, spec) not in _ORACLE_RESULTS:
        _ORACLE_RESULTS[key, spec] = oracles.get(key[0])(params, x, y, spec=spec)
    return _ORACLE_RESULTS[key, spec]


@pytest.mark.parametrize("oracle", oracles.AUTOGRAD)
@pytest.mark.parametrize("shape_name", FAMILY_SHAPES)
@dtype_param
@target_param
@route_param
@l2_param
@red_param
@act_param
def test_member_matches_autograd(act_id, reduction, l2_id, route, target, dtype, shape_name, oracle):
    spec = make_spec(act_id, reduction, l2_id)
    case = make_case(0, SHAPES[shape_name], dtype, target)
    ours = functools.partial(scratch.loss_and_grads, route=route, spec=spec)
    ref = functools.partial(_cached_oracle, (oracle, shape_name, np.dtype(dtype).name, target), spec=spec)
    assert_agrees(ours, ref, case, rtol=oracle_rtol(dtype, SHAPES[shape_name]),
                  label=f"{case.name} {spec.describe()} route {route} vs {oracle}")


@target_param
@route_param
@l2_param
@red_param
@act_param
def test_member_matches_complex_step(act_id, reduction, l2_id, route, target):
    spec = make_spec(act_id, reduction, l2_id)
    case = make_case(0, SHAPES["small"], np.float64, target)
    ours = functools.partial(scratch.loss_and_grads, route=route, spec=spec)
    ref = functools.partial(oracles.get("numeric"), method="complex", spec=spec)
    assert_agrees(ours, ref, case, rtol=COMPLEX_STEP_RTOL,
                  label=f"{case.name} {spec.describe()} route {route} vs the complex step")


# ---------------------------------------------------------------------------------------------
# 2. identities between members
# ---------------------------------------------------------------------------------------------

def _identical(a: tuple, b: tuple) -> list[str]:
    """The quantities (loss, dz2, ...) where ``a`` and ``b`` are not bit for bit equal."""
    names = ("loss", *Grads._fields)
    return [n for n, u, v in zip(names, (a[0], *a[1]), (b[0], *b[1]))
            if not (np.asarray(u).dtype == np.asarray(v).dtype and np.array_equal(u, v))]


@dtype_param
@pytest.mark.parametrize("l2_biases", [False, True], ids=["weights", "biases"])
@route_param
@red_param
@act_param
def test_half_lambda_is_full_half_lambda(act_id, reduction, route, l2_biases, dtype):
    """(lambda/2)||W||^2 with lambda = 1e-3 and lambda ||W||^2 with lambda = 5e-4 are the same
    function: same loss and gradients bit for bit (0.5 * 1e-3 and 5e-4 are the same double)."""
    base = make_spec(act_id, reduction)
    half = NetworkSpec(base.activation, base.alpha, 1e-3, "half", l2_biases, reduction)
    full = NetworkSpec(base.activation, base.alpha, 5e-4, "full", l2_biases, reduction)
    c = make_case(0, SHAPES["small"], dtype, "unnormalized")
    a = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=half)
    b = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=full)
    assert not _identical(a, b), f"differ in {_identical(a, b)}"
    assert half.canonical() == full.canonical()


@target_param
@route_param
@act_param
def test_sum_is_n_times_mean(act_id, route, target):
    """Without L2, the summed loss and each of its gradients are exactly N times the mean's."""
    c = make_case(0, SHAPES["c10"], np.float64, target)
    N = c.x.shape[0]
    L_mean, g_mean = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=make_spec(act_id, "mean"))
    L_sum, g_sum = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=make_spec(act_id, "sum"))
    scaled = (np.float64(N) * L_mean, Grads(*(N * g for g in g_mean)))
    dims = (N, c.x.shape[1], *c.params.W2.shape)
    checks = compare_results((L_sum, g_sum), scaled, rtol=IDENTITY_RTOL, dtype=np.float64, dims=dims)
    assert not format_failures(checks), format_failures(checks)


@route_param
@red_param
@act_param
def test_l2_never_touches_dz(act_id, reduction, route):
    """L2 adds (lambda/2)||W||^2 to the loss and lambda W to dW (computed here from the params,
    not by the spec), and leaves dz2, dz1 (and the unregularized db) bit for bit unchanged."""
    c = make_case(0, SHAPES["small"], np.float64, "unnormalized")
    lam = 0.1  # large enough that L1 - L0 does not cancel the loss's own rounding
    base = make_spec(act_id, reduction)
    L0, g0 = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=base)
    L1, g1 = scratch.loss_and_grads(c.params, c.x, c.y, route=route,
                                    spec=NetworkSpec(base.activation, base.alpha, lam, "half", False, reduction))
    W1, b1, W2, b2 = c.params
    assert np.array_equal(g0.dz2, g1.dz2) and np.array_equal(g0.dz1, g1.dz1)
    assert np.array_equal(g0.db1, g1.db1) and np.array_equal(g0.db2, g1.db2)  # biases not regularized
    expected = {"loss": (L1 - L0, lam / 2 * (np.sum(W1**2) + np.sum(W2**2))),
                "dW1": (g1.dW1 - g0.dW1, lam * W1), "dW2": (g1.dW2 - g0.dW2, lam * W2)}
    for name, (got, want) in expected.items():
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err <= IDENTITY_RTOL, f"{name}: the L2 part is off by {err:.3g} relative"


@route_param
@target_param
@red_param
@act_param
def test_dz2_is_the_same_formula_for_every_activation(act_id, reduction, target, route):
    """dz2 = (s yhat - y) / N (sum: without the 1/N), s the row sums of the targets, from that
    member's own forward pass: the softmax/cross-entropy part never sees the activation."""
    spec = make_spec(act_id, reduction, "full0.1b")
    c = make_case(0, SHAPES["c10"], np.float64, target)
    N, C = c.x.shape[0], c.params.W2.shape[1]
    yhat = scratch.forward(c.params, c.x, spec=spec).yhat
    Y = np.eye(C)[c.y] if c.y.ndim == 1 else c.y
    s = Y.sum(axis=1, keepdims=True)
    want = (yhat * s - Y) / (N if reduction == "mean" else 1)
    got = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=spec)[1].dz2
    assert np.all(np.isfinite(got))
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err <= IDENTITY_RTOL, f"dz2 off by {err:.3g}"


@route_param
@l2_param
@red_param
@act_param
def test_inputs_never_modified(act_id, reduction, l2_id, route):
    spec = make_spec(act_id, reduction, l2_id)
    c = make_case(0, SHAPES["small"], np.float64, "unnormalized")
    before = [a.copy() for a in (*c.params, c.x, c.y)]
    scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=spec)
    scratch.loss(c.params, c.x, c.y, spec=spec)
    scratch.predict(c.params, c.x, spec=spec)
    after = (*c.params, c.x, c.y)
    changed = [n for n, a, b in zip([*Params._fields, "x", "y"], before, after) if not np.array_equal(a, b)]
    assert not changed, f"modified: {changed}"


# ---------------------------------------------------------------------------------------------
# 3. the kink at exactly z1 = 0
# ---------------------------------------------------------------------------------------------

def kink_case(target: str = "labels"):
    """A "small" case where z1[0, 0] and z1[0, 2] are exactly 0.0 (x[0] = 0, b1[0] = b1[2] = 0)."""
    c = make_case(1, SHAPES["small"], np.float64, target)
    x = c.x.copy()
    x[0] = 0.0
    b1 = c.params.b1.copy()
    b1[[0, 2]] = 0.0
    return c._replace(params=c.params._replace(b1=b1), x=x)


KINKS = {"relu": NetworkSpec("relu"), "leaky_relu": NetworkSpec("leaky_relu"),
         "leaky_relu0.2": NetworkSpec("leaky_relu", alpha=0.2)}
kink_param = pytest.mark.parametrize("kink_id", list(KINKS), ids=list(KINKS))


@route_param
@kink_param
def test_kink_derivative_at_exactly_zero(kink_id, route):
    """At z1 = 0 ours, torch and JAX all take the z <= 0 branch: f'(0) = 0 (relu), alpha (leaky):
    dz1 there is exactly f'(0) da1, with da1 = dz2 W2^T; the whole result matches torch and JAX."""
    spec = KINKS[kink_id]
    c = kink_case()
    z1 = c.x @ c.params.W1 + c.params.b1
    assert z1[0, 0] == 0.0 and z1[0, 2] == 0.0
    slope = 0.0 if spec.activation == "relu" else spec.alpha
    _, g = scratch.loss_and_grads(c.params, c.x, c.y, route=route, spec=spec)
    da1 = g.dz2 @ c.params.W2.T
    assert g.dz1[0, 0] == slope * da1[0, 0] and g.dz1[0, 2] == slope * da1[0, 2]
    ours = functools.partial(scratch.loss_and_grads, route=route, spec=spec)
    for oracle in oracles.AUTOGRAD:
        ref = oracles.get(oracle)(c.params, c.x, c.y, spec=spec)[1]
        assert ref.dz1[0, 0] == pytest.approx(slope * da1[0, 0], rel=FLOAT64_ORACLE_RTOL, abs=0.0), oracle
        assert_agrees(ours, functools.partial(oracles.get(oracle), spec=spec), c, rtol=FLOAT64_ORACLE_RTOL,
                      label=f"kink case, {spec.describe()}, route {route} vs {oracle}")
    # the other convention (slope 1 at 0, "z >= 0") is visibly different there: the test can fail
    assert abs(da1[0, 0] - slope * da1[0, 0]) > 1e3 * FLOAT64_ORACLE_RTOL * np.max(np.abs(g.dz1))


@kink_param
def test_kink_complex_step_and_kink_entries(kink_id):
    """The complex step takes the real part's branch, so it matches at z1 = 0 too;
    kink_entries flags the units within a central-difference step (exactly the zeros here) and
    none for the complex step; central differences there average the two slopes."""
    spec = KINKS[kink_id]
    c = kink_case()
    assert_agrees(functools.partial(scratch.loss_and_grads, spec=spec),
                  functools.partial(oracles.get("numeric"), method="complex", spec=spec), c,
                  rtol=COMPLEX_STEP_RTOL, label=f"kink case, {spec.describe()} vs the complex step")
    central_mask = kink_entries(c.params, c.x, spec=spec, method="central")
    expected = np.zeros_like(central_mask)
    expected[0, [0, 2]] = True
    assert central_mask.shape == (4, 5) and np.array_equal(central_mask, expected)
    assert not kink_entries(c.params, c.x, spec=spec, method="complex").any()
    assert not kink_entries(c.params, c.x, spec=NetworkSpec("sigmoid"), method="central").any()
    _, g = scratch.loss_and_grads(c.params, c.x, c.y, spec=spec)
    _, central = oracles.get("numeric")(c.params, c.x, c.y, method="central", spec=spec)
    slope = 0.0 if spec.activation == "relu" else spec.alpha
    da1 = g.dz2 @ c.params.W2.T
    # one-sided on each side of the kink: the quotient's error is first order in h, the
    # forward-difference truncation h f''/2 (FORWARD_DIFFERENCE_RTOL), not central's h^2
    assert central.dz1[0, 0] == pytest.approx((1 + slope) / 2 * da1[0, 0], rel=FORWARD_DIFFERENCE_RTOL)
    assert abs(central.dz1[0, 0] - g.dz1[0, 0]) > 1e3 * FORWARD_DIFFERENCE_RTOL * abs(da1[0, 0])
    ok = ~central_mask
    err = np.max(np.abs(central.dz1[ok] - g.dz1[ok])) / np.max(np.abs(g.dz1))
    assert err <= CENTRAL_DIFFERENCE_RTOL, f"central differences away from the kink: {err:.3g}"


# ---------------------------------------------------------------------------------------------
# 4. sigmoid' in float32 on saturated units
# ---------------------------------------------------------------------------------------------

def _ulps(got: np.ndarray, truth: np.ndarray, dt: np.dtype) -> np.ndarray:
    """|got - truth| in units in the last place of the (normal) true values."""
    return np.abs(got.astype(np.float64) - truth) / np.spacing(np.abs(truth).astype(dt))


def test_sigmoid_derivative_is_cancellation_free_in_float32():
    """sigma'(z) = sigma(z) sigma(-z) from z in float32 on |z| in [10, 30] is within a few ulps
    of mpmath's 40-digit truth (WORKSPACE_DZ1_ULP: the same budget as tanh' = 1/cosh^2, a rounded
    exp then a product and a division), while sigma (1 - sigma) of a float32 sigma loses every
    digit once sigma rounds to 1 (z > ~17): relative error 1 there."""
    mag = np.linspace(10.0, 30.0, 201)
    z = np.concatenate([mag, -mag]).astype(np.float32)
    with mpmath.workdps(40):
        truth = np.array([float(mpmath.mpf(1) / (1 + mpmath.exp(-mpmath.mpf(float(v))))
                                * (mpmath.mpf(1) / (1 + mpmath.exp(mpmath.mpf(float(v)))))) for v in z])
    ours = activations.derivative("sigmoid", z)
    assert ours.dtype == np.float32 and np.all(np.isfinite(ours))
    ulps = _ulps(ours, truth, np.float32)
    assert ulps.max() <= WORKSPACE_DZ1_ULP, f"sigmoid' from z: {ulps.max():.2f} ulp"
    s = activations.sigmoid(z)
    textbook = s * (np.float32(1) - s)
    assert textbook.dtype == np.float32
    rel = np.abs(textbook.astype(np.float64) - truth) / truth
    assert rel.max() >= FRAMEWORK_CANCELLATION_MIN_ERROR, f"sigma (1 - sigma): only {rel.max():.3g}"
    assert _ulps(textbook, truth, np.float32).max() > 1e3 * WORKSPACE_DZ1_ULP


# ---------------------------------------------------------------------------------------------
# 5. bad spec values
# ---------------------------------------------------------------------------------------------

BAD_SPECS = {
    "unknown-activation": ({"activation": "gelu"}, "activation"),
    "negative-l2": ({"l2": -1e-3}, "l2"),
    "nan-l2": ({"l2": float("nan")}, "l2"),
    "inf-l2": ({"l2": float("inf")}, "l2"),
    "alpha-negative": ({"activation": "leaky_relu", "alpha": -0.1}, "alpha"),
    "alpha-one": ({"activation": "leaky_relu", "alpha": 1.0}, "alpha"),
    "alpha-nan": ({"activation": "leaky_relu", "alpha": float("nan")}, "alpha"),
    "alpha-without-leaky": ({"activation": "relu", "alpha": 0.2}, "alpha"),
    "unknown-l2-form": ({"l2": 1e-3, "l2_form": "double"}, "l2_form"),
    "unknown-reduction": ({"reduction": "max"}, "reduction"),
    "non-bool-l2-biases": ({"l2": 1e-3, "l2_biases": "yes"}, "l2_biases"),
}


@pytest.mark.parametrize("how", ["constructor", "from_dict"])
@pytest.mark.parametrize("fields,field", list(BAD_SPECS.values()), ids=list(BAD_SPECS))
def test_bad_spec_value_names_the_field(fields, field, how):
    make = (lambda d: NetworkSpec(**d)) if how == "constructor" else NetworkSpec.from_dict
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        make(fields)


def test_unknown_spec_field_is_named():
    with pytest.raises(ValueError, match="unknown network spec field.*lambda_"):
        NetworkSpec.from_dict({"activation": "relu", "lambda_": 0.1})
    with pytest.raises(ValueError, match="unknown network spec field.*lambda_"):
        as_spec({"lambda_": 0.1})


@pytest.mark.parametrize("bad", ["relu", 3, ["relu"]], ids=["str", "int", "list"])
def test_as_spec_of_a_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError) as err:
        as_spec(bad)
    assert str(err.value) == ("spec must be a scratch.NetworkSpec (or a mapping of its fields), got "
                              f"{type(bad).__name__}")


# ---------------------------------------------------------------------------------------------
# 6. the seed-only parts refuse another member
# ---------------------------------------------------------------------------------------------

NON_SEED = {"relu": NetworkSpec("relu"), "sum": NetworkSpec(reduction="sum"), "l2": NetworkSpec(l2=1e-3),
            "sigmoid-as-dict": {"activation": "sigmoid"}}
non_seed_param = pytest.mark.parametrize("spec", list(NON_SEED.values()), ids=list(NON_SEED))


def _curvature_call(name: str, spec):
    from scratch import curvature

    c = make_case(0, SHAPES["small"], np.float64, "labels")
    v = curvature.random_direction(c.params, np.random.default_rng(0))
    return lambda: getattr(curvature, name)(c.params, c.x, c.y, v, spec=spec)


CURVATURE = ("hvp", "gnvp", "hessian_terms", "r_grads")


@non_seed_param
@pytest.mark.parametrize("name", CURVATURE)
def test_curvature_refuses_another_member(name, spec):
    with pytest.raises(ValueError, match=rf"scratch\.curvature\.{name} implements the seed network only.*got spec"):
        _curvature_call(name, spec)()


@pytest.mark.parametrize("name", CURVATURE)
def test_curvature_accepts_the_seed_spec(name):
    """spec=SEED (or a mapping of the seed's fields) computes exactly what the call without spec does."""
    got = _curvature_call(name, {"activation": "tanh"})()
    want = _curvature_call(name, SEED)()
    flat = lambda r: [np.asarray(a) for part in r for a in (part if isinstance(part, tuple) else (part,))]
    assert all(np.array_equal(a, b) for a, b in zip(flat(got), flat(want)))


@non_seed_param
def test_workspace_refuses_another_member(spec):
    with pytest.raises(ValueError, match=r"scratch\.Workspace implements the seed network only.*got spec"):
        scratch.Workspace(4, 3, 5, 3, spec=spec)
    assert scratch.Workspace(4, 3, 5, 3, spec=SEED).dims == (4, 3, 5, 3)


def test_loss_and_grads_with_a_workspace_refuses_another_member():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    ws = scratch.Workspace(*c.x.shape, *c.params.W2.shape)
    with pytest.raises(ValueError, match="workspace.*implements the seed network only"):
        scratch.loss_and_grads(c.params, c.x, c.y, workspace=ws, spec=NetworkSpec("relu"))


def test_kink_flag_covers_the_weight_step():
    """A unit with |z1| beyond z1's own central step but within a W1 step times |x| is flagged:
    the central difference for dW1 moves z1 by h(W1) |x|, across the kink."""
    from oracles import numeric

    h1 = float(numeric.default_step(np.array([1.0]))[0])  # eps^(1/3), 6.1e-6
    x = np.array([[4.0, 0.0, 0.0]])
    W1 = np.zeros((3, 2))
    W1[:, 1] = 1.0  # unit 1: z1 = 4, far from the kink
    b1 = np.array([2 * h1, 0.0])  # unit 0: z1 = 1.2e-5, beyond z1's step, within 4 h(W1)
    params = Params(W1, b1, np.ones((2, 2)), np.zeros(2))
    z1 = x @ W1 + b1
    assert abs(z1[0, 0]) > numeric.default_step(z1)[0, 0]
    mask = numeric.kink_entries(params, x, spec=NetworkSpec(activation="relu"))
    assert mask[0, 0] and not mask[0, 1]
