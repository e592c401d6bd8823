"""The gradient-pitfalls gallery: each usual mistake beside the right code, and proof it is caught.

Every gradient pitfall is a complete, runnable ``loss_and_grads(params, x, y) -> (loss, Grads)``
built from the pieces of :mod:`scratch.network` (``_forward``, ``backward``, ``dz2_fused``,
``tanh_derivative``, ...) with exactly **one** piece swapped for the wrong one, marked
``# BUG`` with the right line beneath as ``# RIGHT``.  Each :class:`Pitfall` says what it does
to which quantities (``hits``), on which problem it shows (``caught_on``) and, where there is
one, the problem on which it is invisible (``blind_on``, with the reason): a faulty function
that passes there and fails on ``caught_on`` differs from the right code by the pitfall alone.

:func:`check_pitfall` runs one through the one comparison, :func:`scratch.compare.check_case`,
against an oracle (torch, JAX, or the numeric oracle's complex step) at the tolerance every
other check uses, :func:`scratch.tolerances.oracle_rtol`.  Two pitfalls are not about a
gradient formula (NaN == NaN in ``assert_allclose``, JAX without x64); they carry a
``demo`` function instead.  ``python -m scratch pitfalls`` prints the gallery.

**The family** (:class:`scratch.spec.NetworkSpec`).  Each pitfall declares the member it is a
mistake of (``spec``; its ``caught_on`` setting is a problem of that member, and the oracles are
built for it) and the members where it means anything (``applies``: no 1/N to forget in a summed
loss, no tanh' in a relu network).  The output-layer mistakes are written once, for the seed
network, and are the same mistake in every member: :func:`member_outputs` runs them with the
member's hidden activation (the shared pieces read it from :func:`hidden_layer`) and applies its
reduction and L2 penalty outside them (a sum is N times the mean; the penalty and its gradient
are added to a data part that does not depend on them).  The mistakes about a member's own terms
(the L2 conventions, regularized biases, a penalty missing from the loss or the gradient) take
``spec=`` and are written for it.  :mod:`scratch.diagnosis` computes every fingerprint this way,
for the case's own member.  ``precision`` marks the float32 cancellations: right formulas that
lose digits, named as such.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import textwrap
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np

from .cases import SHAPES, Case, confident_case, make_case
from .checks import check_inputs
from .compare import Check, check_case, check_quantity, compare_results
from .network import Grads, Params, _forward, _loss, backward, dz2_fused, dz2_staged, loss_and_grads, one_hot, tanh_derivative
from .softmax import log_softmax, softmax_parts
from .spec import SEED, NetworkSpec
from . import activations
from .tolerances import FLOAT64_ORACLE_RTOL, oracle_rtol

#: The oracles every gradient pitfall is checked against.
ORACLES = ("torch", "jax", "numeric")


# --------------------------------------------------------------------------------------------
# Shared, correct pieces of the faulty implementations
# --------------------------------------------------------------------------------------------


#: The hidden layer the faulty implementations run with (the seed network's tanh unless
#: :func:`hidden_layer` says otherwise): a pitfall written for the seed network is the same
#: mistake in a relu or sigmoid network, so its fingerprint is computed for the case's activation.
_HIDDEN: contextvars.ContextVar[NetworkSpec] = contextvars.ContextVar("hidden", default=SEED)


@contextlib.contextmanager
def hidden_layer(spec: NetworkSpec) -> Iterator[None]:
    """Run the seed-written pitfalls with ``spec``'s hidden activation (reduction and L2 are
    applied outside them, see :func:`member_outputs`)."""
    token = _HIDDEN.set(SEED if spec.activation == "tanh" else NetworkSpec(activation=spec.activation, alpha=spec.alpha))
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def _hidden() -> NetworkSpec:
    """The data part of the member being run: its activation, mean, no L2."""
    return _HIDDEN.get()


def _hidden_grad(fwd: Any) -> np.ndarray:
    """(2') f'(z1) (N, H), the right one, from z1 (:func:`scratch.activations.derivative`)."""
    h = _hidden()
    return tanh_derivative(fwd.z1) if h.activation == "tanh" else activations.derivative(h.activation, fwd.z1, h.alpha)


def _right(params: Params, x: np.ndarray, y: np.ndarray) -> tuple:
    """The right data loss and gradients of the member being run (mean, no L2)."""
    return loss_and_grads(params, x, y, spec=_hidden())


def _start(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray, bool, int]:
    """Validation and the correct forward pass: ``(fwd, Y (N, C) targets, is_labels, N)``."""
    N, _, _, C, dtype, is_labels = check_inputs(params, x, y)
    return _forward(params, x, _hidden()), (one_hot(y, C, dtype) if is_labels else y), is_labels, N


def _finish(
    params: Params, x: np.ndarray, y: np.ndarray, fwd: Any, dz2: np.ndarray, is_labels: bool,
    *, tanh_grad: np.ndarray | None = None,
) -> tuple:
    """The correct rest: loss (6)-(7) and the backward pass (3')-(1') from ``dz2`` (N, C), with
    ``tanh_grad`` (N, H) as tanh'(z1), f'(z1) in general (default: the right one, from z1)."""
    if tanh_grad is None:
        tanh_grad = _hidden_grad(fwd)
    return _loss(fwd.log_yhat, y, is_labels), backward(params, x, fwd, dz2, tanh_grad=tanh_grad)


# --------------------------------------------------------------------------------------------
# The faulty implementations: one wrong piece each
# --------------------------------------------------------------------------------------------


def missing_mean(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    dz2 = fwd.yhat * Y.sum(axis=1, keepdims=True) - Y  # BUG: (4') without the 1/N of (7')
    # RIGHT: dz2 = (fwd.yhat * Y.sum(axis=1, keepdims=True) - Y) / N
    return _finish(params, x, y, fwd, dz2, is_labels)


def sign_flipped(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    dz2 = (Y - fwd.yhat * Y.sum(axis=1, keepdims=True)) / N  # BUG: y - yhat, the ascent direction
    # RIGHT: dz2 = (fwd.yhat * Y.sum(axis=1, keepdims=True) - Y) / N
    return _finish(params, x, y, fwd, dz2, is_labels)


def elementwise_softmax_derivative(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    dyhat = -Y / (N * fwd.yhat)  # (5') dL/dyhat = dl / yhat
    dz2 = dyhat * fwd.yhat * (1 - fwd.yhat)  # BUG: only the diagonal of J = diag(yhat) - yhat yhat^T
    # RIGHT: dz2 = np.einsum("nij,ni->nj", softmax_jacobian(fwd.yhat), dyhat)   (4') J^T dyhat
    return _finish(params, x, y, fwd, dz2, is_labels)


def yhat_minus_y(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    dz2 = (fwd.yhat - Y) / N  # BUG: assumes every row of y sums to 1
    # RIGHT: dz2 = (fwd.yhat * Y.sum(axis=1, keepdims=True) - Y) / N
    return _finish(params, x, y, fwd, dz2, is_labels)


def tanh_derivative_from_z(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    tanh_grad = 1 - fwd.z1**2  # BUG: 1 - z^2 instead of 1 - tanh(z)^2
    # RIGHT: tanh_grad = 1 - fwd.a1**2   (or tanh_derivative(fwd.z1), without cancellation)
    return _finish(params, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels, tanh_grad=tanh_grad)


def bias_gradient_by_mean(params, x, y):
    L, g = _right(params, x, y)
    return L, g._replace(db2=g.dz2.mean(axis=0), db1=g.dz1.mean(axis=0))  # BUG: mean over n; dz already has 1/N
    # RIGHT: db2 = g.dz2.sum(axis=0), db1 = g.dz1.sum(axis=0)   (3'), (1')


def bias_gradient_wrong_axis(params, x, y):
    L, g = _right(params, x, y)
    return L, g._replace(db2=g.dz2.sum(axis=1), db1=g.dz1.sum(axis=1))  # BUG: sums over units, not samples
    # RIGHT: db2 = g.dz2.sum(axis=0), db1 = g.dz1.sum(axis=0)   (3'), (1')


def w2_not_transposed(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    wrong = params._replace(W2=params.W2.T)  # BUG: backward's da1 = dz2 W2^T becomes dz2 W2 (runs iff H = C)
    # RIGHT: _finish(params, ...)   (3'') da1 = dz2 W2^T, shape (N, C) @ (C, H)
    return _finish(wrong, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels)


def softmax_without_max_shift(params, x, y):
    fwd, Y, _, N = _start(params, x, y)
    e = np.exp(fwd.z2)  # BUG: exp(z2) overflows to inf for z2 > 709 (88 in float32); inf/inf = NaN
    # RIGHT: e = np.exp(fwd.z2 - fwd.z2.max(axis=1, keepdims=True))   softmax is shift invariant
    yhat = e / e.sum(axis=1, keepdims=True)  # (4)
    loss = -np.sum(Y * np.log(yhat)) / N  # (5)-(7)
    dz2 = (yhat * Y.sum(axis=1, keepdims=True) - Y) / N  # (4')
    return loss, backward(params, x, fwd, dz2, tanh_grad=_hidden_grad(fwd))


def log_of_softmax(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    log_yhat = np.log(fwd.yhat)  # BUG: yhat underflows to 0 on a confident mistake: log 0 = -inf
    # RIGHT: log_yhat = log_softmax(fwd.z2)   (z2 - max) - log1p(T), never the log of a rounded yhat
    return _loss(log_yhat, y, is_labels), backward(params, x, fwd, dz2_fused(fwd, y, is_labels),
                                                   tanh_grad=_hidden_grad(fwd))


def probabilities_modified_in_place(params, x, y):
    fwd, Y, _, N = _start(params, x, y)
    probs = fwd.yhat
    delta3 = probs  # BUG: an alias, not a copy (Denny Britz: delta3 = probs; delta3[range(N), y] -= 1)
    # RIGHT: delta3 = probs.copy()
    delta3 *= Y.sum(axis=1, keepdims=True)
    delta3 -= Y
    delta3 /= N  # (4') dz2, written over probs
    grads = backward(params, x, fwd, delta3, tanh_grad=_hidden_grad(fwd))
    loss = -np.sum(Y * np.log(probs)) / N  # (5)-(7) from probs, which now hold dz2
    return loss, grads


class AccumulatingGradients:
    """Gradients summed into one buffer across calls and never reset (PyTorch without
    ``optimizer.zero_grad()``): the first call is right, the second doubles everything."""

    def __init__(self) -> None:
        self.total: Grads | None = None

    def __call__(self, params, x, y):
        L, g = _right(params, x, y)
        self.total = g if self.total is None else Grads(*(a + b for a, b in zip(self.total, g)))  # BUG: += forever
        # RIGHT: self.total = g   (or zero the buffer before each backward pass)
        return L, self.total


def float32_yhat_minus_y(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    dz2 = (fwd.yhat * Y.sum(axis=1, keepdims=True) - Y) / N  # BUG in float32: yhat_c rounds to 1, yhat_c - 1 to 0
    # RIGHT: dz2 = dz2_fused(fwd, y, is_labels)   argmax column -(T / (1 + T)) / N, T the others' mass
    return _finish(params, x, y, fwd, dz2, is_labels)


def float32_tanh_derivative_from_a1(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    tanh_grad = 1 - fwd.a1**2  # BUG in float32: a1 rounds to +-1 for |z1| > 9, tanh' to 0
    # RIGHT: tanh_grad = tanh_derivative(fwd.z1)   4u / (1 + u)^2, u = exp(-2|z1|)
    return _finish(params, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels, tanh_grad=tanh_grad)


def forgotten_biases(params, x, y):
    *_, is_labels = check_inputs(params, x, y)
    no_bias = params._replace(b1=np.zeros_like(params.b1), b2=np.zeros_like(params.b2))
    fwd = _forward(no_bias, x, _hidden())  # BUG: z1 = x W1 and z2 = a1 W2, the biases never enter
    # RIGHT: fwd = _forward(params, x)   (1) z1 = x W1 + b1, (3) z2 = a1 W2 + b2
    return _finish(params, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels)


# --------------------------------------------------------------------------------------------
# Mistakes of the family's other members (each declares the member it is a mistake of)
# --------------------------------------------------------------------------------------------

#: The members the family's own pitfalls are mistakes of.
RELU = NetworkSpec(activation="relu")
SIGMOID = NetworkSpec(activation="sigmoid")
L2 = NetworkSpec(l2=0.01)  # (lambda/2)(||W1||^2 + ||W2||^2) on the weights only


def _plus(g: Grads, reg: Any) -> Grads:
    """``g`` with a penalty's gradient ``reg`` = (dR/dW1, dR/db1, dR/dW2, dR/db2) added (8')."""
    return g._replace(dW1=g.dW1 + reg[0], db1=g.db1 + reg[1], dW2=g.dW2 + reg[2], db2=g.db2 + reg[3])


def relu_derivative_ge(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    relu_grad = (fwd.z1 >= 0).astype(fwd.z1.dtype)  # BUG: 1 at z1 = 0 exactly (a dead unit); the convention is 0
    # RIGHT: relu_grad = (fwd.z1 > 0).astype(fwd.z1.dtype)   (2') [z1 > 0], as torch.relu and jax.nn.relu
    return _finish(params, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels, tanh_grad=relu_grad)


def float32_sigmoid_derivative(params, x, y):
    fwd, _, is_labels, _ = _start(params, x, y)
    s = activations.sigmoid(fwd.z1)  # (2) sigma(z1)
    sigmoid_grad = s * (1 - s)  # BUG in float32: sigma(z1) rounds to 1 for z1 > 17, 1 - sigma to 0
    # RIGHT: sigmoid_grad = activations.derivative("sigmoid", fwd.z1)   sigma(z1) sigma(-z1), no 1 - sigma
    return _finish(params, x, y, fwd, dz2_fused(fwd, y, is_labels), is_labels, tanh_grad=sigmoid_grad)


def l2_gradient_other_convention(params, x, y, spec=L2):
    L, g = loss_and_grads(params, x, y, spec=replace(spec, l2=0.0))  # the data part, right
    other = replace(spec, l2_form="full" if spec.l2_form == "half" else "half")
    reg = other.penalty_grads(params)  # BUG: 2 lambda W for (lambda/2)||W||^2 (lambda W for lambda ||W||^2)
    # RIGHT: reg = spec.penalty_grads(params)   (8') the derivative of the penalty the loss has
    return L + spec.penalty(params), _plus(g, reg)


def l2_on_biases(params, x, y, spec=L2):
    L, g = loss_and_grads(params, x, y, spec=replace(spec, l2=0.0))  # the data part, right
    penalty = replace(spec, l2_biases=True)  # BUG: the biases regularized too; the task says weights only
    # RIGHT: penalty = spec   (8) R = (lambda/2)(||W1||^2 + ||W2||^2), the biases free
    return L + penalty.penalty(params), _plus(g, penalty.penalty_grads(params))


def penalty_missing_from_loss(params, x, y, spec=L2):
    L, g = loss_and_grads(params, x, y, spec=replace(spec, l2=0.0))  # the data part, right
    loss = L  # BUG: the data loss only, while the gradient below has the penalty's
    # RIGHT: loss = L + spec.penalty(params)   (8) the loss is data loss + R(W)
    return loss, _plus(g, spec.penalty_grads(params))


def penalty_missing_from_gradient(params, x, y, spec=L2):
    L, g = loss_and_grads(params, x, y, spec=replace(spec, l2=0.0))  # the data part, right
    grads = g  # BUG: the penalty is in the loss, its gradient k W never added
    # RIGHT: grads = _plus(g, spec.penalty_grads(params))   (8') dW += k W
    return L + spec.penalty(params), grads


def loss_mean_over_all_entries(params, x, y):
    fwd, Y, is_labels, N = _start(params, x, y)
    loss = -np.mean(Y * fwd.log_yhat)  # BUG: a mean over all N*C entries: 1/C of the loss (7)
    # RIGHT: loss = -np.sum(Y * fwd.log_yhat) / N   (7) L = -(1/N) sum_n PL_n
    return loss, backward(params, x, fwd, dz2_fused(fwd, y, is_labels), tanh_grad=_hidden_grad(fwd))


# --------------------------------------------------------------------------------------------
# Demonstrations (pitfalls of the checking, not of a gradient formula)
# --------------------------------------------------------------------------------------------


def nan_equals_nan() -> dict[str, Any]:
    """``np.testing.assert_allclose`` calls two NaN results equal (``equal_nan=True`` by default);
    :func:`scratch.compare.check_quantity` does not.

    Both sides run the max-shift-free softmax on logits of ~1e3: each gives NaN gradients.
    Returns what ``assert_allclose`` said, what ``scratch.compare`` said, and what
    ``assert_allclose(..., equal_nan=False)`` said.
    """
    case = SETTINGS["huge_logits"].case()
    with np.errstate(all="ignore"):
        a = softmax_without_max_shift(*case[:3])[1].dz2
        b = softmax_without_max_shift(*case[:3])[1].dz2
    out: dict[str, Any] = {"nan_entries": int(np.isnan(a).sum())}
    try:
        np.testing.assert_allclose(a, b)
        out["assert_allclose"] = "passed"
    except AssertionError:
        out["assert_allclose"] = "failed"
    try:
        np.testing.assert_allclose(a, b, equal_nan=False)
        out["assert_allclose_equal_nan_false"] = "passed"
    except AssertionError:
        out["assert_allclose_equal_nan_false"] = "failed"
    c = check_quantity("dz2", a, b, rtol=FLOAT64_ORACLE_RTOL, dtype=a.dtype, shape=a.shape)
    out["scratch.compare"] = c.problem or "passed"
    return out


def jax_without_x64() -> dict[str, Any]:
    """JAX with ``jax_enable_x64`` off turns float64 arrays into float32 without a word.

    Runs the JAX oracle's own ``value_and_grad`` under ``jax.enable_x64(False)`` on a float64
    case and compares with scratch through :func:`scratch.compare.compare_results`: the dtype
    check fails, and so do the values (float32 rounding, ~1e-7, against 1e-10).  The JAX
    oracle itself refuses such output (its dtype assertion).
    """
    import oracles

    jax = oracles.require("jax", "jax")  # a missing jax: MissingFramework (an ImportError) naming the extra
    import jax.numpy as jnp

    from oracles import jax_oracle

    case = SETTINGS["small"].case()
    N, D = case.x.shape
    H, C = case.params.W2.shape
    with jax.enable_x64(False), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # JAX's note that it truncated float64
        dtype = jnp.asarray(case.x).dtype
        e1, e2 = jnp.zeros((N, H)), jnp.zeros((N, C))
        L, (g, dz1, dz2) = jax_oracle._value_and_grad(tuple(jnp.asarray(p) for p in case.params), e1, e2,
                                                      jnp.asarray(case.x), jnp.asarray(case.y), True, SEED)
        try:
            jax_oracle.loss_and_grads(*case[:3])
            guard = "passed"
        except AssertionError as exc:
            guard = str(exc)
    got = (np.asarray(L)[()], Grads(*(np.asarray(a) for a in (dz2, g[2], g[3], dz1, g[0], g[1]))))
    ref = loss_and_grads(*case[:3])
    checks = compare_results(got, ref, rtol=FLOAT64_ORACLE_RTOL, dtype=np.float64, dims=(N, D, H, C))
    failed = [c for c in checks if not c.passed]
    verdict = f"{len(failed)} quantities fail, e.g. {failed[0].quantity}: {failed[0].problem}" if failed else "passed"
    return {"dtype_of_float64_input": str(dtype), "scratch.compare": verdict,
            "max_rel_err_values": max(c.max_rel for c in checks),
            "oracle_guard": guard}


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """Where a pitfall is run: a problem recipe and how many times the function is called
    (the result of the last call is checked)."""

    shape: str = "small"  # a name of scratch.cases.SHAPES, "confident" or "mixed" (see case())
    dtype: str = "float64"
    target: str = "labels"
    bias_scale: float = 0.5
    logit_scale: float = 1.0
    seed: int = 0
    calls: int = 1
    #: The member of the family the problem is checked against.
    spec: NetworkSpec = SEED
    #: Hidden units 0..k-1 switched off (their W1 column and b1 entry set to 0): z1 = 0 exactly there.
    dead_units: int = 0

    def case(self) -> Case:
        """The problem (params, x, y, name).  "confident": :func:`scratch.cases.confident_case`;
        "mixed": the same with sample 0's input scaled by 0.03 (an ordinary row, yhat_max ~ 0.85
        and |z1| < 1, beside 15 confident, saturated ones).  ``dead_units``: z1[:, :k] = 0 exactly
        (ReLU's kink, where the derivative is a convention)."""
        if self.shape in ("confident", "mixed"):
            case = confident_case(self.seed, dtype=np.dtype(self.dtype))
            if self.shape == "mixed":
                x = case.x.copy()
                x[0] *= 0.03
                case = case._replace(x=x, name=case.name.replace("confident", "mixed"))
        else:
            case = make_case(self.seed, SHAPES[self.shape], np.dtype(self.dtype), self.target,
                             bias_scale=self.bias_scale, logit_scale=self.logit_scale)
        if self.dead_units:
            W1, b1 = case.params.W1.copy(), case.params.b1.copy()
            W1[:, :self.dead_units] = 0  # (1) z1[:, j] = x W1[:, j] + b1[j] = 0 exactly
            b1[:self.dead_units] = 0
            case = case._replace(params=case.params._replace(W1=W1, b1=b1))
        return case

    def describe(self) -> str:
        """A short, readable id: ``small-float64-labels``, ``+ b=0``, ``x2 calls``."""
        parts = [self.shape, self.dtype, self.target]
        if self.bias_scale != 0.5:
            parts.append(f"bias {self.bias_scale:g}")
        if self.logit_scale != 1.0:
            parts.append(f"logits x{self.logit_scale:g}")
        if self.calls != 1:
            parts.append(f"{self.calls} calls")
        if self.dead_units:
            parts.append(f"{self.dead_units} dead units (z1 = 0 exactly)")
        if not self.spec.is_seed:
            parts.append(self.spec.tag())
        return " ".join(parts)


#: The problems pitfalls are run on.
SETTINGS: dict[str, Setting] = {
    "small": Setting(),
    "n1": Setting(shape="n1"),
    "c1": Setting(shape="c1"),
    "square": Setting(shape="square"),
    "unnormalized": Setting(target="unnormalized"),
    "huge_logits": Setting(shape="c10", logit_scale=1e3),
    "twice": Setting(calls=2),
    "confident32": Setting(shape="confident", dtype="float32"),
    "zero_bias": Setting(bias_scale=0.0),
    "mixed32": Setting(shape="mixed", dtype="float32"),
    "relu": Setting(spec=RELU),
    "relu_dead": Setting(spec=RELU, dead_units=2),
    "sigmoid": Setting(spec=SIGMOID),
    "sigmoid_confident32": Setting(shape="confident", dtype="float32", spec=SIGMOID),
    "l2": Setting(spec=L2),
    "l2_zero_bias": Setting(spec=L2, bias_scale=0.0),
}

#: The six gradients, in the order of the backward pass (every field of :class:`scratch.network.Grads`).
ALL_GRADS = Grads._fields


@dataclass(frozen=True)
class Pitfall:
    """One entry of the gallery.

    ``faulty``: the wrong implementation (a function ``(params, x, y) -> (loss, Grads)`` or a
    class whose instances are one); ``right``: the core piece that does it right (for
    display); ``hits``: the quantities it corrupts on ``caught_on``; ``blind_on``: a setting
    on which it is invisible, ``why_blind`` the reason; ``demo``: for the two pitfalls of
    checking, a function returning what it showed; ``weak_on``: a setting on which the bug is
    present but the oracle check (relative error of the largest magnitude) does not see it,
    and only the elementwise error of :mod:`scratch.lab.accuracy` does.
    """

    name: str
    title: str
    story: str
    hits: tuple[str, ...] = ()
    faulty: Any = None
    right: Any = None
    caught_on: str = "small"
    blind_on: str | None = None
    why_blind: str = ""
    demo: Callable[[], dict[str, Any]] | None = None
    weak_on: str | None = None
    #: The member of the family this is a mistake of (the seed network for the output-layer
    #: mistakes, which are the same mistake in every member).
    spec: NetworkSpec = SEED
    #: Whether the mistake means anything for a member (e.g. no 1/N to forget in a summed loss,
    #: no tanh' in a relu network): its fingerprint is computed only there.
    applies: Callable[[NetworkSpec], bool] = lambda spec: True
    #: The faulty function takes ``spec=`` (a mistake about the member's own L2 term); otherwise
    #: it is the data part and :func:`member_outputs` adds the member's reduction and penalty.
    takes_spec: bool = False
    #: Right formula, lost digits: a cancellation in the case's dtype, not a wrong derivative.
    precision: bool = False

    @property
    def is_gradient(self) -> bool:
        """True for a faulty implementation, False for a demonstration."""
        return self.faulty is not None

    def source(self) -> str:
        """The faulty code, as written in this module."""
        return inspect.getsource(self.faulty if self.faulty is not None else self.demo)

    def right_source(self) -> str:
        """The right code (the core's piece), as written in :mod:`scratch.network` / ``softmax``."""
        return textwrap.dedent(inspect.getsource(self.right)) if self.right is not None else ""


PITFALLS: dict[str, Pitfall] = {p.name: p for p in [
    Pitfall("missing_mean", "missing 1/N",
            "The loss is a mean over the N samples (7), so every gradient carries 1/N, and it enters "
            "once, at (7'). Forget it and every gradient is N times too large: training still goes "
            "downhill, just with a learning rate N times too big, which is why it survives. With N = 1 "
            "nothing can see it.",
            ALL_GRADS, missing_mean, dz2_fused, "small", "n1", "N = 1: the factor 1/N is 1",
            applies=lambda spec: spec.reduction == "mean"),
    Pitfall("sign_flipped", "sign flipped: y - yhat",
            "dL/dz2 = (yhat - y)/N points uphill on the loss; y - yhat is the direction that *increases* "
            "it (the log-likelihood's gradient). Mixing the two conventions trains the network away from "
            "the labels. With one class softmax is constant and dz2 = 0 both ways.",
            ALL_GRADS, sign_flipped, dz2_fused, "small", "c1", "C = 1: softmax is 1, dz2 = 0 both ways"),
    Pitfall("elementwise_softmax_derivative", "elementwise softmax derivative yhat(1 - yhat)",
            "d yhat_i / d z_j is a C x C Jacobian J = diag(yhat) - yhat yhat^T, not the elementwise "
            "yhat(1 - yhat) of the sigmoid: that keeps only J's diagonal and drops how raising one logit "
            "lowers every other probability. For labels it gives 0 instead of yhat_k/N for every wrong "
            "class k.",
            ALL_GRADS, elementwise_softmax_derivative, dz2_staged, "small", "c1",
            "C = 1: J = 0 and the diagonal is all of it"),
    Pitfall("yhat_minus_y", "yhat - y with targets whose rows do not sum to 1",
            "(4') is dz2 = (yhat * sum_c y_c - y)/N; the famous yhat - y is the special case sum_c y_c = 1 "
            "(labels, one-hot, soft labels). With weights or unnormalised scores as targets the softmax "
            "term keeps its factor sum_c y_c, and yhat - y is wrong.",
            ALL_GRADS, yhat_minus_y, dz2_fused, "unnormalized", "small", "labels: every row sums to 1"),
    Pitfall("tanh_derivative_from_z", "tanh' computed from z instead of a",
            "tanh'(z) = 1 - tanh(z)^2 = 1 - a^2: the derivative is written in terms of the *output* a. "
            "Writing 1 - z^2 (the pre-activation) is a different, wrong function, negative for |z| > 1. "
            "Only the first layer's gradients pass through it.",
            ("dz1", "dW1", "db1"), tanh_derivative_from_z, tanh_derivative, "small",
            applies=lambda spec: spec.activation == "tanh"),
    Pitfall("bias_gradient_by_mean", "bias gradient by mean",
            "db = sum_n dz (3'), (1'): a bias is shared by all N samples, so its gradient adds up their "
            "contributions, and dz already carries the 1/N of the loss. Averaging again divides by N twice: "
            "the biases learn N times too slowly. With N = 1 mean and sum coincide.",
            ("db2", "db1"), bias_gradient_by_mean, backward, "small", "n1", "N = 1: mean = sum"),
    Pitfall("bias_gradient_wrong_axis", "bias gradient over the wrong axis",
            "The bias is shared by the N samples, so its gradient sums dz over the samples (axis 0), giving "
            "shape (C,) or (H,). Summing over axis 1 adds up the units of each sample instead: shape (N,), "
            "caught by the shape check before any value (when N = C it would even have the right shape).",
            ("db2", "db1"), bias_gradient_wrong_axis, backward, "small"),
    Pitfall("w2_not_transposed", "W2 instead of W2^T on the way back",
            "z2 = a1 W2 maps (N, H) to (N, C); the way back maps (N, C) to (N, H): da1 = dz2 W2^T (3''). "
            "dz2 W2 only runs when H = C, where it silently uses the wrong weights: a square case is "
            "where this bug lives.",
            ("dz1", "dW1", "db1"), w2_not_transposed, backward, "square"),
    Pitfall("softmax_without_max_shift", "softmax without the max-shift",
            "exp(z) overflows to inf for z > 709 in float64 (88 in float32), and inf/inf = NaN. Softmax is "
            "shift invariant, so subtracting each row's maximum first changes nothing mathematically and "
            "keeps every exponent <= 0. On ordinary logits the naive version is right, which is why it "
            "ships.",
            ("loss", *ALL_GRADS), softmax_without_max_shift, softmax_parts, "huge_logits", "small",
            "logits of order 1: nothing overflows"),
    Pitfall("log_of_softmax", "log of softmax instead of log-softmax",
            "On a confident mistake the true class's probability underflows to exactly 0 and log 0 = -inf: "
            "the loss is inf although it is only a large finite number (the logit gap). "
            "log_softmax = (z - max z) - log1p(T) never takes the log of a rounded probability.",
            ("loss",), log_of_softmax, log_softmax, "huge_logits", "small", "logits of order 1: nothing underflows"),
    Pitfall("probabilities_modified_in_place", "probabilities modified in place by the backward pass",
            "Denny Britz's classic `delta3 = probs; delta3[range(N), y] -= 1` makes delta3 a second name "
            "for probs: the backward pass overwrites the forward pass's probabilities with dz2. The "
            "gradients are right; whatever reads probs afterwards (the loss, the accuracy, the next layer "
            "of a larger net) reads gradients instead, here log of numbers <= 0: NaN.",
            ("loss",), probabilities_modified_in_place, dz2_fused, "small"),
    Pitfall("accumulating_gradients", "gradients accumulated across calls",
            "A gradient buffer that is added to and never reset (PyTorch's .grad without "
            "optimizer.zero_grad()) is right on the first call and k times too large on the k-th. A check "
            "that calls once never sees it; the gallery calls twice.",
            ALL_GRADS, AccumulatingGradients, loss_and_grads, "twice", "small", "one call: nothing accumulated yet"),
    Pitfall("float32_yhat_minus_y", "float32 yhat - y cancellation on confident predictions",
            "With a logit gap near 20, 1 - yhat_c = T/(1+T) ~ 2e-8 is below float32's resolution near 1: "
            "yhat_c rounds to 1 and the true class's gradient to 0, for every confident row; PyTorch and "
            "JAX do the same. Computing the argmax column as -T/(1+T)/N from T, the other classes' mass, "
            "loses nothing (see `python -m scratch accuracy`).",
            ALL_GRADS, float32_yhat_minus_y, dz2_fused, "confident32", "small",
            "float64 and ordinary logits: 1 - yhat_c is representable", weak_on="mixed32", precision=True,
            # its confident problem places the logits through tanh's saturated units: with another
            # activation the same arrays are not confident, and nothing shows (a sigmoid gallery missed it)
            applies=lambda spec: spec.activation == "tanh"),
    Pitfall("float32_tanh_derivative_from_a1", "float32 1 - a1^2 for saturated units",
            "For |z1| > 9 float32's tanh rounds to +-1 and 1 - a1^2 to 0 (float64: beyond 18.7), although "
            "sech^2(z1) ~ 4 exp(-2|z1|) is representable down to |z1| ~ 44. tanh_derivative computes it "
            "from z1 as 4u/(1+u)^2, u = exp(-2|z1|): no subtraction.",
            ("dz1", "dW1", "db1"), float32_tanh_derivative_from_a1, tanh_derivative, "confident32", "small",
            "float64 and unsaturated units: 1 - a1^2 is accurate", weak_on="mixed32",
            applies=lambda spec: spec.activation == "tanh", precision=True),
    Pitfall("zero_biases_hide_a_bias_bug", "zero-initialised biases hiding a bias bug",
            "Biases are usually initialised to 0. A forward pass that forgets them then computes exactly "
            "the right network, and every oracle agrees with it, torch, JAX and numeric alike: no gradient "
            "check can see a bug that changes nothing. Only a test problem with non-zero biases can; "
            "scratch.cases draws them with bias_scale = 0.5 for this reason.",
            ("loss", *ALL_GRADS), forgotten_biases, _forward, "small", "zero_bias",
            "biases 0: the faulty network equals the right one, so no oracle can see it; the cases' non-zero biases do"),
    Pitfall("relu_derivative_ge", "ReLU derivative with >= (1 at exactly z1 = 0)",
            "ReLU has no derivative at 0; every framework takes the left one, 0 (torch.relu, jax.nn.relu), "
            "and so does this project. Writing the mask as z1 >= 0 gives 1 there instead. It changes "
            "nothing while no z1 is exactly 0, which is almost always with random weights, and everything "
            "for a unit that is switched off (a zero column of W1 and a zero bias, a pruned or dead unit): "
            "its gradient is no longer 0, so it comes back to life on the next step.",
            ("dz1", "dW1", "db1"), relu_derivative_ge, activations.derivative, "relu_dead", "relu",
            "no z1 exactly 0: [z1 >= 0] and [z1 > 0] agree wherever z1 != 0; the sweep's random cases have none",
            spec=RELU, applies=lambda spec: spec.activation == "relu"),
    Pitfall("float32_sigmoid_derivative", "float32 sigma(z)(1 - sigma(z)) on saturated units",
            "sigma'(z) = sigma(z)(1 - sigma(z)) is exact on paper, but for z > 17 float32's sigma(z) rounds "
            "to 1 and 1 - sigma(z) to 0 (from z ~ 10 on it keeps only a few digits), although sigma'(z) ~ "
            "exp(-z) is representable far beyond. sigma(z) sigma(-z) has no subtraction: each factor is "
            "computed from the exponential of a non-positive number.",
            ("dz1", "dW1", "db1"), float32_sigmoid_derivative, activations.derivative, "sigmoid_confident32",
            "sigmoid", "unsaturated units: 1 - sigma(z) keeps its digits",
            spec=SIGMOID, applies=lambda spec: spec.activation == "sigmoid", precision=True),
    Pitfall("l2_gradient_other_convention", "L2 gradient of the other convention (2 lambda W for lambda/2)",
            "Two conventions are in use: R = (lambda/2)||W||^2 with gradient lambda W (CS231n's later notes, "
            "most books) and R = lambda||W||^2 with gradient 2 lambda W (CS231n's assignment, PyTorch-style "
            "weight decay is the first). Taking the loss of one and the gradient of the other doubles or "
            "halves the regularization's pull: training still works, with another lambda, so it survives.",
            ("dW2", "dW1"), l2_gradient_other_convention, NetworkSpec.penalty_grads, "l2",
            spec=L2, applies=lambda spec: spec.l2 > 0, takes_spec=True),
    Pitfall("l2_on_biases", "biases regularized when the task says weights only",
            "The usual L2 term penalizes the weights and leaves the biases free: a bias only shifts a unit, "
            "and shrinking it toward 0 buys no smoothness. Looping over every parameter (for p in params: "
            "loss += lam * (p**2).sum()) regularizes the biases too, changing the loss and db1, db2. With "
            "biases of 0 it changes nothing. (Where the biases are meant to be regularized, say so: --l2-biases.)",
            ("loss", "db2", "db1"), l2_on_biases, NetworkSpec.penalty, "l2", "l2_zero_bias",
            "biases 0: their penalty and its gradient are 0",
            spec=L2, applies=lambda spec: spec.l2 > 0 and not spec.l2_biases, takes_spec=True),
    Pitfall("penalty_missing_from_loss", "L2 penalty in the gradient but not in the loss",
            "The gradient carries the penalty's k W but the loss reported is the data loss only: training "
            "is right, while the printed loss and any check of it (and a line search or early stopping on "
            "it) see another function, whose gradient this is not.",
            ("loss",), penalty_missing_from_loss, NetworkSpec.penalty, "l2",
            spec=L2, applies=lambda spec: spec.l2 > 0, takes_spec=True),
    Pitfall("penalty_missing_from_gradient", "L2 penalty in the loss but not in the gradient",
            "The loss includes the penalty, the gradient never gets its k W: the printed loss says the "
            "weights are regularized, the updates do not regularize them at all.",
            ("dW2", "dW1"), penalty_missing_from_gradient, NetworkSpec.penalty_grads, "l2",
            spec=L2, applies=lambda spec: spec.l2 > 0, takes_spec=True),
    Pitfall("loss_mean_over_all_entries", "loss averaged over all N*C entries (1/C of the loss)",
            "-np.mean(Y * log_yhat) averages over the N*C entries of the (N, C) array, not over the N "
            "samples: the loss is 1/C of (7), while the gradients written from (7') are right, so the loss "
            "and its gradient disagree by C. With one class nothing can see it.",
            ("loss",), loss_mean_over_all_entries, _loss, "small", "c1", "C = 1: N*C entries are N samples",
            applies=lambda spec: spec.reduction == "mean"),
    Pitfall("nan_equals_nan", "np.testing.assert_allclose passing NaN == NaN",
            "assert_allclose has equal_nan=True by default: two results that are both NaN in the same places "
            "compare equal, so a test of a NaN-producing implementation against a reference with the same "
            "overflow passes. scratch.compare checks finiteness of both sides before any value.",
            demo=nan_equals_nan, right=check_quantity),
    Pitfall("jax_without_x64", "JAX computing in float32 because x64 was not enabled",
            "Without jax.config.update('jax_enable_x64', True), jnp.asarray turns float64 arrays into "
            "float32 silently, and an 'oracle' agrees with float64 code to ~1e-7 only: a float64 check at "
            "1e-10 then fails for no bug of ours, or a loose tolerance hides real ones. The JAX oracle "
            "enables x64 and asserts its outputs carry the input dtype; scratch.compare checks dtypes.",
            demo=jax_without_x64, right=check_quantity),
]}


def fresh(p: Pitfall) -> Callable[..., tuple[Any, Grads]]:
    """A callable faulty implementation (a new instance for a class, so no state is shared)."""
    return p.faulty() if inspect.isclass(p.faulty) else p.faulty


def member_outputs(p: Pitfall, spec: NetworkSpec, params: Params, x: np.ndarray, y: np.ndarray,
                   calls: int = 1) -> tuple[Any, Grads]:
    """Pitfall ``p`` made in the member ``spec``: a fresh faulty implementation called ``calls``
    times on copies of the inputs (the last result), with ``spec``'s hidden activation.  A
    seed-written pitfall computes the data part (mean, no L2); the member's reduction and
    penalty are applied to it here: a sum is N times the mean (7), and the penalty (8), (8') is
    added to a data part that does not depend on it.  Overflow and invalid-value warnings are
    silenced: producing them is the point.  Raises ``ValueError`` where the pitfall does not
    apply to ``spec`` (``p.applies``)."""
    if not p.applies(spec):
        raise ValueError(f"pitfall {p.name} is not a mistake of the network {spec.describe()}")
    f = fresh(p)
    with hidden_layer(spec), np.errstate(all="ignore"):
        for _ in range(calls):
            out = f(params.copy(), x.copy(), y.copy(), **({"spec": spec} if p.takes_spec else {}))
    if p.takes_spec or (spec.reduction == "mean" and not spec.l2):
        return out
    L, g = out
    if spec.reduction == "sum":  # (7) sum = N x mean, for the loss and every gradient
        k = params.W1.dtype.type(x.shape[0])
        L, g = L * k, Grads(*(k * np.asarray(a) for a in g))
    reg = spec.penalty_grads(params)
    if reg is not None:  # (8) + R(W), (8') + k W (a misshapen gradient is left as it is)
        L = L + spec.penalty(params)
        g = Grads(*(a + r if r is not None and np.shape(a) == np.shape(r) else a
                    for a, r in zip(g, (None, reg[2], reg[3], None, reg[0], reg[1]))))
    return L, g


def run_faulty(p: Pitfall, setting: Setting, params: Params, x: np.ndarray, y: np.ndarray) -> tuple[Any, Grads]:
    """:func:`member_outputs` on ``setting``'s member, called ``setting.calls`` times."""
    return member_outputs(p, setting.spec, params, x, y, setting.calls)


@functools.lru_cache(maxsize=None)
def oracle(name: str) -> Callable[..., tuple[Any, Grads]]:
    """The oracle ``name`` of :data:`ORACLES`; "numeric" is the complex step (float64, a few ulps)."""
    import oracles

    f = oracles.get(name)
    return functools.partial(f, method="complex") if name == "numeric" else f


def check_on(ours: Callable[..., tuple[Any, Grads]], oracle_name: str, setting: str | Setting) -> list[Check]:
    """Run ``ours`` on the problem of ``setting`` (a name of :data:`SETTINGS` or a
    :class:`Setting`) through :func:`scratch.compare.check_case` against ``oracle_name`` (built
    for the setting's member of the family), at :func:`scratch.tolerances.oracle_rtol` (what
    every check uses)."""
    s = SETTINGS[setting] if isinstance(setting, str) else setting
    case = s.case()
    dims = (case.x.shape[0], *case.params.dims)
    ref = oracle(oracle_name) if s.spec.is_seed else functools.partial(oracle(oracle_name), spec=s.spec)
    return check_case(ours, ref, case.params, case.x, case.y, rtol=oracle_rtol(case.params.W1.dtype, dims))


def check_pitfall(p: Pitfall, oracle_name: str, setting: str | None = None, *, spec: Any = None) -> list[Check]:
    """:func:`check_on` for pitfall ``p``'s faulty implementation, on ``setting`` (default:
    ``p.caught_on``); with ``spec`` (a :class:`scratch.spec.NetworkSpec` or a mapping of its
    fields), the same problem in that member of the family, the mistake made there
    (:func:`member_outputs`) and the oracle built for it."""
    from .spec import as_spec

    s = SETTINGS[setting or p.caught_on]
    if spec is not None:
        s = replace(s, spec=as_spec(spec))
    return check_on(functools.partial(run_faulty, p, s), oracle_name, s)


def failed_quantities(checks: list[Check]) -> tuple[str, ...]:
    """The quantities whose check failed, in the order of :data:`scratch.compare.QUANTITIES`."""
    return tuple(c.quantity for c in checks if not c.passed)


def gallery(oracle_names: tuple[str, ...] | list[str] = ORACLES, *, spec: Any = None,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every pitfall run against every oracle: one dict per pitfall with ``name``, ``title``,
    ``hits``, ``caught_on``, per oracle ``max_rel`` (largest relative error over the quantities;
    inf for a non-finite or misshapen result) and ``failed`` (quantities), ``caught_by``, and for
    a demonstration its ``demo`` result, or ``skipped`` (why) when it needs a framework that is
    not installed.  ``progress(name)`` is called before each pitfall.

    ``spec`` (a :class:`scratch.spec.NetworkSpec` or a mapping of its fields): the gallery of
    that member of the family instead: each gradient pitfall that is a mistake of it
    (``Pitfall.applies``), made in it, on its own problem of that member (the demonstrations,
    about the checking, are left out)."""
    from .spec import as_spec

    member = None if spec is None else as_spec(spec)
    rows = []
    for p in PITFALLS.values():
        if member is not None and not (p.is_gradient and p.applies(member)):
            continue
        if progress is not None:
            progress(p.name)
        row: dict[str, Any] = {"name": p.name, "title": p.title, "hits": list(p.hits), "oracles": {}}
        if p.is_gradient:
            row["setting"] = p.caught_on
            shown = SETTINGS[p.caught_on] if member is None else replace(SETTINGS[p.caught_on], spec=member)
            row["caught_on"] = shown.describe()
            for o in oracle_names:
                checks = check_pitfall(p, o, spec=member)
                row["oracles"][o] = {"max_rel": max(c.max_rel for c in checks), "failed": list(failed_quantities(checks))}
            row["caught_by"] = [o for o in oracle_names if row["oracles"][o]["failed"]]
            if p.blind_on:
                row["blind_on"] = SETTINGS[p.blind_on].describe()
                row["why_blind"] = p.why_blind
            if p.weak_on:
                row["weak_on"] = SETTINGS[p.weak_on].describe()
        else:
            try:
                row["demo"] = p.demo()
            except ImportError as exc:  # the demonstration needs a framework that is not installed
                row["skipped"] = str(exc)
                row["caught_by"] = []
                rows.append(row)
                continue
            row["caught_by"] = ["scratch.compare"] if row["demo"]["scratch.compare"] != "passed" else []
        rows.append(row)
    return rows
