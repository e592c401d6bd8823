"""Hypothesis property tests: the identities the derivation (README, "The derivation") rests on.

Each test names the identity it checks; the README section cites these tests by name.  Cases
are drawn by hypothesis (shapes up to 6, every target kind, logits from mild to confident),
float64 throughout.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import scratch
from oracles.numeric import COMPLEX_STEP
from scratch.cases import TARGETS, make_case
from scratch.compare import relative_error
from scratch.network import Params
from scratch.tolerances import EPS64, IDENTITY_RTOL, sum_atol

#: Modest example counts: the whole file runs in a few seconds.
PROPERTY = settings(max_examples=30, deadline=None)

dims = st.integers(1, 6)
#: A float64 case: any small shape, any target kind, logits from mild (0.3) to confident (10).
cases = st.builds(
    make_case,
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(dims, dims, dims, dims),
    target=st.sampled_from(TARGETS),
    logit_scale=st.sampled_from([0.3, 1.0, 3.0, 10.0]),
)
normalised_cases = cases.filter(lambda c: c.name.rsplit("-", 1)[-1] != "unnormalized")
#: Rows of logits with 10 fractional bits (so z + c below is exact), |z| <= 60.
dyadic_logits = st.tuples(dims, st.integers(1, 12)).flatmap(
    lambda nc: arrays(np.int64, nc, elements=st.integers(-60 * 1024, 60 * 1024)).map(lambda k: k / 1024.0)
)
logits = st.tuples(dims, st.integers(1, 12)).flatmap(
    lambda nc: arrays(np.float64, nc, elements=st.floats(-40, 40, allow_nan=False))
)


def assert_within_rounding(got, want, terms):
    """|got - want| <= IDENTITY_RTOL * terms elementwise, where ``terms`` is the size of what was
    added or subtracted on the way (not of the result, which may be a cancellation)."""
    err = np.abs(np.asarray(got) - np.asarray(want))
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(want))
    bad = err > IDENTITY_RTOL * np.asarray(terms)
    assert not np.any(bad), f"{int(bad.sum())} entries off by up to {err.max():.3g} (terms {np.max(terms):.3g})"


def assert_all_within(errors, rtol=IDENTITY_RTOL):
    """Every named relative error in ``errors`` (name -> float) is <= ``rtol``; a failure lists
    all of them at once instead of stopping at the first."""
    bad = {name: f"{e:.3g}" for name, e in errors.items() if not e <= rtol}
    assert not bad, f"relative error above {rtol:g}: {bad}"


def targets_matrix(c):
    """(N, C) targets of a case (one-hot for labels) and their row sums s_n."""
    C = c.params.W2.shape[1]
    Y = scratch.one_hot(c.y, C, np.float64) if c.y.ndim == 1 else c.y
    return Y, Y.sum(axis=1)


# --- the softmax and its Jacobian ----------------------------------------------------------


@PROPERTY
@given(z=dyadic_logits, c=st.integers(-10**6, 10**6))
def test_softmax_shift_invariance(z, c):
    """(4) softmax(z + c) = softmax(z) for any per-row constant; with dyadic z and integer c the
    max-shifted computation is *bitwise* identical, even for c = ±1e6 (no overflow)."""
    shift = c + np.arange(z.shape[0])[:, None]
    assert np.array_equal(scratch.softmax(z + shift), scratch.softmax(z))
    assert np.array_equal(scratch.log_softmax(z + shift), scratch.log_softmax(z))


@PROPERTY
@given(z=logits)
def test_softmax_rows_are_distributions(z):
    """(4) every yhat_nk in [0, 1] and every row sums to 1; (5) log yhat <= 0."""
    yhat = scratch.softmax(z)
    assert np.all((yhat >= 0) & (yhat <= 1))
    np.testing.assert_allclose(yhat.sum(axis=1), 1.0, rtol=0, atol=sum_atol(z.shape[1]))
    assert np.all(scratch.log_softmax(z) <= 0)


@PROPERTY
@given(z=logits)
def test_jacobian_symmetric_rows_sum_to_zero(z):
    """J_n = diag(yhat_n) - yhat_n yhat_n^T is exactly symmetric, each row sums to 0, J_n 1 = 0."""
    yhat = scratch.softmax(z)
    J = scratch.softmax_jacobian(yhat)
    assert np.array_equal(J, np.swapaxes(J, 1, 2))
    # row i holds yhat_i and -yhat_i yhat_j: terms of total size 2 yhat_i
    assert np.all(np.abs(J.sum(axis=2)) <= sum_atol(z.shape[1] + 1) * 2 * yhat)


@PROPERTY
@given(z=logits)
def test_jacobian_is_positive_semidefinite(z):
    """J_n is a covariance matrix (of a one-hot draw from yhat_n): eigenvalues >= 0, within the
    rounding of its entries (~eps yhat_i each, from yhat_i - yhat_i^2)."""
    yhat = scratch.softmax(z)
    eig = np.linalg.eigvalsh(scratch.softmax_jacobian(yhat))
    assert np.all(eig >= -sum_atol(2 * z.shape[1]) * yhat.max(axis=1, keepdims=True))


@PROPERTY
@given(z=logits)
def test_jacobian_is_the_derivative_of_softmax(z):
    """(J_n)_ij = d yhat_ni / d z_nj, column by column by complex step (Im softmax(z + i h e_j) / h).

    Up to the rounding of J's own formula: yhat_i - yhat_i^2 loses ~eps yhat_i, i.e. everything
    once yhat_i rounds to 1 (the cancellation the fused route avoids); the complex step does not.
    """
    C = z.shape[1]
    yhat = scratch.softmax(z)
    cols = [np.imag(scratch.softmax(z + 1j * COMPLEX_STEP * np.eye(C)[j])) / COMPLEX_STEP for j in range(C)]
    numeric = np.stack(cols, axis=2)  # (N, C, C): [n, i, j] = d yhat_i / d z_j
    assert_within_rounding(scratch.softmax_jacobian(yhat), numeric, yhat[:, :, None] * np.ones(C))


@PROPERTY
@given(z=logits, seed=st.integers(0, 2**32 - 1))
def test_vjp_without_forming_the_jacobian(z, seed):
    """J_n^T g_n = yhat_n * (g_n - yhat_n . g_n): the C x C partials collapse to C numbers."""
    yhat = scratch.softmax(z)
    g = np.random.default_rng(seed).standard_normal(z.shape)
    full = np.einsum("nij,ni->nj", scratch.softmax_jacobian(yhat), g)
    terms = yhat * (np.abs(g) + np.sum(yhat * np.abs(g), axis=1, keepdims=True))  # |yhat_j g_j| + yhat_j |yhat . g|
    assert_within_rounding(scratch.softmax_vjp(yhat, g), full, terms)


# --- dz2: where dl enters, the collapse to yhat - y, the 1/N -----------------------------------


@PROPERTY
@given(c=cases)
def test_rows_of_dz2_sum_to_zero(c):
    """sum_c dz2_nc = (s_n sum_c yhat_nc - s_n)/N = 0 for every target kind (L is invariant to
    adding a constant to a row of z2), so db2 = sum_n dz2 sums to 0 too."""
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    Y, s = targets_matrix(c)
    N, C = g.dz2.shape
    terms = (scratch.forward(c.params, c.x).yhat * s[:, None] + Y) / N  # dz2 = yhat s / N - y / N
    assert np.all(np.abs(g.dz2.sum(axis=1)) <= sum_atol(2 * C) * terms.sum(axis=1))
    assert abs(g.db2.sum()) <= sum_atol(2 * N * C) * terms.sum()


@PROPERTY
@given(c=normalised_cases)
def test_dz2_is_yhat_minus_y_over_n_for_normalised_targets(c):
    """(4') collapses to (yhat - y)/N when every row of y sums to 1 (labels, one-hot, soft)."""
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    Y, _ = targets_matrix(c)
    yhat = scratch.forward(c.params, c.x).yhat
    assert_within_rounding(g.dz2, (yhat - Y) / c.x.shape[0], (yhat + Y) / c.x.shape[0])


@PROPERTY
@given(c=cases)
def test_dz2_general_form_and_what_yhat_minus_y_misses(c):
    """In general dz2 = (yhat s - y)/N = (yhat - y)/N + yhat (s - 1)/N: the textbook form misses
    the last term exactly when the rows of y do not sum to 1."""
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    Y, s = targets_matrix(c)
    yhat = scratch.forward(c.params, c.x).yhat
    N = c.x.shape[0]
    textbook = (yhat - Y) / N  # cancels where yhat ~ y ~ 1; compare within the size of the terms
    assert_within_rounding(g.dz2, textbook + yhat * (s[:, None] - 1) / N, (yhat * s[:, None] + Y) / N)


@PROPERTY
@given(c=cases)
def test_dz2_is_the_staged_vjp(c):
    """(7') -> (6') -> (5') -> (4'): dPL = -1/N, dl = y dPL, dyhat = dl / yhat, dz2 = J^T dyhat
    gives the same dz2 as the closed form (the 1/yhat of (5') cancels the yhat in J)."""
    fwd = scratch.forward(c.params, c.x)
    st_ = scratch.dz2_staged(fwd.yhat, c.y, c.y.ndim == 1)
    Y, _ = targets_matrix(c)
    N = c.x.shape[0]
    assert np.all(st_.dPL == -1.0 / N)
    assert_within_rounding(st_.dl, -Y / N, Y / N)
    fused = scratch.loss_and_grads(c.params, c.x, c.y)[1].dz2
    s = Y.sum(axis=1, keepdims=True)
    assert_within_rounding(st_.dz2, fused, (fwd.yhat * s + Y) / N)


@PROPERTY
@given(c=cases.filter(lambda c: c.y.ndim == 1))
def test_dz2_signs_and_bounds_for_labels(c):
    """For labels dz2_nc = (yhat_nc - [c = y_n])/N: the true class in [-1/N, 0], the others in [0, 1/N]."""
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    N = c.x.shape[0]
    true = g.dz2[np.arange(N), c.y]
    others = g.dz2.copy()
    others[np.arange(N), c.y] = 0.0  # leave the true class out
    assert np.all((true <= 0) & (true >= -1.0 / N))
    assert np.all((others >= 0) & (others <= 1.0 / N))


@PROPERTY
@given(c=cases)
def test_duplicating_the_batch_shows_the_one_over_n(c):
    """(7) is a mean: stacking the batch twice keeps L and dW1, db1, dW2, db2, while each row of
    dz2 and dz1 (a per-sample quantity carrying the 1/N) halves."""
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    y2 = np.concatenate([c.y, c.y])
    L2, g2 = scratch.loss_and_grads(c.params, np.concatenate([c.x, c.x]), y2)
    errors = {"loss": relative_error(L2, L)}
    errors.update((f"d{name}", relative_error(a, b)) for name, a, b in zip(Params._fields, g2.params_grads(), g.params_grads()))
    N = c.x.shape[0]
    for name in ("dz2", "dz1"):
        a, b = getattr(g2, name), getattr(g, name)
        errors[f"{name}[:N]"] = relative_error(a[:N], b / 2)
        errors[f"{name}[N:]"] = relative_error(a[N:], b / 2)
    assert_all_within(errors)


@PROPERTY
@given(c=cases, seed=st.integers(0, 2**32 - 1))
def test_permuting_samples_permutes_dz_and_keeps_the_rest(c, seed):
    perm = np.random.default_rng(seed).permutation(c.x.shape[0])
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    Lp, gp = scratch.loss_and_grads(c.params, c.x[perm], c.y[perm])
    errors = {"loss": relative_error(Lp, L)}
    errors.update((f"d{name}", relative_error(a, b)) for name, a, b in zip(Params._fields, gp.params_grads(), g.params_grads()))
    errors["dz2"] = relative_error(gp.dz2, g.dz2[perm])
    errors["dz1"] = relative_error(gp.dz1, g.dz1[perm])
    assert_all_within(errors)


@PROPERTY
@given(c=cases.filter(lambda c: c.y.ndim == 2), seed=st.integers(0, 2**32 - 1))
def test_loss_and_gradients_are_linear_in_the_targets(c, seed):
    """(6)-(7) are linear in y, and so is (4') (yhat s - y)/N: L(y + y') = L(y) + L(y'), same for
    every gradient.  Why unnormalised weights need the factor s."""
    y2 = np.random.default_rng(seed).uniform(0, 2, size=c.y.shape)
    L1, g1 = scratch.loss_and_grads(c.params, c.x, c.y)
    L2, g2 = scratch.loss_and_grads(c.params, c.x, y2)
    L, g = scratch.loss_and_grads(c.params, c.x, c.y + y2)
    errors = {"loss": relative_error(L, L1 + L2)}
    errors.update((name, relative_error(a, b1 + b2)) for name, a, b1, b2 in zip(scratch.Grads._fields, g, g1, g2))
    assert_all_within(errors)


# --- the loss --------------------------------------------------------------------------------


@PROPERTY
@given(c=cases)
def test_loss_is_non_negative(c):
    """(5) log yhat <= 0 (computed as (z - z_max) - log1p(T), both terms <= 0) and y >= 0, so
    every term of (6) is <= 0 and L >= 0 exactly, for every target kind."""
    L = scratch.loss(c.params, c.x, c.y)
    assert np.isfinite(L) and L >= 0


@PROPERTY
@given(c=normalised_cases)
def test_loss_is_at_least_the_target_entropy(c):
    """Gibbs: for rows of y on the simplex, L - mean_n H(y_n) = mean_n KL(y_n || yhat_n) >= 0."""
    Y, _ = targets_matrix(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.sum(np.where(Y > 0, Y * np.log(Y), 0.0), axis=1).mean()
    L = scratch.loss(c.params, c.x, c.y)
    assert L - H >= -IDENTITY_RTOL * max(1.0, abs(H))


@PROPERTY
@given(c=cases, shift=st.integers(-8, 8))
def test_adding_a_constant_to_b2_changes_nothing(c, shift):
    """Shift invariance of (4) through the network: b2 + c leaves L and every gradient unchanged."""
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    Ls, gs = scratch.loss_and_grads(c.params._replace(b2=c.params.b2 + float(shift)), c.x, c.y)
    errors = {"loss": relative_error(Ls, L)}
    errors.update((name, relative_error(a, b)) for name, a, b in zip(scratch.Grads._fields, gs, g))
    assert_all_within(errors)


# --- the bias gradients are weight gradients of a constant input ---------------------------------


@PROPERTY
@given(c=cases)
def test_db1_is_the_weight_gradient_of_a_constant_input(c):
    """(1') db1 = sum_n dz1: append a column of ones to x and b1 as the last row of W1 (b1 := 0);
    the last row of that network's dW1 = x'^T dz1 is the original db1."""
    W1, b1, W2, b2 = c.params
    N = c.x.shape[0]
    aug = Params(np.vstack([W1, b1]), np.zeros_like(b1), W2, b2)
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    _, ga = scratch.loss_and_grads(aug, np.hstack([c.x, np.ones((N, 1))]), c.y)
    assert relative_error(ga.dW1[-1], g.db1) <= IDENTITY_RTOL
    assert relative_error(g.db1, g.dz1.sum(axis=0)) <= IDENTITY_RTOL


@PROPERTY
@given(c=cases)
def test_db2_is_the_weight_gradient_of_a_constant_unit(c):
    """(3') db2 = sum_n dz2: add a hidden unit with z1 = 40 (tanh(40) = 1.0 exactly in float64)
    and b2 as its outgoing weights (b2 := 0); that unit's row of dW2 = a1^T dz2 is the original db2."""
    W1, b1, W2, b2 = c.params
    D = W1.shape[0]
    aug = Params(np.hstack([W1, np.zeros((D, 1))]), np.append(b1, 40.0), np.vstack([W2, b2]), np.zeros_like(b2))
    _, g = scratch.loss_and_grads(c.params, c.x, c.y)
    _, ga = scratch.loss_and_grads(aug, c.x, c.y)
    assert relative_error(ga.dW2[-1], g.db2) <= IDENTITY_RTOL
    assert relative_error(g.db2, g.dz2.sum(axis=0)) <= IDENTITY_RTOL


# --- the tanh derivative ------------------------------------------------------------------------


@PROPERTY
@given(z=arrays(np.float64, st.integers(1, 20), elements=st.floats(-300, 300, allow_nan=False)))
def test_tanh_derivative_is_sech_squared(z):
    """(2') tanh'(z) = sech^2 z = 1 - tanh^2 z in (0, 1], elementwise against the complex step of
    tanh (no cancellation, so it stays exact where 1 - a1^2 rounds to 0 for |z| > 19)."""
    d = scratch.tanh_derivative(z)
    assert np.all((d > 0) & (d <= 1 + 4 * EPS64))  # 4u/(1+u)^2 may round an ulp above 1 near u = 1
    cs = np.imag(np.tanh(z + 1j * COMPLEX_STEP)) / COMPLEX_STEP
    assert np.all(np.abs(d - cs) <= IDENTITY_RTOL * cs)
    moderate = np.abs(z) < 1
    assert np.all(np.abs(d - (1 - np.tanh(z) ** 2))[moderate] <= IDENTITY_RTOL)


@pytest.mark.parametrize("z, want", [(0.0, 1.0), (40.0, 4 * np.exp(-80.0))], ids=["zero", "saturated"])
def test_tanh_derivative_known_values(z, want):
    assert scratch.tanh_derivative(np.array([z]))[0] == pytest.approx(want, rel=IDENTITY_RTOL)
