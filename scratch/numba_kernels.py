r"""The workspace's element-wise (N, H) work as compiled loops (optional: ``pip install numba``).

The same math as :mod:`scratch.fast_tanh`, term for term (the range reduction, the polynomial
and the quotients of its docstring), but evaluated one element at a time in a loop that numba
compiles and LLVM vectorises, instead of forty NumPy passes over the block: eq. (1)'s bias,
eq. (2) ``a1 = tanh(z1)`` and ``tanh'(z1)`` in three loops over each cache-sized chunk of rows
(range reduction; the exponent bits; the polynomial and both quotients, with one division per
element and fused multiply-adds), and in the backward pass eq. (2') ``dz1 = da1 tanh'(z1)``
with eq. (1') ``db1 += sum_n dz1`` in one loop.  The matrix products stay in NumPy's BLAS
(fusing the skinny ones into these loops was measured 2-3x slower), the (N, C) softmax in
NumPy.  Used by ``scratch.Workspace(..., tanh="numba")``; the NumPy paths are kept and are the
default.  With fused multiply-adds and one reciprocal, a1 and dz1 differ from
:mod:`scratch.fast_tanh`'s in the last bits (both within the same ulp bounds against mpmath).

``k = floor(2|z|/ln2 + 1/2)`` here (``rint`` in :mod:`scratch.fast_tanh`): the two differ only at
exact ties, where either integer keeps ``|rho| <= ln2/4`` (the polynomial was fitted on a slightly
wider interval).  db1 is summed row by row (NumPy sums pairwise): the same to ~1e-16 relative.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from .fast_tanh import constants


def _njit(fn: Callable[..., None], **flags: Any) -> Callable[..., None]:
    """Compiled with numba where it is installed (cached on disk: compiled once per machine).
    ``error_model="numpy"``: no ZeroDivisionError check, which would keep LLVM from vectorising."""
    import numba

    return numba.njit(nogil=True, boundscheck=False, error_model="numpy", cache=True, **flags)(fn)


def _forward(z: np.ndarray, b1: np.ndarray, g: np.ndarray, m: np.ndarray, bits: np.ndarray, cst: np.ndarray,
             shift: int) -> None:
    """See :func:`kernels`; ``bits`` is ``m`` seen as unsigned integers, ``cst`` the dtype's constants."""
    clamp, inv, h1, h2, magic = cst[0], cst[1], cst[2], cst[3], cst[4]
    one, half, four, sixteen = cst[5], cst[6], cst[7], cst[8]
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = cst[9], cst[10], cst[11], cst[12], cst[13], cst[14], cst[15], \
        cst[16], cst[17], cst[18], cst[19]
    rows, H = z.shape
    chunk = m.shape[0]  # rows per pass: the chunk's z, g and m stay in cache between the three loops
    for r0 in range(0, rows, chunk):
        r1 = min(r0 + chunk, rows)
        for r in range(r0, r1):  # (1) z1 = x W1 + b1; range reduction: 2|z| = k ln2 + 2 rho
            for h in range(H):
                v = z[r, h] + b1[h]
                z[r, h] = v
                t = min(abs(v), clamp)
                k = np.floor(t * inv + half)
                g[r, h] = (t - k * h1) - k * h2  # rho
                m[r - r0, h] = magic - k  # low bits: bias + 2 - k
        n = (r1 - r0) * H  # flat views of the C-contiguous chunk: loops that LLVM vectorises
        zf, gf = z[r0:r1].reshape(n), g[r0:r1].reshape(n)
        mf, bf = m[: r1 - r0].reshape(n), bits[: r1 - r0].reshape(n)
        for i in range(n):  # s = 2^(2-k), from its bits (bits is m seen as unsigned integers)
            bf[i] = bf[i] << shift
        for i in range(n):  # (2) a1 = tanh(z1), tanh'(z1) = sech^2(z1), as in scratch.fast_tanh
            rho = gf[i]
            p = c10 * rho + c9
            p = p * rho + c8
            p = p * rho + c7
            p = p * rho + c6
            p = p * rho + c5
            p = p * rho + c4
            p = p * rho + c3
            p = p * rho + c2
            p = p * rho + c1
            p = p * rho + c0
            s = mf[i]
            sq = s * (p * rho)  # s q, q = expm1(-2 rho)
            u4 = s + sq  # 4u
            recip = one / (u4 + four)  # 1 / (4 (1 + u)): the one division (a division costs ~10 multiplies)
            zf[i] = math.copysign(((four - s) - sq) * recip, zf[i])  # tanh(z): tanh|z| = (1 - u) / (1 + u)
            gf[i] = (sixteen * u4) * (recip * recip)  # tanh'(z) = 4u / (1 + u)^2


def _backward(dz1: np.ndarray, g: np.ndarray, db1: np.ndarray) -> None:
    """See :func:`kernels`."""
    rows, H = dz1.shape
    for r in range(rows):  # (2') dz1 = da1 tanh'(z1); (1') db1 += sum_n dz1
        for h in range(H):
            d = dz1[r, h] * g[r, h]
            dz1[r, h] = d
            db1[h] += d


@lru_cache(maxsize=None)
def _compiled() -> tuple[Callable[..., None], Callable[..., None]]:
    # contract: a * b + c may be one fused multiply-add (one rounding instead of two; 1.5x faster here)
    return _njit(_forward, fastmath={"contract"}), _njit(_backward)


def kernels(dtype: Any) -> tuple[Callable[..., None], Callable[..., None]]:
    """``(forward, backward)`` for float32 or float64 (numba compiles each dtype on first use and
    caches it on disk).

    ``forward(z, b1, g, m)``: ``z`` (rows, H) holds ``x W1`` on entry and ``a1 = tanh(x W1 + b1)``
    on return; ``g`` (rows, H) receives ``tanh'``; ``m`` (chunk, H) is scratch of the dtype: the
    rows are processed ``chunk`` at a time, each chunk in cache through the three loops (all
    C-contiguous).  ``backward(dz1, g, db1)``: ``dz1 *= g`` (da1 in, dz1 out) and
    ``db1 += column sums of dz1``.
    """
    dt = np.dtype(dtype)
    c = constants(dt)
    coefficients = tuple(c.coefficients) + (0.0,) * (11 - len(c.coefficients))  # degree 10, zero-padded
    cst = np.array([c.clamp, c.inv_half_ln2, c.h1, c.h2, c.magic, 1.0, 0.5, 4.0, 16.0, *coefficients], dtype=dt)
    fwd, bwd = _compiled()
    uint, shift = c.uint, c.mantissa_bits

    def forward(z: np.ndarray, b1: np.ndarray, g: np.ndarray, m: np.ndarray) -> None:
        fwd(z, b1, g, m, m.view(uint), cst, shift)

    return forward, bwd
