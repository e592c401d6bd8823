"""JAX curvature oracle (jitted once per shape and target kind): H v forward-over-reverse (``jax.jvp`` of ``jax.grad``), G v from
``jax.linearize`` / ``jax.vjp`` of the logits.  x64 is on (:mod:`oracles.jax_oracle`); the
loss is that module's, with the zero taps e1 (N, H) and e2 (N, C) whose gradients are dz1 and
dz2, so the same jvp also gives R{dz1} and R{dz2}.  No derivative is written by hand.
"""

from __future__ import annotations

import functools

import numpy as np

from oracles import as_result
from oracles.jax_oracle import _loss, jax, jnp
from scratch.checks import check_inputs
from scratch.curvature import check_direction
from scratch.network import Grads, Params

_grad = jax.grad(_loss, argnums=(0, 1, 2))


@jax.jit
def _r_grads(jp, jv, jx, jy):
    N, H, C = jx.shape[0], jp[0].shape[1], jp[2].shape[1]
    e1, e2 = jnp.zeros((N, H), jx.dtype), jnp.zeros((N, C), jx.dtype)
    return jax.jvp(lambda p, a, b: _grad(p, a, b, jx, jy, False), (jp, e1, e2),
                   (jv, jnp.zeros_like(e1), jnp.zeros_like(e2)))[1]


@jax.jit
def _gnvp(jp, jv, jx, jy):
    z2, jvp_fn = jax.linearize(lambda p: _logits(p, jx), jp)
    _, HJv = jax.jvp(jax.grad(lambda z: _loss_of_logits(z, jy)), (z2,), (jvp_fn(jv),))
    _, vjp_fn = jax.vjp(lambda p: _logits(p, jx), jp)
    return vjp_fn(HJv)[0]


def _logits(params, x):
    W1, b1, W2, b2 = params
    return jnp.tanh(x @ W1 + b1) @ W2 + b2  # (1)-(3)


def _loss_of_logits(z2, y):
    l = jax.nn.log_softmax(z2, axis=1)  # (4)-(5)
    PL = jnp.sum(l * y, axis=1)  # (6) PL_n = l_n . y_n
    return -jnp.mean(PL)  # (7)


def _inputs(params, x, y, v):
    N, _, H, C, dtype, is_labels = check_inputs(params, x, y)
    v = check_direction(params, v)
    # Labels as one-hot rows (eq. (6) is the same sum): one compiled function per shape, not two.
    Y = np.eye(C, dtype=dtype)[y] if is_labels else y
    return (N, H, C, dtype, is_labels, tuple(jnp.asarray(p) for p in params), tuple(jnp.asarray(a) for a in v),
            jnp.asarray(x), jnp.asarray(Y))


def r_grads(params: Params, x: np.ndarray, y: np.ndarray, v: Params) -> Grads:
    """R{dz2}, R{dW2}, R{db2}, R{dz1}, R{dW1}, R{db1} along ``v`` by ``jax.jvp(jax.grad(L))``.

    ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), ``x`` (N, D), ``y`` labels (N,) or
    targets (N, C), ``v`` shaped like ``params``; Grads of NumPy arrays in the input dtype.
    """
    _, _, _, dtype, _, jp, jv, jx, jy = _inputs(params, x, y, v)
    Rg, Rdz1, Rdz2 = _r_grads(jp, jv, jx, jy)
    RdW1, Rdb1, RdW2, Rdb2 = Rg
    _, g = as_result("jax", dtype, np.zeros((), dtype), Rdz2, RdW2, Rdb2, Rdz1, RdW1, Rdb1,
                     hint=" (is jax_enable_x64 on?)")
    return g


def gnvp(params: Params, x: np.ndarray, y: np.ndarray, v: Params) -> Params:
    """G v = J^T H_z J v: ``jax.linearize`` of the logits (J v), ``jax.jvp(jax.grad)`` of the loss
    in logit space (H_z), ``jax.vjp`` of the logits (J^T).  Params in the input dtype."""
    _, _, _, dtype, _, jp, jv, jx, jy = _inputs(params, x, y, v)
    Gv = _gnvp(jp, jv, jx, jy)
    out = Params(*(np.asarray(a) for a in Gv))
    for a in out:
        assert a.dtype == dtype, f"jax oracle returned {a.dtype}, expected the input dtype {dtype} (is jax_enable_x64 on?)"
    return out


@functools.lru_cache(maxsize=None)
def _dense_fns(D: int, H: int, C: int):
    """Jitted (hessian, gauss_newton) of the flattened loss for one (D, H, C): compiled once per shape."""
    cuts = np.cumsum([D * H, H, H * C])[:3].tolist()

    def unflat(theta):
        W1, b1, W2, b2 = jnp.split(theta, cuts)
        return W1.reshape(D, H), b1, W2.reshape(H, C), b2

    def hessian(theta, x, Y):
        return jax.hessian(lambda t: _loss_of_logits(_logits(unflat(t), x), Y))(theta)

    def gauss_newton(theta, x, Y):
        logits = lambda t: _logits(unflat(t), x)  # noqa: E731
        z2 = logits(theta)
        J = jax.jacfwd(lambda t: logits(t).ravel())(theta)  # (N C, P)
        Hz = jax.hessian(lambda z: _loss_of_logits(z.reshape(z2.shape), Y))(z2.ravel())  # (N C, N C)
        return J.T @ Hz @ J

    return jax.jit(hessian), jax.jit(gauss_newton)


def _flat_problem(params: Params, x: np.ndarray, y: np.ndarray):
    N, D, H, C, dtype, is_labels = check_inputs(params, x, y)
    Y = jnp.asarray(np.eye(C, dtype=dtype)[y] if is_labels else y)
    theta = jnp.asarray(np.concatenate([np.ravel(p) for p in params]))
    return dtype, jnp.asarray(x), Y, theta, _dense_fns(D, H, C)


def dense_hessian(params: Params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The full (P, P) Hessian of L by ``jax.hessian``, parameters flattened as
    ``scratch.curvature.flatten`` does (W1, b1, W2, b2, each C order).  Tiny problems only."""
    dtype, jx, Y, theta, (hessian, _) = _flat_problem(params, x, y)
    Hm = np.asarray(hessian(theta, jx, Y))
    assert Hm.dtype == dtype, f"jax returned {Hm.dtype}, expected {dtype}"
    return Hm


def dense_gauss_newton(params: Params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The full (P, P) Gauss-Newton matrix ``J^T H_z J`` by JAX: ``J`` (N C, P) from
    ``jax.jacfwd`` of the flattened logits, ``H_z`` (N C, N C) from ``jax.hessian`` of the loss
    in logit space.  Same flattening as :func:`dense_hessian`."""
    dtype, jx, Y, theta, (_, gauss_newton) = _flat_problem(params, x, y)
    G = np.asarray(gauss_newton(theta, jx, Y))
    assert G.dtype == dtype, f"jax returned {G.dtype}, expected {dtype}"
    return G
