r"""The workspace's element-wise work as compiled loops (optional: ``pip install numba``).

The same math as the NumPy paths, term for term, evaluated one element at a time in loops that
numba compiles and LLVM vectorises, instead of one NumPy call per operation:

* :func:`_forward`: eq. (1)'s bias, eq. (2) ``a1 = tanh(z1)`` and ``tanh'(z1)`` as in
  :mod:`scratch.fast_tanh` (range reduction; the exponent bits of ``s = 2^(2-k)`` by
  :func:`_shifted_bits`; the polynomial and both quotients, one division per element, fused
  multiply-adds) in one pass over each row.
* :func:`_softmax_loss_dz2`: eqs. (3) ``+ b2`` to (6) and (4')-(7') as the workspace's NumPy
  code computes them (max shift, ``T``, ``log1p(T)``, the cancellation-free argmax column), one
  row at a time: one call where NumPy takes ~35 on (N, C) arrays.
* :func:`_backward`: eq. (2') ``dz1 = da1 tanh'(z1)`` with eq. (1') ``db1 = sum_n dz1``.
* Where the inner dimension is small (``D`` or ``C`` up to ``NUMBA_FUSE_MAX_D`` /
  ``NUMBA_FUSE_MAX_C`` in :mod:`scratch.workspace`) the products with it are formed in the same
  passes, on each row while it is in L1 (``x W1``, ``a1 W2``, ``dz2 W2^T``, ``a1^T dz2``,
  ``x^T dz1``): BLAS spends more on its call and threads than on such products.  Larger products
  stay in NumPy's BLAS (fusing the C = 10 ones was measured 2-3x slower: each row then streams
  the (C, H) W2^T and dW2^T, where BLAS blocks them).

Used by ``scratch.Workspace(..., tanh="numba")``; the NumPy paths are kept and are the default.
With fused multiply-adds and one reciprocal, a1 and dz1 differ from :mod:`scratch.fast_tanh`'s
in the last bits (both within the same ulp bounds against mpmath); products and sums formed here
round in another order than BLAS's (the same to ~1e-16 relative).

``k = floor(2|z|/ln2 + 1/2)`` here (``rint`` in :mod:`scratch.fast_tanh`): the two differ only at
exact ties, where either integer keeps ``|rho| <= ln2/4`` (the polynomial was fitted on a slightly
wider interval).  This module imports numba: :class:`scratch.Workspace` imports it only for
``tanh="numba"``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from .fast_tanh import constants


_FLAGS = dict(nogil=True, boundscheck=False, error_model="numpy", cache=True)
"""numba.njit's flags: compiled on first use and cached on disk (once per machine);
``error_model="numpy"``: no ZeroDivisionError check, which would keep LLVM from vectorising."""
#: a * b + c may be one fused multiply-add (one rounding instead of two; 1.5x faster here).
#: Never "reassoc" on the tanh: it would undo the Cody-Waite order ``(t - k h1) - k h2``.
_CONTRACT = {"contract"}


@intrinsic
def _shifted_bits(typingctx: Any, x: Any, shift: Any) -> Any:
    """``x``'s bits shifted left by ``shift``, read back as a float of ``x``'s type: NumPy's
    ``x.view(uint) << shift`` of :func:`scratch.fast_tanh.tanh_sech2`, as three LLVM instructions
    (bitcast, shl, bitcast) that vectorise inside the loop (AVX2 has no packed float64 -> int64
    conversion; a bit shift it has)."""
    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        value, n = args
        int_type = ir.IntType(8 * np.dtype(str(sig.args[0])).itemsize)
        if n.type.width > int_type.width:
            n = builder.trunc(n, int_type)
        elif n.type.width < int_type.width:
            n = builder.zext(n, int_type)
        return builder.bitcast(builder.shl(builder.bitcast(value, int_type), n), value.type)

    return x(x, shift), codegen


@numba.njit(fastmath={"contract", "reassoc"}, **_FLAGS)
def _row_times_columns(a: np.ndarray, BT: np.ndarray, out: np.ndarray) -> None:
    """``out[c] = a . BT[c]``: one row of ``a B`` with ``B^T`` given (C-contiguous), the sums
    reassociated so that LLVM vectorises them (the order of a BLAS dot product is unspecified too)."""
    for c in range(BT.shape[0]):
        acc = a[0] - a[0]  # zero of a's dtype (float32 stays float32), a is finite
        for h in range(a.shape[0]):
            acc += a[h] * BT[c, h]
        out[c] = acc


@numba.njit(fastmath=_CONTRACT, **_FLAGS)
def _add_row_products(row: np.ndarray, coefficients: np.ndarray, B: np.ndarray, first: bool) -> None:
    """``row (=|+=) coefficients B``: ``sum_k coefficients[k] B[k]``, one pass over the row per k
    (the row stays in L1).  ``first``: overwrite instead of accumulate."""
    start = 0
    if first:
        ck = coefficients[0]
        for h in range(row.shape[0]):
            row[h] = ck * B[0, h]
        start = 1
    for k in range(start, B.shape[0]):
        ck = coefficients[k]
        for h in range(row.shape[0]):
            row[h] += ck * B[k, h]


@numba.njit(fastmath=_CONTRACT, **_FLAGS)
def _add_outer(out: np.ndarray, coefficients: np.ndarray, row: np.ndarray) -> None:
    """``out += outer(coefficients, row)``: one sample's share of ``dW^T = sum_n c_n^T row_n``."""
    for k in range(out.shape[0]):
        ck = coefficients[k]
        for h in range(row.shape[0]):
            out[k, h] += ck * row[h]


@numba.njit(fastmath=_CONTRACT, **_FLAGS)
def _forward(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, z: np.ndarray, g: np.ndarray, W2T: np.ndarray,
             z2: np.ndarray, cst: np.ndarray, shift: Any, fuse_x: bool, fuse_w2: bool) -> None:
    """See :func:`kernels`; ``cst`` holds the dtype's constants, ``shift`` its mantissa bits."""
    clamp, inv, h1, h2, magic = cst[0], cst[1], cst[2], cst[3], cst[4]
    one, half, four, sixteen = cst[5], cst[6], cst[7], cst[8]
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = cst[9], cst[10], cst[11], cst[12], cst[13], cst[14], cst[15], \
        cst[16], cst[17], cst[18], cst[19]
    rows, H = z.shape
    for r in range(rows):
        if fuse_x:  # (1) z1 = x W1 ... for a small D: D passes over the row, in L1
            _add_row_products(z[r], x[r], W1, True)
        for h in range(H):  # one pass: z and g are read and written once, by a loop LLVM vectorises
            v = z[r, h] + b1[h]  # (1) z1 = x W1 + b1
            t = min(abs(v), clamp)  # range reduction: 2|z| = k ln2 + 2 rho
            k = np.floor(t * inv + half)
            rho = (t - k * h1) - k * h2
            s = _shifted_bits(magic - k, shift)  # s = 2^(2-k): the low bits bias + 2 - k of magic - k
            p = c10 * rho + c9  # G(rho), Horner, fused multiply-adds
            p = p * rho + c8
            p = p * rho + c7
            p = p * rho + c6
            p = p * rho + c5
            p = p * rho + c4
            p = p * rho + c3
            p = p * rho + c2
            p = p * rho + c1
            p = p * rho + c0
            sq = s * (p * rho)  # s q, q = expm1(-2 rho)
            u4 = s + sq  # 4u
            recip = one / (u4 + four)  # 1 / (4 (1 + u)): the one division (a division costs ~10 multiplies)
            z[r, h] = math.copysign(((four - s) - sq) * recip, v)  # (2) a1 = tanh(z1): tanh|z| = (1 - u) / (1 + u)
            g[r, h] = (sixteen * u4) * (recip * recip)  # tanh'(z1) = 4u / (1 + u)^2
        if fuse_w2:  # (3) z2 = a1 W2 ... for a small C, while the row of a1 is in L1
            _row_times_columns(z[r], W2T, z2[r])


@numba.njit(fastmath=_CONTRACT, **_FLAGS)
def _backward(x: np.ndarray, dz2: np.ndarray, W2T: np.ndarray, a1: np.ndarray, g: np.ndarray, dz1: np.ndarray,
              db1: np.ndarray, dW2T: np.ndarray, dW1: np.ndarray, fuse_x: bool, fuse_w2: bool) -> None:
    """See :func:`kernels`."""
    rows, H = dz1.shape
    db1[:] = 0.0
    if fuse_w2:
        dW2T[:] = 0.0
    if fuse_x:
        dW1[:] = 0.0
    for r in range(rows):
        if fuse_w2:  # (3'') da1 = dz2 W2^T and (3') dW2^T += dz2_n^T a1_n, for a small C
            _add_row_products(dz1[r], dz2[r], W2T, True)
            _add_outer(dW2T, dz2[r], a1[r])
        for h in range(H):  # (2') dz1 = da1 tanh'(z1); (1') db1 += sum_n dz1
            d = dz1[r, h] * g[r, h]
            dz1[r, h] = d
            db1[h] += d
        if fuse_x:  # (1') dW1 += x_n^T dz1_n, for a small D
            _add_outer(dW1, x[r], dz1[r])


@numba.njit(**_FLAGS)
def _softmax_loss_dz2(z2: np.ndarray, b2: np.ndarray, labels: np.ndarray, targets: np.ndarray, is_labels: bool,
                      yhat: np.ndarray, dz2: np.ndarray, PL: np.ndarray, cst: np.ndarray) -> None:
    """See :func:`kernels`: the workspace's NumPy softmax part, row by row (``cst`` = [0, 1, N])."""
    N, C = z2.shape
    zero, one, n_samples = cst[0], cst[1], cst[2]
    for n in range(N):
        m = 0  # m_n = argmax_k z2[n, k], the first of equal maxima (as np.argmax)
        top = z2[n, 0] + b2[0]
        for k in range(C):
            v = z2[n, k] + b2[k]  # (3) ... + b2
            z2[n, k] = v
            if v > top:
                top, m = v, k
        T = zero  # T = sum_{k != m} exp(shifted_k)
        for k in range(C):
            shifted = z2[n, k] - top  # every entry <= 0
            z2[n, k] = shifted
            if k != m:
                e = np.exp(shifted)
                yhat[n, k] = e
                T += e
        yhat[n, m] = one  # exp(0)
        denom = one + T  # 1 + T = sum_k exp(shifted_k)
        for k in range(C):
            yhat[n, k] = yhat[n, k] / denom  # (4) yhat = exp(shifted) / (1 + T)
        log_denom = np.log1p(T)  # log-sum-exp minus the max
        if is_labels:
            c = min(max(np.int64(labels[n]), 0), C - 1)  # in range after validation; clipped as NumPy's mode="clip" (memory-safe); int64: uint64 labels too
            PL[n] = z2[n, c] - log_denom  # (5)-(6) PL_n = l[n, y_n]
            for k in range(C):
                dz2[n, k] = yhat[n, k]
            dz2[n, c] = yhat[n, c] - one  # yhat - onehot(y)
            y_m = one if c == m else zero  # the weight on the argmax class
            rest = one - y_m  # sum_{k != m} y_k
        else:
            pl, s, rest = zero, zero, zero
            for k in range(C):
                pl += (z2[n, k] - log_denom) * targets[n, k]  # (5)-(6) PL_n = l_n . y_n
                s += targets[n, k]  # s_n = sum_c y_nc
                if k != m:
                    rest += targets[n, k]  # sum_{k != m} y_k, no cancellation
            PL[n] = pl
            for k in range(C):
                dz2[n, k] = yhat[n, k] * s - targets[n, k]  # (4') yhat s - y
            y_m = targets[n, m]
        dz2[n, m] = (rest - y_m * T) / denom  # argmax column: (sum_{k!=m} y_k - y_m T) / (1 + T), cancellation-free
        for k in range(C):
            dz2[n, k] = dz2[n, k] / n_samples  # (7') the mean over N samples


class Kernels(NamedTuple):
    """The compiled forward and backward of one dtype (see :func:`kernels`)."""

    forward: Callable[..., None]
    softmax_loss_dz2: Callable[..., None]
    backward: Callable[..., None]


def kernels(dtype: Any, *, spec: Any = None) -> Kernels:
    """``(forward, softmax_loss_dz2, backward)`` for float32 or float64 (numba compiles each dtype
    and array layout on first use and caches it on disk).  ``spec``: the seed network only (the
    default); any other member of the family raises ``ValueError``.  Floating arrays of the dtype; the
    workspace's buffers are C-contiguous, ``x``, ``labels`` and ``targets`` may have any layout.

    ``forward(x, W1, b1, z, g, W2T, z2, fuse_x, fuse_w2)``: ``z`` (N, H) receives
    ``a1 = tanh(x W1 + b1)`` and ``g`` (N, H) ``tanh'(x W1 + b1)``.  With ``fuse_x``, ``x W1`` is
    formed row by row here; without, ``z`` must hold ``x W1`` on entry (from BLAS).  With
    ``fuse_w2``, ``z2`` (N, C) receives ``a1 W2`` (``W2T`` is W2^T, (C, H)); without, neither is
    touched.

    ``softmax_loss_dz2(z2, b2, labels, targets, is_labels, yhat, dz2, PL)``: eqs. (3) ``+ b2`` to
    (6) and (4')-(7') as the workspace's NumPy code computes them (``z2`` (N, C) holds ``a1 W2``
    on entry and the shifted logits on return; ``PL`` (N,) receives ``PL_n``, summed by the caller
    for eq. (7); ``labels`` (N,) or ``targets`` (N, C), the other a placeholder), in one call
    instead of ~35 NumPy calls on (N, C) arrays (the step's cost at small N).

    ``backward(x, dz2, W2T, a1, g, dz1, db1, dW2T, dW1, fuse_x, fuse_w2)``: ``dz1 = da1 g`` and
    ``db1 = column sums of dz1``.  With ``fuse_w2``, ``da1 = dz2 W2^T`` and
    ``dW2T = dz2^T a1`` (C, H) are formed here; without, ``dz1`` must hold ``da1`` on entry and
    ``dW2T`` is not touched.  With ``fuse_x``, ``dW1 = x^T dz1`` (D, H) is formed here.
    """
    from .spec import as_spec

    as_spec(spec).require_seed("scratch.numba_kernels")  # compiled for tanh, mean, no L2 only
    dt = np.dtype(dtype)
    c = constants(dt)
    coefficients = tuple(c.coefficients) + (0.0,) * (11 - len(c.coefficients))  # degree 10, zero-padded
    cst = np.array([c.clamp, c.inv_half_ln2, c.h1, c.h2, c.magic, 1.0, 0.5, 4.0, 16.0, *coefficients], dtype=dt)
    shift = c.uint(c.mantissa_bits)

    def forward(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, z: np.ndarray, g: np.ndarray, W2T: np.ndarray,
                z2: np.ndarray, fuse_x: bool, fuse_w2: bool) -> None:
        _forward(x, W1, b1, z, g, W2T, z2, cst, shift, fuse_x, fuse_w2)

    softmax_constants = {}  # N -> [0, 1, N] in the dtype

    def softmax_loss_dz2(z2: np.ndarray, b2: np.ndarray, labels: np.ndarray, targets: np.ndarray, is_labels: bool,
                         yhat: np.ndarray, dz2: np.ndarray, PL: np.ndarray) -> None:
        N = z2.shape[0]
        sc = softmax_constants.get(N)
        if sc is None:
            sc = softmax_constants[N] = np.array([0.0, 1.0, N], dtype=dt)
        _softmax_loss_dz2(z2, b2, labels, targets, is_labels, yhat, dz2, PL, sc)

    return Kernels(forward, softmax_loss_dz2, _backward)
