r"""The workspace's element-wise (N, H) work as compiled loops (optional: ``pip install numba``).

The same math as :mod:`scratch.fast_tanh`, term for term (the range reduction, the polynomial
and the quotients of its docstring), but evaluated one element at a time in a loop that numba
compiles and LLVM vectorises, instead of forty NumPy passes over the block: eq. (1)'s bias,
eq. (2) ``a1 = tanh(z1)`` and ``tanh'(z1)`` in one pass over (N, H) (range reduction; the
exponent bits of ``s = 2^(2-k)`` by :func:`_shifted_bits`; the polynomial and both quotients,
with one division per element and fused multiply-adds), and in the backward pass eq. (2')
``dz1 = da1 tanh'(z1)`` with eq. (1') ``db1 += sum_n dz1`` in one loop.  The matrix products
stay in NumPy's BLAS (fusing the skinny ones into these loops was measured 2-3x slower), the
(N, C) softmax in NumPy.  Used by ``scratch.Workspace(..., tanh="numba")``; the NumPy paths are
kept and are the default.  With fused multiply-adds and one reciprocal, a1 and dz1 differ from
:mod:`scratch.fast_tanh`'s in the last bits (both within the same ulp bounds against mpmath).

``k = floor(2|z|/ln2 + 1/2)`` here (``rint`` in :mod:`scratch.fast_tanh`): the two differ only at
exact ties, where either integer keeps ``|rho| <= ln2/4`` (the polynomial was fitted on a slightly
wider interval).  db1 is summed row by row (NumPy sums pairwise): the same to ~1e-16 relative.
This module imports numba: :class:`scratch.Workspace` imports it only for ``tanh="numba"``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from .fast_tanh import constants


def _njit(fn: Callable[..., None], **flags: Any) -> Callable[..., None]:
    """Compiled with numba where it is installed (cached on disk: compiled once per machine).
    ``error_model="numpy"``: no ZeroDivisionError check, which would keep LLVM from vectorising."""
    return numba.njit(nogil=True, boundscheck=False, error_model="numpy", cache=True, **flags)(fn)


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


def _forward(z: np.ndarray, b1: np.ndarray, g: np.ndarray, cst: np.ndarray, shift: int) -> None:
    """See :func:`kernels`; ``cst`` holds the dtype's constants, ``shift`` its mantissa bits."""
    clamp, inv, h1, h2, magic = cst[0], cst[1], cst[2], cst[3], cst[4]
    one, half, four, sixteen = cst[5], cst[6], cst[7], cst[8]
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 = cst[9], cst[10], cst[11], cst[12], cst[13], cst[14], cst[15], \
        cst[16], cst[17], cst[18], cst[19]
    rows, H = z.shape
    for r in range(rows):
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

    ``forward(z, b1, g)``: ``z`` (rows, H) holds ``x W1`` on entry and ``a1 = tanh(x W1 + b1)``
    on return; ``g`` (rows, H) receives ``tanh'``.  ``backward(dz1, g, db1)``: ``dz1 *= g``
    (da1 in, dz1 out) and ``db1 += column sums of dz1``.  All arrays C-contiguous.
    """
    dt = np.dtype(dtype)
    c = constants(dt)
    coefficients = tuple(c.coefficients) + (0.0,) * (11 - len(c.coefficients))  # degree 10, zero-padded
    cst = np.array([c.clamp, c.inv_half_ln2, c.h1, c.h2, c.magic, 1.0, 0.5, 4.0, 16.0, *coefficients], dtype=dt)
    fwd, bwd = _compiled()
    shift = c.uint(c.mantissa_bits)

    def forward(z: np.ndarray, b1: np.ndarray, g: np.ndarray) -> None:
        fwd(z, b1, g, cst, shift)

    return forward, bwd
