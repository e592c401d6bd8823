r"""tanh and its derivative from one polynomial exponential: eq. (2) and tanh' of eq. (2') for
the workspace, in plain NumPy arithmetic (no libm call), without cancellation.

Where NumPy has no vectorised ``cosh`` (every x86 CPU without AVX-512, e.g. AVX2-only AMD
EPYC) its ``tanh`` and ``cosh`` are scalar libm loops costing 15-35 ns per float64 element,
a hundred times one vectorised multiply.  This module computes both from
:math:`u = e^{-2|z|}`, itself evaluated with ~40 multiplies and adds over the block:

.. math::

    2|z| = k \ln 2 + r,\quad k = \operatorname{rint}(2|z|/\ln 2),\quad |r| \le \ln 2 / 2

    u = 2^{-k} e^{-r} = 2^{-k} (1 + q),\qquad q = \operatorname{expm1}(-r) = \rho\,G(\rho),\ \rho = r/2

    \tanh|z| = \frac{1-u}{1+u} = \frac{(4 - s) - s q}{4 + s + s q},\qquad
    \operatorname{sech}^2 z = \frac{4u}{(1+u)^2} = \frac{16\,(s + s q)}{(4 + s + s q)^2},\qquad s = 2^{2-k}

* **No cancellation.**  For ``k = 0`` (|z| < 0.17) the numerator is ``-s q`` exactly (``4 - s``
  is 0): the polynomial gives ``expm1`` directly, never ``exp - 1``.  For ``k >= 1``, ``u <= 0.71``
  and ``1 - u`` loses at most a factor 3.  ``sech^2`` is a product and quotient of positive
  numbers throughout, so the saturated units (|z| of 10 to 355) keep their full relative accuracy
  (the pitfall of ``1 - tanh^2`` is exactly what this avoids).
* **Range reduction** (Cody and Waite): ``ln 2 / 2`` is split into ``H1 + H2`` with ``H1`` short
  enough that ``k H1`` is exact, so ``rho = (|z| - k H1) - k H2`` is accurate to an ulp whatever
  ``k``.  ``s = 2^{2-k}`` is built from its bits: ``MAGIC - k`` holds the integer ``bias + 2 - k``
  in its low mantissa bits, shifted into the exponent field.  |z| is clamped at ``CLAMP`` (355 in
  float64, 44.5 in float32), where ``sech^2`` is already below the smallest normal number; ``tanh``
  there is 1.
* **The polynomial** ``G`` interpolates ``expm1(-2 rho) / rho`` at Chebyshev nodes of
  ``|rho| <= ln 2 / 4`` (degree 10 in float64: 2.5e-17 relative, degree 5 in float32: 2.5e-8, each
  computed in 50-digit mpmath with the coefficients rounded to the dtype).

Accuracy against mpmath (``tests/test_workspace.py``): ``tanh`` within ``FAST_TANH_ULP`` ulp and
``dz1 = da1 sech^2`` within ``WORKSPACE_DZ1_ULP`` over |z| in [1e-12, past underflow], both signs.
``a1`` is therefore *not* ``np.tanh(z1)`` bit for bit on this path (a few ulp apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

#: ``tanh`` values of :class:`scratch.Workspace`: ``"poly"`` (this module), ``"numpy"``
#: (``np.tanh`` and ``np.cosh``), ``"numba"`` (this module's math compiled,
#: :mod:`scratch.numba_kernels`, optional), ``"auto"`` (:func:`default_method`).
METHODS = ("auto", "poly", "numpy", "numba")


@dataclass(frozen=True)
class Constants:
    """The dtype's constants of the range reduction and the polynomial (see the module)."""

    clamp: float  # |z| <= clamp: k <= bias - 1 + 2, so s = 2^(2-k) stays a normal number
    inv_half_ln2: float  # 2 / ln 2
    h1: float  # ln 2 / 2 = h1 + h2, h1 with trailing zero bits (k h1 exact)
    h2: float
    magic: float  # 2^mantissa_bits + bias + 2: MAGIC - k holds bias + 2 - k in its low bits
    uint: Any  # the unsigned integer of the same width
    mantissa_bits: int
    coefficients: tuple[float, ...]  # G(rho) = sum_j c_j rho^j, expm1(-2 rho) = rho G(rho)


_CONSTANTS = {
    np.dtype(np.float64): Constants(
        clamp=355.0,
        inv_half_ln2=2.0 / 0.6931471805599453,
        h1=6.93147180369123816490e-01 / 2,  # fdlibm ln2_hi (its last 21 bits are zero) / 2
        h2=1.90821492927058770002e-10 / 2,  # fdlibm ln2_lo / 2
        magic=2.0**52 + 1023 + 2,
        uint=np.uint64,
        mantissa_bits=52,
        coefficients=(-2.0, 2.000000000000002, -1.3333333333333337, 0.6666666666651643, -0.26666666666643557,
                      0.08888888916876567, -0.02539682543987361, 0.006349185070294307, -0.0014109314712560457,
                      0.00028289460609618263, -5.1415571534742515e-05),
    ),
    np.dtype(np.float32): Constants(
        clamp=44.5,
        inv_half_ln2=2.0 / 0.6931471805599453,
        h1=0.693145751953125 / 2,  # fdlibm expf ln2_hi (0x3f317200, 9 trailing zero bits) / 2
        h2=1.428606765330187045e-06 / 2,  # ln2_lo (0x35bfbe8e) / 2
        magic=2.0**23 + 127 + 2,
        uint=np.uint32,
        mantissa_bits=23,
        coefficients=(-2.0, 2.0, -1.3333203792572021, 0.666663408279419, -0.26781389117240906, 0.08917558938264847),
    ),
}


def constants(dtype: Any) -> Constants:
    """The :class:`Constants` of float32 or float64."""
    return _CONSTANTS[np.dtype(dtype)]


@lru_cache(maxsize=None)
def numpy_is_vectorised(dtype: Any) -> bool:
    """Whether this NumPy runs ``cosh`` for ``dtype`` in a SIMD loop (then ``np.tanh`` and ``np.cosh``
    beat the polynomial; measured on AVX-512 machines), from ``numpy.lib.introspect.opt_func_info``."""
    try:
        from numpy.lib.introspect import opt_func_info
    except ImportError:  # NumPy < 2.0
        return False
    sig = "dd" if np.dtype(dtype) == np.float64 else "ff"  # asked once per dtype (lru_cache): ~15 us a call
    current = opt_func_info(func_name="^cosh$").get("cosh", {}).get(sig, {}).get("current", "baseline")
    return not str(current).startswith("baseline")


def default_method(dtype: Any) -> str:
    """``"numpy"`` where NumPy's ``cosh`` is vectorised for ``dtype``, else ``"poly"``."""
    return "numpy" if numpy_is_vectorised(dtype) else "poly"


def tanh_sech2(a: np.ndarray, sech2: np.ndarray, t: np.ndarray, k: np.ndarray, p: np.ndarray, c: Constants) -> None:
    """In place: ``a`` holds z (rows, H) on entry and ``tanh(z)`` on return; ``sech2`` receives
    ``sech^2(z) = tanh'(z)``.  ``t``, ``k``, ``p`` are scratch arrays of the same shape and dtype
    (all C-contiguous).  About 40 passes of NumPy arithmetic, no allocation."""
    np.abs(a, out=t)  # |z|
    np.minimum(t, c.clamp, out=t)
    np.multiply(t, c.inv_half_ln2, out=k)
    np.rint(k, out=k)  # k = rint(2|z| / ln 2)
    np.multiply(k, c.h1, out=p)
    np.subtract(t, p, out=t)  # |z| - k h1, exact
    np.multiply(k, c.h2, out=p)
    np.subtract(t, p, out=t)  # rho = |z| - k ln2/2, |rho| <= ln2/4
    np.subtract(c.magic, k, out=k)  # low bits: bias + 2 - k
    bits = k.view(c.uint)
    np.left_shift(bits, c.mantissa_bits, out=bits)  # k now holds s = 2^(2-k)
    cs = c.coefficients
    np.multiply(t, cs[-1], out=p)  # Horner: G(rho)
    np.add(p, cs[-2], out=p)
    for cj in cs[-3::-1]:
        np.multiply(p, t, out=p)
        np.add(p, cj, out=p)
    np.multiply(p, t, out=p)  # q = expm1(-2 rho) = rho G(rho)
    np.multiply(p, k, out=p)  # s q
    np.subtract(4.0, k, out=t)  # 4 - s (exact; 0 for k = 0)
    np.subtract(t, p, out=t)  # 4 (1 - u)
    np.add(k, p, out=p)  # 4 u = s + s q
    np.add(p, 4.0, out=k)  # 4 (1 + u)
    np.divide(t, k, out=t)  # tanh|z| = (1 - u) / (1 + u)
    np.copysign(t, a, out=a)  # (2) a1 = tanh(z)
    np.multiply(k, k, out=t)  # 16 (1 + u)^2
    np.multiply(p, 16.0, out=p)
    np.divide(p, t, out=sech2)  # tanh'(z) = sech^2 z = 4u / (1 + u)^2
