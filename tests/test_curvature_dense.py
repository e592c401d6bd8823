"""Second order on tiny shapes, as whole matrices: the Hessian assembled from P hand-derived
H v products equals ``jax.hessian``; it is symmetric; the Gauss-Newton matrix equals JAX's
J^T H_z J and is positive semidefinite; H - G is exactly the tanh'' term (layer-1 block), the
cross term (the blocks coupling W2/b2 with W1/b1) and zero within layer 2, each shown by
itself.  Also the softmax's C x C blocks: the staged H_z (through d²L/dyhat² and the softmax's
Hessian) equals (s_n / N) J_n and JAX's Hessian in logit space.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from oracles import jax_curvature
from scratch.cases import SHAPES, make_case
from scratch.compare import check_quantity, relative_error
from scratch.curvature import dense, gnvp, hessian_terms, hvp, logit_curvature_staged
from scratch.network import forward, one_hot
from scratch.softmax import softmax_jacobian
from scratch.tolerances import FLOAT64_ORACLE_RTOL, ROUTE_RTOL, SYMMETRY_RTOL, eigenvalue_atol

#: Tiny shapes, P = 51, 12, 38 parameters.  C = 1 (c1) has an exactly zero Hessian, which a
#: relative comparison cannot check against JAX's rounding noise: test_one_class_has_no_curvature.
TINY = ["n1", "h1", "small"]
TARGETS2 = ["labels", "unnormalized", "soft"]

tiny = pytest.mark.parametrize("shape_name", TINY)
targets = pytest.mark.parametrize("target", TARGETS2)
seeds = pytest.mark.parametrize("seed", [0, 1])


def _case(seed, shape_name, target):
    return make_case(seed, SHAPES[shape_name], np.float64, target)


@functools.lru_cache(maxsize=None)
def _jax_dense(seed, shape_name, target):
    """JAX's dense (H, G) of a case, computed once per case for all the tests that use it."""
    c = _case(seed, shape_name, target)
    H, G = jax_curvature.dense_hessian(*c[:3]), jax_curvature.dense_gauss_newton(*c[:3])
    H.setflags(write=False)
    G.setflags(write=False)
    return H, G


def _assert(check):
    assert check.passed, f"{check.quantity}: {check.problem}"


def _blocks(case):
    """Index ranges of layer 1 (W1, b1) and layer 2 (W2, b2) in the flattened parameters."""
    n1 = case.params.W1.size + case.params.b1.size
    P = n1 + case.params.W2.size + case.params.b2.size
    return slice(0, n1), slice(n1, P)


@tiny
@targets
@seeds
def test_assembled_hessian_equals_jax_hessian(seed, shape_name, target):
    c = _case(seed, shape_name, target)
    H = dense(hvp, *c[:3])
    ref = _jax_dense(seed, shape_name, target)[0]
    _assert(check_quantity("H", H, ref, rtol=FLOAT64_ORACLE_RTOL, dtype=np.float64, shape=ref.shape))
    assert np.max(np.abs(H)) > 0


@tiny
@targets
@seeds
def test_assembled_hessian_is_symmetric(seed, shape_name, target):
    """Every column is an independent R-pass; the matrix is symmetric to rounding."""
    H = dense(hvp, *_case(seed, shape_name, target)[:3])
    assert np.all(np.isfinite(H))
    assert relative_error(H, H.T) <= SYMMETRY_RTOL


@tiny
@targets
@seeds
def test_gauss_newton_equals_jax_and_is_psd(seed, shape_name, target):
    c = _case(seed, shape_name, target)
    G = dense(gnvp, *c[:3])
    ref = _jax_dense(seed, shape_name, target)[1]
    _assert(check_quantity("G", G, ref, rtol=FLOAT64_ORACLE_RTOL, dtype=np.float64, shape=ref.shape))
    assert relative_error(G, G.T) <= SYMMETRY_RTOL
    lam = np.linalg.eigvalsh((G + G.T) / 2)
    assert np.all(np.isfinite(lam))
    assert lam.min() >= -eigenvalue_atol(G.shape[0]) * max(lam.max(), np.finfo(float).tiny), lam.min()


@pytest.mark.parametrize("shape_name", ["n1", "small", "h1"])
@targets
@seeds
def test_hessian_is_indefinite_where_gauss_newton_is_not(seed, shape_name, target):
    """The residual term makes H indefinite (a saddle direction exists) on these cases; G never is."""
    c = _case(seed, shape_name, target)
    lam = np.linalg.eigvalsh(_jax_dense(seed, shape_name, target)[0])
    assert lam.min() < -1e3 * eigenvalue_atol(lam.size) * lam.max()


@tiny
@targets
@seeds
def test_h_minus_g_is_the_tanh2_and_cross_terms(seed, shape_name, target):
    """JAX's H - G, block by block, against the hand-derived pieces of H v:
    layer 1 x layer 1 = the tanh'' term; layer 1 x layer 2 (both ways) = the cross term;
    layer 2 x layer 2 = 0 (the loss is convex in (W2, b2) for fixed a1: H = G there)."""
    c = _case(seed, shape_name, target)
    l1, l2 = _blocks(c)
    Hj, Gj = _jax_dense(seed, shape_name, target)
    R = Hj - Gj
    T2 = dense(lambda *a: hessian_terms(*a).tanh2, *c[:3])
    X = dense(lambda *a: hessian_terms(*a).cross, *c[:3])
    scale = np.max(np.abs(Hj))
    atol = FLOAT64_ORACLE_RTOL * scale  # H - G cancels: compare against the size of H
    assert np.max(np.abs(R[l1, l1] - T2[l1, l1])) <= atol
    assert np.max(np.abs(R[l1, l2] - X[l1, l2])) <= atol and np.max(np.abs(R[l2, l1] - X[l2, l1])) <= atol
    assert np.max(np.abs(R[l2, l2])) <= atol
    # and the pieces live only where they should
    assert np.all(T2[l2, :] == 0) and np.all(T2[:, l2] == 0)
    assert np.all(X[l1, l1] == 0) and np.all(X[l2, l2] == 0)
    assert np.max(np.abs(T2)) > 1e3 * atol and np.max(np.abs(X)) > 1e3 * atol  # neither is trivially 0


@targets
@seeds
def test_one_class_has_no_curvature(seed, target):
    """C = 1: softmax is constant, the loss does not depend on the parameters, H = G = 0 exactly
    (the residual dz2 and H_z both vanish).  (JAX's dense Hessian there is rounding noise, ~1e-17,
    which is why c1 is not among the shapes compared with JAX.)"""
    c = _case(seed, "c1", target)
    assert np.all(dense(hvp, *c[:3]) == 0) and np.all(dense(gnvp, *c[:3]) == 0)


@pytest.mark.parametrize("shape_name", ["n1", "small", "c10", "seed"])
@targets
@seeds
def test_staged_logit_blocks_are_s_over_n_times_the_softmax_jacobian(seed, shape_name, target):
    """Where the C x C partials go: H_z,n = J_n^T diag(y/(N yhat^2)) J_n + sum_i dL/dyhat_i
    d²yhat_i/dz² collapses to (s_n / N) J_n, and equals JAX's Hessian in logit space."""
    import jax
    import jax.numpy as jnp

    c = _case(seed, shape_name, target)
    fwd = forward(c.params, c.x)
    is_labels = c.y.ndim == 1
    st = logit_curvature_staged(fwd.yhat, c.y, is_labels)
    N, C = fwd.yhat.shape
    Y = one_hot(c.y, C, np.float64) if is_labels else c.y
    s = Y.sum(axis=1)
    closed = (s / N)[:, None, None] * softmax_jacobian(fwd.yhat)
    assert relative_error(st.blocks, closed) <= ROUTE_RTOL
    assert relative_error(st.outer + st.inner, st.blocks) == 0
    # neither term alone is H_z: both are needed for the target-dependent parts to cancel
    assert relative_error(st.outer, closed) > 1e-3 and relative_error(st.inner, closed) > 1e-3
    # JAX: the Hessian of L(z2) in logit space, block diagonal over samples
    z2 = jnp.asarray(fwd.z2)
    full = np.asarray(jax.hessian(lambda z: -jnp.mean(jnp.sum(jax.nn.log_softmax(z, axis=1) * Y, axis=1)))(z2))
    ref = np.stack([full[n, :, n, :] for n in range(N)])
    assert relative_error(st.blocks, ref) <= FLOAT64_ORACLE_RTOL
    off = full.copy()
    for n in range(N):
        off[n, :, n, :] = 0
    assert np.all(off == 0)  # no coupling between samples
