r"""The allocation-free fast path: the fused route's math written into preallocated buffers.

:class:`Workspace` owns every array one training step needs, so that after a warm-up a call
of ``scratch.loss_and_grads(params, x, y, workspace=ws)`` allocates no array memory: every
NumPy call writes with ``out=`` or in place, and the matrix products go to BLAS with
transposed views (no copies).  The math is that of ``route="fused"`` in
:mod:`scratch.network` (read that module for the derivation); what differs is how it is
evaluated, each change an exact identity computed without cancellation:

* eq. (2) and tanh'(z1) (eq. 2') are evaluated one of three ways (``Workspace(tanh=...)``):

  - ``"numpy"``: ``a1 = np.tanh(z1)`` (the core's, bit for bit) and tanh' as
    :math:`\operatorname{sech}^2 z_1 = 1/\cosh^2 z_1`, so eq. (2') becomes
    ``dz1 = da1 / cosh(z1)**2``.  The core writes the same number as :math:`4u/(1+u)^2` with
    :math:`u = e^{-2|z_1|}`; neither subtracts.  Where ``cosh**2`` overflows (|z1| > 355 in
    float64, > 44.7 in float32) the true tanh' is below the smallest normal number and
    ``da1 / inf`` gives 0.  Fast where NumPy vectorises ``tanh`` and ``cosh`` (AVX-512).
  - ``"poly"``: both from one polynomial exponential in NumPy arithmetic
    (:mod:`scratch.fast_tanh`, the derivation there), ``dz1 = da1 * tanh'``: no libm call, for
    CPUs where NumPy's ``tanh``/``cosh`` are scalar loops.  a1 is a few ulp from ``np.tanh``.
  - ``"numba"``: the same math compiled (:mod:`scratch.numba_kernels`, optional), with the
    (N, C) softmax part and, where D or C is small, the products with them in the same loops.

  Accuracy of a1 and dz1 against ``mpmath``: ``tests/test_workspace.py``, ``FAST_TANH_ULP``
  and ``WORKSPACE_DZ1_ULP``.
* ``z1 = x W1`` is one GEMM for the whole batch; then the (N, H) element-wise work runs over
  blocks of rows sized to stay in the L2 cache (:data:`BLOCK_BYTES`), and each block's skinny
  products with W2 (``z2 = a1 W2``; ``dW2 += a1^T dz2``, ``da1 = dz2 W2^T``) run on that block.
  Rows are independent, so only the summation order of dW2 and db1 (summed per block) changes.
  (Measured on 2 AVX-512 cores: blocking these skinny products is 15-20% faster at
  1024-64-512-10 and 4096-784-1024-10 than whole-batch products; blocking ``x W1`` too is
  slower where W1 is large.  On 2 AVX2 cores whole-batch products were faster: the ``"numba"``
  path has no blocks; its compiled loops walk the rows one at a time.)
* Fancy indexing (which allocates) is replaced by ``take``/``put`` on flat indices
  ``n * C + col`` (in range by construction: ``mode="clip"`` skips a checking copy).

The returned loss is a NumPy scalar; the returned :class:`~scratch.network.Grads` are **views
of the workspace's buffers and are overwritten by the next call** (copy them to keep them).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from . import fast_tanh
from .checks import FLOAT_DTYPES, PARAM_NAMES
from .network import Grads, Params

#: Bytes of one (rows x H) block of the element-wise work with ``tanh="numpy"``: the block's
#: three (rows x H) arrays (a1, dtanh, dz1) stay in a 2 MiB L2 cache.
BLOCK_BYTES = 256 * 1024
#: The same with ``tanh="poly"``: its ~40 passes are each one NumPy call, whose ~1 us overhead
#: favours big blocks (measured on 2 AVX2 cores: 1 MiB beat 64 and 256 KiB by 5-15%).
POLY_BLOCK_BYTES = 1024 * 1024
#: ``tanh="numba"`` forms the products with a small inner dimension inside its compiled loops,
#: row by row while the row is in L1, instead of calling BLAS: ``x W1`` and ``x^T dz1`` where
#: D <= NUMBA_FUSE_MAX_D, ``a1 W2``, ``dz2 W2^T`` and ``a1^T dz2`` where C <= NUMBA_FUSE_MAX_C
#: (BLAS spends more on its call and threads than on such products; measured in docs/speed.md).
NUMBA_FUSE_MAX_D = 4
NUMBA_FUSE_MAX_C = 4
#: ``tanh="auto"`` takes NumPy's own tanh and cosh below this many (N x H) elements, where the
#: polynomial's ~40 calls cost more than the two libm loops.
POLY_MIN_ELEMENTS = 4096

#: NumPy's ufunc buffer size (elements) during a step.  Every broadcasting ufunc call (adding
#: b1 to the rows of z1, dividing by 1 + T per row) allocates a buffer of this many elements
#: even when no cast is needed; NumPy's default of 8192 is 64 KiB in float64 per call.  1024
#: elements (8 KiB) measured as fast or faster.  Restored after the step.
UFUNC_BUFSIZE = 1024

#: Elements per chunk in :func:`sgd_step` (32 KiB of float64 scratch).
SGD_CHUNK = 4096


def _positive_int(name: str, v: Any) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


class Workspace:
    """Every buffer of one training step for problems of shape (N, D, H, C) in ``dtype``.

    Parameters
    ----------
    N, D, H, C : int >= 1
        Samples, inputs, hidden units, classes: ``x`` (N, D), ``W1`` (D, H), ``W2`` (H, C).
    dtype : float32 or float64
        The parameters' dtype; inputs of another dtype are rejected.
    block_rows : int, optional
        Rows per block of the (N, H) element-wise work; default ``BLOCK_BYTES // (H * itemsize)``
        (``POLY_BLOCK_BYTES`` with ``tanh="poly"``).  Not with ``tanh="numba"`` (ValueError): its
        compiled loops walk the rows one at a time.
    tanh : {"auto", "poly", "numpy", "numba"}
        How eq. (2) and tanh' are evaluated.  ``"numpy"``: ``a1 = np.tanh(z1)`` and
        ``tanh' = 1 / cosh(z1)**2``; ``"poly"``: both from one polynomial exponential
        (:mod:`scratch.fast_tanh`, a few ulp from ``np.tanh``, no libm call); ``"numba"``: the same
        math compiled (:mod:`scratch.numba_kernels`; needs numba, the ``fast`` extra); ``"auto"``
        (default): ``"numpy"`` where NumPy vectorises ``cosh`` for the dtype (AVX-512) or the
        problem is small (N H < ``POLY_MIN_ELEMENTS``), else ``"poly"``.  The choice is
        :attr:`tanh`, fixed for the workspace's life (the same inputs give the same bits).
    spec : NetworkSpec, optional
        The seed network only (the default; tanh, mean, no L2): any other member of the family
        raises ``ValueError`` rather than computing the seed network silently.

    Notes
    -----
    Buffers (all C-contiguous, allocated and touched once here): ``a1``, ``dtanh``, ``dz1``
    (N, H); ``logits``, ``yhat``, ``dz2``, ``scratch_nc``, ``targets`` (N, C); per-row vectors
    (N,); the parameter gradients ``dW1`` (D, H), ``db1`` (H,), ``dW2`` (H, C), ``db2`` (C,)
    and per-block partial sums.  About ``8 * (3 N H + 5 N C + D H + 3 H C)`` bytes in float64
    (:attr:`nbytes`; dW2, its per-block part and W2^T are the three (H, C) arrays).  A workspace
    serves one call at a time: use one per thread.

    Examples
    --------
    >>> ws = Workspace(*x.shape, *params.W2.shape, dtype=x.dtype)   # doctest: +SKIP
    >>> loss, g = scratch.loss_and_grads(params, x, y, workspace=ws)  # doctest: +SKIP
    """

    def __init__(self, N: int, D: int, H: int, C: int, dtype: Any = np.float64, *, block_rows: int | None = None,
                 tanh: str = "auto", spec: Any = None):
        from .spec import as_spec

        as_spec(spec).require_seed("Workspace")  # the buffers hold the seed network's (2)-(2') only
        N, D, H, C = (_positive_int(k, v) for k, v in (("N", N), ("D", D), ("H", H), ("C", C)))
        dt = np.dtype(dtype)
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        if tanh not in fast_tanh.METHODS:
            raise ValueError(f"tanh must be one of {fast_tanh.METHODS}, got {tanh!r}")
        if tanh == "auto":
            tanh = "numpy" if N * H < POLY_MIN_ELEMENTS else fast_tanh.default_method(dt)
        if tanh == "numba":
            if block_rows is not None:
                raise ValueError("block_rows applies to tanh='numpy' and 'poly'; the compiled loops of "
                                 "tanh='numba' walk the rows one at a time")
            from oracles import require

            require("numba", "fast", who="Workspace(tanh='numba')")  # before the import: it needs numba
            from . import numba_kernels

            self._compiled = numba_kernels.kernels(dt)
        #: with tanh="numba": whether x W1, x^T dz1 (small D) and the products with W2 (small C)
        #: are formed inside the compiled loops instead of by BLAS
        self.fuse_x = tanh == "numba" and D <= NUMBA_FUSE_MAX_D
        self.fuse_w2 = tanh == "numba" and C <= NUMBA_FUSE_MAX_C
        #: "numpy", "poly" or "numba": how eq. (2) and tanh' are evaluated (see the class docstring)
        self.tanh = tanh
        block_bytes = {"numpy": BLOCK_BYTES, "poly": POLY_BLOCK_BYTES, "numba": 0}[tanh]  # numba: no blocks
        rows = max(1, block_bytes // (H * dt.itemsize)) if block_rows is None else _positive_int("block_rows", block_rows)
        rows = min(rows, N)
        self.N, self.D, self.H, self.C, self.dtype = N, D, H, C, dt
        # a broadcasting ufunc's buffer holds min(bufsize, its elements): only big steps need UFUNC_BUFSIZE
        self._set_bufsize = N * max(H, C) > UFUNC_BUFSIZE

        def buf(*shape: int) -> np.ndarray:
            return np.zeros(shape, dtype=dt)  # zeros, not empty: touch every page now

        # (N, H): z1 then a1 = tanh(z1); dtanh: tanh'(z1) ("poly", "numba") or its reciprocal
        # cosh^2(z1) ("numpy"); da1 then dz1
        self.a1, self.dtanh, self.dz1 = buf(N, H), buf(N, H), buf(N, H)
        # one block's scratch of the polynomial tanh (rows, H)
        self.poly_scratch: tuple[np.ndarray, ...] = ()
        if tanh == "poly":
            self.poly_scratch = tuple(buf(rows, H) for _ in range(3))
        self.poly_constants = fast_tanh.constants(dt)
        # (N, C): logits z2 then shifted z2 - max; exp then yhat; dz2; scratch for targets
        self.logits, self.yhat, self.dz2, self.scratch_nc = buf(N, C), buf(N, C), buf(N, C), buf(N, C)
        self.targets = buf(N, C)  # a C-contiguous copy of non-contiguous float targets
        self.flat_logits, self.flat_yhat, self.flat_dz2 = (a.reshape(-1) for a in (self.logits, self.yhat, self.dz2))
        # (N,): mass of the other classes T, 1 + T, log1p(T), per-row scratch
        self.others, self.denom, self.log_denom = buf(N), buf(N), buf(N)
        self.row_a, self.row_b, self.row_c = buf(N), buf(N), buf(N)
        self.argmax = np.zeros(N, dtype=np.intp)
        self.flat_m = np.zeros(N, dtype=np.intp)  # n * C + argmax_n
        self.flat_y = np.zeros(N, dtype=np.intp)  # n * C + y_n
        self.is_m = np.zeros(N, dtype=bool)
        self.not_m = np.zeros((N, C), dtype=bool)
        self.row_offsets = np.arange(N, dtype=np.intp) * C
        self.columns = np.arange(C, dtype=np.intp)[None, :]
        # parameter gradients
        self.dW1, self.db1, self.dW2, self.db2 = buf(D, H), buf(H), buf(H, C), buf(C)
        self.dW2_part, self.db1_part = buf(H, C), buf(H)  # one block's share of dW2, db1
        self.W2T = buf(C, H)  # W2^T, copied at each step
        self.dW2T = buf(C, H) if tanh == "numba" else self.W2T[:0]  # dW2^T, from the compiled backward or BLAS
        # blocks of rows: views (a1, dtanh, dz1, logits, dz2) of the same rows; none for "numba"
        self.blocks = [] if tanh == "numba" else [
            (self.a1[sl], self.dtanh[sl], self.dz1[sl], self.logits[sl], self.dz2[sl])
            for sl in (slice(r, min(r + rows, N)) for r in range(0, N, rows))
        ]

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """``(N, D, H, C)``."""
        return self.N, self.D, self.H, self.C

    @property
    def nbytes(self) -> int:
        """Bytes held by the workspace's arrays (views counted once, through their base)."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray) and v.base is None)

    def __repr__(self) -> str:
        N, D, H, C = self.dims
        return (f"Workspace(N={N}, D={D}, H={H}, C={C}, dtype={self.dtype.name}, tanh={self.tanh!r}, "
                f"{self.nbytes / 2**20:.1f} MiB)")

    def check_matches(self, params: Params, x: np.ndarray, y: np.ndarray) -> None:
        """Raise ``ValueError`` unless ``(params, x, y)`` has this workspace's (N, D, H, C) and dtype."""
        got = (x.shape[0], params.W1.shape[0], params.W1.shape[1], params.W2.shape[1])
        if got != self.dims or params.W1.dtype != self.dtype or x.dtype != self.dtype:
            N, D, H, C = got
            raise ValueError(
                f"workspace was built for (N, D, H, C) = {self.dims} in {self.dtype}, but the inputs have "
                f"(N, D, H, C) = ({N}, {D}, {H}, {C}) in {params.W1.dtype} (x {x.dtype}); "
                f"build one with scratch.Workspace({N}, {D}, {H}, {C}, dtype=np.{params.W1.dtype})"
            )
        if y.shape[0] != self.N:
            raise ValueError(f"workspace was built for N = {self.N} samples, y has shape {y.shape}")

    def loss_and_grads(self, params: Params, x: np.ndarray, y: np.ndarray, *, is_labels: bool) -> tuple[np.generic, Grads]:
        """Loss (7) and every gradient, the fused route, into this workspace's buffers.

        Called by :func:`scratch.loss_and_grads` after validation; call it directly only with
        inputs that :func:`scratch.checks.check_inputs` accepted.

        Parameters
        ----------
        params : Params
            ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,) of the workspace's dtype.
        x : (N, D) array.
        y : (N,) int labels or (N, C) float targets.
        is_labels : bool
            Whether ``y`` holds labels (as returned by ``check_inputs``).

        Returns
        -------
        loss : scalar of the workspace's dtype
        grads : Grads
            ``dz2`` (N, C), ``dW2`` (H, C), ``db2`` (C,), ``dz1`` (N, H), ``dW1`` (D, H),
            ``db1`` (H,): views of this workspace, overwritten by the next call.
        """
        self.check_matches(params, x, y)
        # cosh(z1)**2 = inf where tanh'(z1) underflows: intended ("numpy" only; nothing else overflows)
        quiet = np.errstate(over="ignore") if self.tanh == "numpy" else contextlib.nullcontext()
        if not self._set_bufsize:  # small: NumPy's buffers are no bigger than the arrays
            with quiet:
                return self._step(params, x, y, is_labels)
        previous = np.setbufsize(UFUNC_BUFSIZE)
        try:
            with quiet:
                return self._step(params, x, y, is_labels)
        finally:
            np.setbufsize(previous)

    def _step(self, params: Params, x: np.ndarray, y: np.ndarray, is_labels: bool) -> tuple[np.generic, Grads]:
        W1, b1, W2, b2 = params
        np.copyto(self.W2T, W2.T)  # a C-contiguous W2^T: OpenBLAS's small-GEMM path is 2x slower on a transposed view
        if self.tanh == "numba":  # forward (1)-(3), softmax and loss (3)-(7), backward (4')-(1')
            self._forward_compiled(x, W1, b1, W2)
            L = self._softmax_loss_dz2_compiled(b2, y, is_labels)
            self._backward_compiled(x)
        else:
            self._forward_blocks(x, W1, b1, W2)
            L = self._softmax_loss_dz2(b2, y, is_labels)
            self._backward_blocks()
            np.matmul(x.T, self.dz1, out=self.dW1)  # (1')  dW1 = x^T dz1                  (D, H)
        np.add.reduce(self.dz2, axis=0, out=self.db2)  # (3')  db2 = sum_n dz2                      (C,)
        return L, Grads(self.dz2, self.dW2, self.db2, self.dz1, self.dW1, self.db1)

    def _forward_compiled(self, x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray) -> None:
        """Eqs. (1)-(3) up to ``z2 = a1 W2`` (no b2), ``tanh="numba"``: one compiled pass over the rows."""
        if not self.fuse_x:
            np.matmul(x, W1, out=self.a1)  # (1) z1 = x W1 ... (one well-shaped GEMM for the whole batch)
        # (1) ... + b1, (2) a1 = tanh(z1) and tanh'(z1); small D or C: the products too (scratch.numba_kernels)
        self._compiled.forward(x, W1, b1, self.a1, self.dtanh, self.W2T, self.logits, self.fuse_x, self.fuse_w2)
        if not self.fuse_w2:
            np.matmul(self.a1, W2, out=self.logits)  # (3) z2 = a1 W2 ...

    def _softmax_loss_dz2_compiled(self, b2: np.ndarray, y: np.ndarray, is_labels: bool) -> np.generic:
        """:meth:`_softmax_loss_dz2` in one compiled call (``tanh="numba"``): the same steps, row by row."""
        if is_labels:
            labels, targets = y, self.targets  # targets: a placeholder here
        else:
            if not y.flags.c_contiguous:  # one compiled specialisation: C-contiguous targets
                np.copyto(self.targets, y)
                y = self.targets
            labels, targets = self.flat_y, y  # flat_y: a placeholder here
        self._compiled.softmax_loss_dz2(self.logits, b2, labels, targets, is_labels, self.yhat, self.dz2, self.row_a)
        return -np.add.reduce(self.row_a) / self.N  # (7) L = -(1/N) sum_n PL_n

    def _backward_compiled(self, x: np.ndarray) -> None:
        """Eqs. (3'), (3''), (2'), (1') but db2, ``tanh="numba"``."""
        if not self.fuse_w2:
            # (3') dW2^T = dz2^T a1 (C, H): OpenBLAS's faster orientation of this skinny product
            # (float64 at 4096-784-1024-10 2.1-2.2 ms against 3.0-3.3 for a1^T dz2; float32 the same)
            np.matmul(self.dz2.T, self.a1, out=self.dW2T)
            np.matmul(self.dz2, self.W2T, out=self.dz1)  # (3'') da1 = dz2 W2^T (N, H)
        # (2') dz1 = da1 tanh'(z1), (1') db1 = sum_n dz1; small D or C: the products too
        self._compiled.backward(x, self.dz2, self.W2T, self.a1, self.dtanh, self.dz1, self.db1, self.dW2T, self.dW1,
                                self.fuse_x, self.fuse_w2)
        np.copyto(self.dW2, self.dW2T.T)  # (3') dW2 = (dz2^T a1)^T
        if not self.fuse_x:
            np.matmul(x.T, self.dz1, out=self.dW1)  # (1')  dW1 = x^T dz1                  (D, H)

    def _forward_blocks(self, x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray) -> None:
        """Eqs. (1)-(3) up to ``z2 = a1 W2`` (no b2), ``tanh="numpy"`` or ``"poly"``."""
        # ---- forward, eqs. (1)-(3); the (N, H) element-wise work block by block, each block
        # ---- multiplied by W2 while it is still in cache
        np.matmul(x, W1, out=self.a1)  # (1) z1 = x W1 ... (one well-shaped GEMM for the whole batch)
        poly, consts = self.tanh == "poly", self.poly_constants
        for z1, dtanh, _, z2_rows, _ in self.blocks:
            np.add(z1, b1, out=z1)  # (1) ... + b1                           (rows, H)
            if poly:  # (2) a1 = tanh(z1) and tanh'(z1) = sech^2(z1), in place (scratch.fast_tanh)
                n = z1.shape[0]
                fast_tanh.tanh_sech2(z1, dtanh, *(b[:n] for b in self.poly_scratch), consts)
            else:
                np.cosh(z1, out=dtanh)  # cosh(z1)
                np.tanh(z1, out=z1)  # (2) a1 = tanh(z1), now in self.a1
                np.multiply(dtanh, dtanh, out=dtanh)  # cosh^2(z1) = 1 / tanh'(z1)
            np.matmul(z1, W2, out=z2_rows)  # (3) z2 = a1 W2 ...

    def _softmax_loss_dz2(self, b2: np.ndarray, y: np.ndarray, is_labels: bool) -> np.generic:
        """Eqs. (3) ``+ b2`` to (7) and (4')-(7') ``dz2``, on ``self.logits`` holding ``a1 W2``; the loss."""
        N = self.N
        # ---- the softmax parts (scratch.softmax.softmax_parts)
        z2, e = self.logits, self.yhat
        np.add(z2, b2, out=z2)  # (3) ... + b2                               (N, C)
        flat_z2, flat_e, flat_dz2 = self.flat_logits, self.flat_yhat, self.flat_dz2
        z2.argmax(axis=1, out=self.argmax)  # m_n
        np.add(self.row_offsets, self.argmax, out=self.flat_m)
        flat_z2.take(self.flat_m, out=self.row_a, mode="clip")  # z2[n, m_n]
        np.subtract(z2, self.row_a[:, None], out=z2)  # shifted = z2 - max (every entry <= 0)
        np.exp(z2, out=e)  # exp(shifted)
        flat_e.put(self.flat_m, 0.0)  # exclude the maximal class ...
        np.add.reduce(e, axis=1, out=self.others)  # ... T = sum_{k != m} exp(shifted_k)   (N,)
        flat_e.put(self.flat_m, 1.0)  # exp(0) = 1 back in place
        T, denom = self.others, self.denom
        np.add(T, 1.0, out=denom)  # 1 + T = sum_k exp(shifted_k)
        np.divide(e, denom[:, None], out=e)  # (4) yhat = exp(shifted) / (1 + T)    (N, C)
        np.log1p(T, out=self.log_denom)  # log-sum-exp minus the max
        # ---- eqs. (5)-(7) and (4') dz2, as scratch.network._loss and dz2_fused
        dz2, y_m, rest = self.dz2, self.row_b, self.row_c
        if is_labels:
            np.add(self.row_offsets, y, out=self.flat_y, casting="unsafe")
            PL = flat_z2.take(self.flat_y, out=self.row_a, mode="clip")  # shifted[n, y_n]
            np.subtract(PL, self.log_denom, out=PL)  # (5)-(6) PL_n = l[n, y_n]
            np.copyto(dz2, e)  # s_n = 1 for labels
            flat_dz2.take(self.flat_y, out=y_m, mode="clip")
            np.subtract(y_m, 1.0, out=y_m)
            flat_dz2.put(self.flat_y, y_m)  # yhat - onehot(y)
            np.equal(y, self.argmax, out=self.is_m)
            np.copyto(y_m, self.is_m)  # y_m: the weight on the argmax class
            np.subtract(1.0, y_m, out=rest)  # sum_{k != m} y_k
        else:
            if not y.flags.c_contiguous:  # np.take on y.reshape(-1) must not copy
                np.copyto(self.targets, y)
                y = self.targets
            np.subtract(z2, self.log_denom[:, None], out=self.scratch_nc)  # (5) l = shifted - log1p(T)
            np.multiply(self.scratch_nc, y, out=self.scratch_nc)
            PL = np.add.reduce(self.scratch_nc, axis=1, out=self.row_a)  # (6) PL_n = l_n . y_n
            s = np.add.reduce(y, axis=1, out=self.row_c)  # s_n = sum_c y_nc
            np.multiply(e, s[:, None], out=dz2)
            np.subtract(dz2, y, out=dz2)  # (4') yhat * s - y
            y.reshape(-1).take(self.flat_m, out=y_m, mode="clip")
            if self.C == 1:
                np.subtract(s, y_m, out=rest)
            else:
                np.not_equal(self.columns, self.argmax[:, None], out=self.not_m)
                np.add.reduce(y, axis=1, where=self.not_m, out=rest)  # sum_{k != m} y_k, no cancellation
        L = -np.add.reduce(PL) / N  # (7) L = -(1/N) sum_n PL_n
        np.multiply(y_m, T, out=y_m)
        np.subtract(rest, y_m, out=rest)
        np.divide(rest, denom, out=rest)  # (sum_{k!=m} y_k - y_m T) / (1 + T)
        flat_dz2.put(self.flat_m, rest)  # argmax column, cancellation-free
        np.divide(dz2, N, out=dz2)  # (7') the mean over N samples
        return L

    def _backward_blocks(self) -> None:
        """Eqs. (3'), (3''), (2'), (1') but db2 and dW1, ``tanh="numpy"`` or ``"poly"``, block by block."""
        poly = self.tanh == "poly"
        # ---- backward, eqs. (3'), (3''), (2'), (1'); dW2 and dz1 block by block
        W2T = self.W2T
        for i, (a1, dtanh, dz1, _, dz2_rows) in enumerate(self.blocks):
            np.matmul(a1.T, dz2_rows, out=self.dW2_part if i else self.dW2)  # (3') dW2 = a1^T dz2 (H, C) ...
            np.matmul(dz2_rows, W2T, out=dz1)  # (3'') da1 = dz2 W2^T                   (rows, H)
            if poly:
                np.multiply(dz1, dtanh, out=dz1)  # (2')  dz1 = da1 * tanh'(z1)
            else:
                np.divide(dz1, dtanh, out=dz1)  # (2')  dz1 = da1 * tanh'(z1) = da1 / cosh^2(z1)
            np.add.reduce(dz1, axis=0, out=self.db1_part if i else self.db1)  # (1') db1 = sum_n dz1 (H,) ...
            if i:  # ... both summed over the blocks of rows
                np.add(self.dW2, self.dW2_part, out=self.dW2)
                np.add(self.db1, self.db1_part, out=self.db1)


def sgd_step(params: Params, grads: Any, lr: float) -> Params:
    """Plain gradient descent, in place: ``p <- p - lr * dL/dp`` for W1, b1, W2, b2.

    Parameters
    ----------
    params : Params
        Updated in place (C-contiguous, writeable arrays); also returned.
    grads : Grads or Params
        ``Grads`` (from :func:`scratch.loss_and_grads`) or parameter-shaped gradients
        ``(dW1, db1, dW2, db2)``; not modified.
    lr : float
        Learning rate (finite).

    Returns
    -------
    Params
        ``params`` itself.

    Notes
    -----
    ``lr * g`` is formed in a scratch chunk of at most ``SGD_CHUNK`` elements, so the update
    allocates no array of the parameters' size.
    """
    if not np.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    pg = grads.params_grads() if isinstance(grads, Grads) else grads
    for name, p, g in zip(PARAM_NAMES, params, pg):
        if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray) or p.shape != g.shape:
            raise ValueError(f"params.{name} and its gradient must be arrays of one shape, got "
                             f"{getattr(p, 'shape', type(p).__name__)} and {getattr(g, 'shape', type(g).__name__)}")
        if not (p.flags.c_contiguous and p.flags.writeable):
            raise ValueError(f"params.{name} must be a C-contiguous writeable array to be updated in place")
        flat_p, flat_g = p.reshape(-1), g.reshape(-1)
        tmp = np.empty(min(p.size, SGD_CHUNK), dtype=p.dtype)
        for start in range(0, p.size, SGD_CHUNK):
            stop = min(start + SGD_CHUNK, p.size)
            step = np.multiply(flat_g[start:stop], lr, out=tmp[: stop - start])  # lr * g
            np.subtract(flat_p[start:stop], step, out=flat_p[start:stop])  # p <- p - lr g
    return params
