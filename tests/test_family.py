"""The family of networks (scratch.spec.NetworkSpec): every member proven like the seed network.

How the cross product is chosen (the suite must stay fast on 2 cores):

- **every member x every oracle** (fused route; the staged route against torch) runs on
  :data:`CASES`, eight (shape, dtype,
  target, seed) combinations picked so that every pair of (dtype, target kind) occurs, every
  dtype meets every shape family (N = 1, H = 1, C = 1, square, tall, wide, C = 10) and every seed
  0-6 appears: pairwise coverage of the four axes instead of their full product (the seed
  network's full product stays in tests/test_oracles.py);
- :data:`MEMBERS` is every activation (leaky ReLU at two slopes) plus the L2 / reduction
  conventions real code uses (CS231n's relu + full-form L2 + sum, L2 on the biases too, a summed
  sigmoid), so every axis value meets every oracle;
- sigmoid and tanh also run on the saturated "confident" problem in float32 (the
  cancellation-free derivative is what keeps those within tolerance);
- the identities (L2 forms, biases, sum = N x mean), the kink, the cancellation and the refusals
  are single small cases each.

float64 cases compare on identical arrays; float32 cases against the oracle in float64 on the
same float32-rounded arrays (the truth), through ``scratch.compare.check_case`` at
``scratch.tolerances.oracle_rtol``.  The numeric oracle is the complex step there (float64); the
central differences of float64 are checked separately on the smooth members and kink-free cases.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import oracles
import scratch
from oracles import numeric
from scratch import activations
from scratch.cases import SHAPES, SPECIAL_SHAPES, draw, make_case
from scratch.compare import check_case, format_failures
from scratch.network import Params
from scratch.spec import SEED, NetworkSpec
from scratch.tolerances import (
    CENTRAL_DIFFERENCE_RTOL,
    COMPLEX_STEP_RTOL,
    EPS32,
    FLOAT64_ORACLE_RTOL,
    IDENTITY_RTOL,
    oracle_rtol,
)

#: id -> member: every activation, then the L2 and reduction conventions of real code.
MEMBERS = {
    "tanh": SEED,
    "relu": NetworkSpec(activation="relu"),
    "leaky_relu": NetworkSpec(activation="leaky_relu"),
    "leaky_relu0.2": NetworkSpec(activation="leaky_relu", alpha=0.2),
    "sigmoid": NetworkSpec(activation="sigmoid"),
    "relu-l2full-sum": NetworkSpec(activation="relu", l2=1e-3, l2_form="full", reduction="sum"),
    "tanh-l2half-biases": NetworkSpec(l2=0.05, l2_biases=True),
    "sigmoid-sum": NetworkSpec(activation="sigmoid", reduction="sum"),
}
member_param = pytest.mark.parametrize("member", list(MEMBERS), ids=list(MEMBERS))
ORACLES = ("torch", "jax", "numeric")
#: (oracle, our route): the fused route against every oracle, the staged one against torch (the
#: two routes agree to ROUTE_RTOL, tests/test_routes.py; here each member's staged (2') is proven).
ROUTED = [("torch", "fused"), ("jax", "fused"), ("numeric", "fused"), ("torch", "staged")]

#: (shape, dtype, target, seed): pairwise coverage of the axes (see the module docstring).
CASES = [
    ("small", "float64", "labels", 0),
    ("square", "float32", "soft", 1),
    ("h1", "float64", "unnormalized", 2),
    ("c1", "float32", "onehot", 3),
    ("tall", "float64", "soft", 4),
    ("n1", "float32", "labels", 5),
    ("c10", "float64", "onehot", 6),
    ("wide", "float32", "unnormalized", 0),
]
case_param = pytest.mark.parametrize("shape, dtype, target, seed", CASES, ids=["-".join(map(str, c)) for c in CASES])


def ours(spec, route="fused"):
    return functools.partial(scratch.loss_and_grads, route=route, spec=spec)


def oracle(name, spec):
    return functools.partial(oracles.get(name), spec=spec)


def dims_of(shape):
    return SHAPES[shape] if shape in SHAPES else SPECIAL_SHAPES[shape]


def assert_agree(got_fn, ref_fn, case, rtol):
    checks = check_case(got_fn, ref_fn, case.params, case.x, case.y, rtol=rtol)
    failures = format_failures(checks)
    assert not failures, f"{case.name}:\n{failures}"


# ------------------------------------------------------------------------- every member, every oracle
@pytest.mark.parametrize("oracle_name, route", ROUTED, ids=["-".join(r) for r in ROUTED])
@member_param
@case_param
def test_member_matches_oracle(member, oracle_name, route, shape, dtype, target, seed):
    """Shape, dtype, finiteness, then values of loss and all six gradients (scratch.compare)."""
    spec = MEMBERS[member]
    case = draw(seed, shape, dtype, target, spec=spec)
    assert case.spec == spec
    assert_agree(ours(spec, route), oracle(oracle_name, spec), case, oracle_rtol(dtype, dims_of(shape)))


@pytest.mark.parametrize("oracle_name", ["torch", "jax"])
@pytest.mark.parametrize("member", ["tanh", "sigmoid", "sigmoid-sum"])
def test_saturated_float32_matches_the_truth(member, oracle_name):
    """The confident problem (every |z1| in [10.5, 21]) in float32 against the float64 truth:
    only a derivative computed from z (not from a rounded activation) meets the tolerance."""
    spec = MEMBERS[member]
    case = draw(0, "confident", "float32", "labels", spec=spec)
    assert_agree(ours(spec), oracle(oracle_name, spec), case, oracle_rtol("float32", SPECIAL_SHAPES["confident"]))


@pytest.mark.parametrize("member", ["tanh", "sigmoid", "leaky_relu0.2", "relu-l2full-sum", "tanh-l2half-biases"])
@pytest.mark.parametrize("shape", ["small", "tall"])
def test_member_matches_central_differences(member, shape):
    """float64 central differences (step eps^(1/3)) at CENTRAL_DIFFERENCE_RTOL, on cases with no
    z1 within a step of a kink (asserted: otherwise central differences are invalid there)."""
    spec = MEMBERS[member]
    case = draw(3, shape, "float64", "soft", spec=spec)
    assert not numeric.kink_entries(case.params, case.x, spec=spec).any()
    central = functools.partial(numeric.loss_and_grads, method="central", spec=spec)
    assert_agree(ours(spec), central, case, CENTRAL_DIFFERENCE_RTOL)


@pytest.mark.parametrize("member", list(MEMBERS), ids=list(MEMBERS))
def test_complex_step_at_its_own_tolerance(member):
    """The complex step (float64) at COMPLEX_STEP_RTOL, far tighter than the autograd 1e-10."""
    spec = MEMBERS[member]
    case = draw(4, "square", "float64", "unnormalized", spec=spec)
    assert_agree(ours(spec), oracle("numeric", spec), case, COMPLEX_STEP_RTOL)


@member_param
def test_inputs_never_modified(member):
    spec = MEMBERS[member]
    case = draw(1, "small", "float64", "soft", spec=spec)
    before = [a.copy() for a in (*case.params, case.x, case.y)]
    for fn in (ours(spec), ours(spec, "staged"), *(oracle(o, spec) for o in ORACLES)):
        fn(case.params, case.x, case.y)
        scratch.loss(case.params, case.x, case.y, spec=spec)
        scratch.predict(case.params, case.x, spec=spec)
    for b, a in zip(before, (*case.params, case.x, case.y)):
        np.testing.assert_array_equal(a, b)


@member_param
def test_forward_loss_predict_agree(member):
    """loss() is loss_and_grads()'s loss; predict() is the argmax of forward()'s yhat; all finite."""
    spec = MEMBERS[member]
    case = draw(2, "c10", "float64", "labels", spec=spec)
    L, _ = scratch.loss_and_grads(case.params, case.x, case.y, spec=spec)
    L_alone = scratch.loss(case.params, case.x, case.y, spec=spec)
    assert np.isfinite(L) and L == L_alone
    yhat = scratch.forward(case.params, case.x, spec=spec).yhat
    assert np.all(np.isfinite(yhat))
    np.testing.assert_array_equal(scratch.predict(case.params, case.x, spec=spec), np.argmax(yhat, axis=1))


# ----------------------------------------------------------------------------------- the identities
@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
@pytest.mark.parametrize("biases", [False, True], ids=["weights", "biases"])
def test_l2_half_with_lambda_is_full_with_half_lambda_exactly(activation, biases):
    case = make_case(0, SHAPES["small"], np.float64, "soft", bias_scale=0.5)
    lam = 0.3
    half = NetworkSpec(activation=activation, l2=lam, l2_form="half", l2_biases=biases)
    full = NetworkSpec(activation=activation, l2=lam / 2, l2_form="full", l2_biases=biases)
    assert half.canonical() == full.canonical()
    La, ga = scratch.loss_and_grads(case.params, case.x, case.y, spec=half)
    Lb, gb = scratch.loss_and_grads(case.params, case.x, case.y, spec=full)
    assert np.isfinite(La) and La == Lb
    for q, a, b in zip(scratch.Grads._fields, ga, gb):
        assert np.all(np.isfinite(a)) and np.array_equal(a, b), q


@pytest.mark.parametrize("l2_form, k", [("half", 1.0), ("full", 2.0)])
def test_l2_penalty_and_gradient_written_out(l2_form, k):
    """Against the formulas written here: R = (k/2) lambda sum ||W||^2, dR/dW = k lambda W, biases
    only with l2_biases; dz2 and dz1 untouched by L2."""
    case = make_case(1, SHAPES["small"], np.float64, "labels", bias_scale=0.5)
    W1, b1, W2, b2 = case.params
    lam = 0.2
    L0, g0 = scratch.loss_and_grads(case.params, case.x, case.y)
    for biases in (False, True):
        spec = NetworkSpec(l2=lam, l2_form=l2_form, l2_biases=biases)
        L, g = scratch.loss_and_grads(case.params, case.x, case.y, spec=spec)
        sq = np.sum(W1**2) + np.sum(W2**2) + (np.sum(b1**2) + np.sum(b2**2) if biases else 0.0)
        np.testing.assert_allclose(L - L0, k / 2 * lam * sq, rtol=IDENTITY_RTOL)
        np.testing.assert_allclose(g.dW1 - g0.dW1, k * lam * W1, rtol=IDENTITY_RTOL, atol=0)
        np.testing.assert_allclose(g.dW2 - g0.dW2, k * lam * W2, rtol=IDENTITY_RTOL, atol=0)
        np.testing.assert_allclose(g.db1 - g0.db1, k * lam * b1 if biases else 0 * b1, rtol=IDENTITY_RTOL, atol=1e-16)
        np.testing.assert_allclose(g.db2 - g0.db2, k * lam * b2 if biases else 0 * b2, rtol=IDENTITY_RTOL, atol=1e-16)
        assert np.array_equal(g.dz2, g0.dz2) and np.array_equal(g.dz1, g0.dz1)
        assert np.abs(b1).min() > 0  # the biases test above can fail


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
@pytest.mark.parametrize("route", ["fused", "staged"])
def test_sum_is_n_times_mean_for_the_data_part(activation, route):
    """reduction "sum" = N x "mean" for the loss and every gradient; the L2 penalty is not scaled."""
    case = make_case(2, SHAPES["square"], np.float64, "unnormalized", bias_scale=0.5)
    N = case.x.shape[0]
    lam = 0.1
    mean = NetworkSpec(activation=activation, l2=lam)
    summed = NetworkSpec(activation=activation, l2=lam, reduction="sum")
    Lm, gm = scratch.loss_and_grads(case.params, case.x, case.y, route=route, spec=mean)
    Ls, gs = scratch.loss_and_grads(case.params, case.x, case.y, route=route, spec=summed)
    R = lam / 2 * (np.sum(case.params.W1**2) + np.sum(case.params.W2**2))
    assert np.isfinite(Ls) and np.isfinite(Lm)
    np.testing.assert_allclose(Ls - R, N * (Lm - R), rtol=IDENTITY_RTOL)
    reg = {"dW1": lam * case.params.W1, "dW2": lam * case.params.W2}
    for q, a, b in zip(scratch.Grads._fields, gs, gm):
        r = reg.get(q, 0.0)
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a - r, N * (b - r), rtol=IDENTITY_RTOL, atol=1e-14, err_msg=q)


# ---------------------------------------------------------------------------------------- the kink
def kink_case(dtype=np.float64):
    """A case with z1 exactly 0.0 in four entries: row 0 of x is 0 and b1[0:3] = 0
    (z1[0, 0:3] = 0), and row 1 of x is (1, -1, 0) with W1[0, 1] = W1[1, 1]
    (z1[1, 1] = W1[0, 1] - W1[1, 1] + 0 = 0, exactly in binary)."""
    c = make_case(5, SHAPES["small"], dtype, "labels", bias_scale=0.5)
    W1, b1, W2, b2 = (p.copy() for p in c.params)
    x = c.x.copy()
    x[0] = 0.0
    x[1] = (1.0, -1.0, 0.0)
    W1[1, 1] = W1[0, 1]
    b1[[0, 1, 2]] = 0.0
    params = Params(W1, b1, W2, b2)
    z1 = x @ W1 + b1
    mask = z1 == 0.0
    assert mask.sum() == 4 and mask[0, :3].all() and mask[1, 1]
    return params, x, c.y, mask


@pytest.mark.parametrize("activation, slope", [("relu", 0.0), ("leaky_relu", 0.01)])
def test_kink_derivative_convention(activation, slope):
    """At exactly z1 = 0: f'(0) = 0 for relu, alpha for leaky relu, in our two routes, torch, JAX
    and the complex step (whose branch is chosen on the real part, never crossing the kink)."""
    spec = NetworkSpec(activation=activation)
    params, x, y, mask = kink_case()
    results = {"fused": ours(spec)(params, x, y), "staged": ours(spec, "staged")(params, x, y),
               **{o: oracle(o, spec)(params, x, y) for o in ORACLES}}
    _, g = results["fused"]
    da1 = g.dz2 @ params.W2.T  # (2') dz1 = da1 * f'(z1)
    assert np.all(np.abs(da1[mask]) > 1e-3)  # the kink entries carry gradient: a wrong slope shows
    np.testing.assert_array_equal(g.dz1[mask], slope * da1[mask])
    for name, res in results.items():
        checks = check_case(lambda *a, r=res: r, ours(spec), params, x, y, rtol=FLOAT64_ORACLE_RTOL)
        assert not format_failures(checks), f"{name}:\n{format_failures(checks)}"
    assert np.array_equal(activations.derivative(activation, np.zeros(3)), np.full(3, slope))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_central_differences_are_flagged_at_the_kink(activation):
    """kink_entries marks exactly the z1 within a central step of 0; there central differences
    take the mean of the two slopes (wrong), elsewhere they agree; the complex step needs no flag."""
    spec = NetworkSpec(activation=activation)
    params, x, y, mask = kink_case()
    flagged = numeric.kink_entries(params, x, spec=spec, method="central")
    np.testing.assert_array_equal(flagged, mask)
    assert not numeric.kink_entries(params, x, spec=spec, method="complex").any()
    assert not numeric.kink_entries(params, x, spec=NetworkSpec(activation="sigmoid")).any()
    _, g = scratch.loss_and_grads(params, x, y, spec=spec)
    _, gc = numeric.loss_and_grads(params, x, y, method="central", spec=spec)
    assert np.all(np.abs(gc.dz1[flagged] - g.dz1[flagged]) > 1e-4 * np.abs(g.dz2).max())
    np.testing.assert_allclose(gc.dz1[~flagged], g.dz1[~flagged], rtol=CENTRAL_DIFFERENCE_RTOL, atol=1e-12)


# -------------------------------------------------------------------------------- cancellation-free
def sigmoid_prime_truth(z):
    """sigma'(z) = e^{-|z|} / (1 + e^{-|z|})^2 in float64 (math.exp, written here)."""
    return np.array([math.exp(-abs(t)) / (1.0 + math.exp(-abs(t))) ** 2 for t in np.asarray(z, dtype=np.float64)])


def test_sigmoid_derivative_from_z_keeps_every_digit_in_float32():
    z = np.array([-90.0, -40.0, -20.0, -8.0, -0.5, 0.0, 0.5, 8.0, 17.0, 20.0, 40.0, 90.0], dtype=np.float32)
    got = activations.derivative("sigmoid", z)
    truth = sigmoid_prime_truth(z)
    assert got.dtype == np.float32 and np.all(np.isfinite(got)) and np.all(got > 0)
    assert np.max(np.abs(got - truth) / truth) < 8 * EPS32
    # sigma (1 - sigma) of the rounded sigma loses everything at z >= 17 (sigma rounds to 1 in float32)
    textbook = activations.derivative_from_activation("sigmoid", activations.sigmoid(z))
    assert np.max(np.abs(textbook - truth) / truth) > 0.5


# ---------------------------------------------------------------------------------- bad spec values
@pytest.mark.parametrize("kwargs, field", [
    ({"activation": "gelu"}, "activation"),
    ({"activation": "leaky_relu", "alpha": 1.0}, "alpha"),
    ({"activation": "leaky_relu", "alpha": -0.1}, "alpha"),
    ({"activation": "leaky_relu", "alpha": float("nan")}, "alpha"),
    ({"activation": "relu", "alpha": 0.2}, "alpha"),
    ({"l2": -1e-3}, "l2"),
    ({"l2": float("nan")}, "l2"),
    ({"l2": float("inf")}, "l2"),
    ({"l2": "0.1"}, "l2"),
    ({"l2_form": "double"}, "l2_form"),
    ({"l2_biases": "yes"}, "l2_biases"),
    ({"reduction": "median"}, "reduction"),
], ids=["activation", "alpha-1", "alpha-neg", "alpha-nan", "alpha-relu", "l2-neg", "l2-nan", "l2-inf", "l2-str",
        "l2_form", "l2_biases", "reduction"])
def test_bad_spec_value_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        NetworkSpec(**kwargs)


def test_from_dict_unknown_field_is_named():
    with pytest.raises(ValueError, match="unknown network spec field.*activaton"):
        NetworkSpec.from_dict({"activaton": "relu"})
    assert NetworkSpec.from_dict(None) == SEED and NetworkSpec.from_dict({}) == SEED
    spec = NetworkSpec(activation="leaky_relu", alpha=0.2, l2=1e-3, l2_form="full", l2_biases=True, reduction="sum")
    assert NetworkSpec.from_dict(spec.as_dict()) == spec


def test_spec_of_the_wrong_type_is_refused():
    case = make_case(0, SHAPES["small"], np.float64, "labels")
    with pytest.raises(TypeError, match="spec must be a scratch.NetworkSpec"):
        scratch.loss_and_grads(case.params, case.x, case.y, spec="relu")


# -------------------------------------------------------------------------------------- refusals
def refusers():
    """name -> a call of the seed-only code with ``spec``."""
    from scratch import curvature
    from scratch.workspace import Workspace

    case = make_case(0, SHAPES["small"], np.float64, "labels")
    p, x, y = case.params, case.x, case.y
    v = Params(*(np.ones_like(a) for a in p))
    N, D = x.shape
    H, C = p.W2.shape
    return {
        "Workspace": lambda s: Workspace(N, D, H, C, spec=s),
        "Workspace-numba": lambda s: Workspace(N, D, H, C, tanh="numba", spec=s),
        "numba_kernels": lambda s: __import__("scratch.numba_kernels", fromlist=["kernels"]).kernels(np.float64, spec=s),
        "hvp": lambda s: curvature.hvp(p, x, y, v, spec=s),
        "gnvp": lambda s: curvature.gnvp(p, x, y, v, spec=s),
        "hessian_terms": lambda s: curvature.hessian_terms(p, x, y, v, spec=s),
        "r_grads": lambda s: curvature.r_grads(p, x, y, v, spec=s),
        "loss_and_grads-workspace": lambda s: scratch.loss_and_grads(p, x, y, workspace=Workspace(N, D, H, C), spec=s),
    }


REFUSERS = ["Workspace", "Workspace-numba", "numba_kernels", "hvp", "gnvp", "hessian_terms", "r_grads",
            "loss_and_grads-workspace"]


@pytest.mark.parametrize("who", REFUSERS)
@pytest.mark.parametrize("member", ["relu", "sigmoid", "tanh-l2half-biases", "sigmoid-sum"])
def test_seed_only_code_refuses_another_member(who, member):
    with pytest.raises(ValueError, match="seed network only"):
        refusers()[who](MEMBERS[member])


@pytest.mark.parametrize("who", REFUSERS)
def test_seed_only_code_accepts_the_seed(who):
    call = refusers()[who]
    call(SEED)
    call(None)
    call({"activation": "tanh", "l2_form": "full"})  # no L2: the seed network whatever the form says
