"""Bad input is rejected with an error naming the argument, what it got and what was expected,
by scratch and by every oracle (they share scratch.checks); inputs are never modified."""

from __future__ import annotations

import numpy as np
import pytest

import oracles
import scratch
from scratch.cases import SHAPES, make_case

N, D, H, C = SHAPES["small"]
ENTRY_POINTS = {
    "fused": scratch.loss_and_grads,
    "staged": lambda p, x, y: scratch.loss_and_grads(p, x, y, route="staged"),
    "loss": scratch.loss,
    # the oracles are imported when a test calls them, not when this file is collected
    "torch": lambda *args, **kw: oracles.get("torch")(*args, **kw),
    "jax": lambda *args, **kw: oracles.get("jax")(*args, **kw),
}


def base():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    return c.params, c.x, c.y


def with_param(name, value):
    p, x, y = base()
    return p._replace(**{name: value}), x, y


def nan_at(a, idx=(0,)):
    a = a.copy()
    a[idx] = np.nan
    return a


def _bad_inputs():
    p, x, y = base()
    targets = make_case(0, SHAPES["small"], np.float64, "soft").y
    yield "x wrong D", (p, x[:, :2], y), ValueError, r"x must have shape \(N, D\) with D = 3.*\(4, 2\)"
    yield "x 1-D", (p, x[0], y), ValueError, r"x must be 2-D"
    yield "x empty N=0", (p, x[:0], y[:0]), ValueError, r"x must hold at least one sample.*\(0, 3\)"
    yield "x int", (p, x.astype(np.int64), y), TypeError, r"x must have a floating dtype \(float32.*int64"
    yield "x object", (p, x.astype(object), y), TypeError, r"x must have a floating dtype \(float32.*object"
    yield "x float16", (p, x.astype(np.float16), y), TypeError, r"x must have a floating dtype.*float16 is not supported, cast it"
    yield "x complex", (p, x.astype(np.complex128), y), TypeError, r"^x must .*complex128.*: (gradients are real|complex-step)"
    yield "x list", (p, x.tolist(), y), TypeError, r"x must be a numpy.ndarray.*list"
    yield "x nan", (p, nan_at(x, (1, 1)), y), ValueError, r"x must be finite.*1 non-finite"
    yield "x inf", (p, np.where(x > 1, np.inf, x), y), ValueError, r"x must be finite"
    yield "x float32 mixed", (p, x.astype(np.float32), y), TypeError, r"x must have the parameters' dtype float64.*float32"
    yield "y wrong N", (p, x, y[:3]), ValueError, r"y \(integer labels\) must have shape \(N,\) = \(4,\).*\(3,\)"
    yield "y label too big", (p, x, np.array([0, 1, 3, 2])), ValueError, r"y labels must lie in \[0, C\) = \[0, 3\).*\[3\]"
    yield "y label negative", (p, x, np.array([0, -1, 2, 2])), ValueError, r"y labels must lie in \[0, 3\)|\[-1\]"
    yield "y float labels", (p, x, y.astype(np.float64)), TypeError, r"labels must be integers"
    yield "y bool", (p, x, y.astype(bool)), TypeError, r"y must hold integer labels.*bool"
    yield "y targets wrong C", (p, x, targets[:, :2]), ValueError, r"y \(float targets\) must have shape \(N, C\) = \(4, 3\).*\(4, 2\)"
    yield "y targets transposed", (p, x, targets.T.copy()), ValueError, r"y \(float targets\) must have shape \(N, C\) = \(4, 3\)"
    yield "y targets negative", (p, x, targets - 0.5), ValueError, r"y \(float targets\) must be non-negative, got minimum -0\.\d+$"
    yield "y targets -1", (p, x, np.full((N, C), -1.0)), ValueError, r"must be non-negative, got minimum -1$"
    yield "y targets float16", (p, x, targets.astype(np.float16)), TypeError, r"y must have a floating dtype.*float16 is not supported"
    yield "y targets nan", (p, x, nan_at(targets, (0, 0))), ValueError, r"y must be finite"
    yield "y targets float32", (p, x, targets.astype(np.float32)), TypeError, r"y must have the parameters' dtype float64.*float32"
    yield "y 3-D", (p, x, targets[:, :, None]), ValueError, r"y \(float targets\) must have shape"
    yield "W1 nan", with_param("W1", nan_at(p.W1, (0, 0))), ValueError, r"params.W1 must be finite"
    yield "b2 inf", with_param("b2", np.full(C, np.inf)), ValueError, r"params.b2 must be finite.*3 non-finite"
    yield "b1 wrong H", with_param("b1", p.b1[:2]), ValueError, r"params.W1 \(3, 5\) and params.b1 \(2,\) disagree on H: W1 has H = 5 columns, b1 has 2"
    yield "W1 (3, 4) with b1 (5,)", with_param("W1", np.ones((3, 4))), ValueError, r"params.W1 \(3, 4\) and params.b1 \(5,\) disagree on H"
    yield "b1 as row", with_param("b1", p.b1[None, :]), ValueError, r"params.b1 must have shape \(H,\)"
    yield "W2 wrong H", with_param("W2", p.W2[:2]), ValueError, r"params.W1 \(3, 5\) and params.W2 \(2, 3\) disagree on H: W1 has H = 5 columns, W2 has 2 rows"
    yield "b2 wrong C", with_param("b2", p.b2[:1]), ValueError, r"params.W2 \(5, 3\) and params.b2 \(1,\) disagree on C"
    yield "b2 as column", with_param("b2", p.b2[:, None]), ValueError, r"params.b2 must have shape \(C,\) = \(3,\)"
    yield "W1 1-D", with_param("W1", p.W1[0]), ValueError, r"params.W1 must be 2-D"
    yield "W1 int", with_param("W1", p.W1.astype(np.int32)), TypeError, r"params.W1 must have a floating dtype.*int32"
    yield "W1 float16", with_param("W1", p.W1.astype(np.float16)), TypeError, r"params.W1 must have a floating dtype.*float16 is not supported"
    yield "W2 float32 mixed", with_param("W2", p.W2.astype(np.float32)), TypeError, r"params must share one dtype.*W2=float32"
    yield "W1 empty", with_param("W1", np.zeros((3, 0))), ValueError, r"params.W1 must not be empty"
    yield "params tuple of wrong kind", ({"W1": p.W1}, x, y), TypeError, r"params must have fields W1, b1, W2, b2"


BAD = list(_bad_inputs())


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("args,exc,pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_clearly(entry, args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ENTRY_POINTS[entry](*args)


@pytest.mark.parametrize("args,exc", [b[1:3] for b in BAD], ids=[b[0] for b in BAD])
def test_messages_print_plain_numbers_and_only_relevant_hints(args, exc):
    """No ``np.float64(-1.0)`` reprs; "mixed float32/float64" only where both are real float dtypes
    of the network (never for float16, complex or integer input)."""
    with pytest.raises(exc) as info:
        scratch.loss_and_grads(*args)
    message = str(info.value)
    assert "np." not in message.replace("np.float32)", "").replace("np.float64)", "")  # the cast hint may name them
    arrays = [a for a in (*getattr(args[0], "_asdict", dict)().values(), args[1], args[2]) if isinstance(a, np.ndarray)]
    if any(a.dtype.kind in "fc" and a.dtype not in (np.float32, np.float64) for a in arrays):
        assert "float32/float64" not in message and "mixing" not in message


def test_complex_rejected_by_loss_and_grads_but_accepted_by_loss():
    p, x, y = base()
    pc = p.astype(np.complex128)
    with pytest.raises(TypeError, match=r"params.W1 must have a floating dtype \(float32 or float64\)"):
        scratch.loss_and_grads(pc, x, y)
    assert scratch.loss(pc, x, y).imag == 0


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("target", ["labels", "unnormalized"])
def test_inputs_are_not_modified(entry, target):
    c = make_case(0, SHAPES["square"], np.float64, target)
    before = [a.copy() for a in (*c.params, c.x, c.y)]
    ENTRY_POINTS[entry](c.params, c.x, c.y)
    for a, b in zip((*c.params, c.x, c.y), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_init_params_rejects_bad_dims(bad):
    with pytest.raises(ValueError, match=r"H must be a positive integer"):
        scratch.init_params(2, bad, 2, rng=0)


def test_init_params_rejects_bad_dtype():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        scratch.init_params(2, 3, 2, rng=0, dtype=np.int64)


@pytest.mark.filterwarnings("error")  # validation must not warn about its own overflowing sum
def test_finite_values_whose_sum_overflows_are_accepted():
    """all_finite proves finiteness from a probe (sum |x|^2 or sum x); one that overflows falls back to the exact check."""
    from scratch.checks import all_finite

    big = np.array([[1e308, 1e308], [-1e308, 1e308]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert all_finite(big)
        assert not all_finite(np.array([1.0, np.nan])) and not all_finite(np.array([np.inf, -np.inf]))
    p = scratch.Params(np.zeros((2, 3)), np.zeros(3), np.zeros((3, 2)), np.zeros(2))
    L, _ = scratch.loss_and_grads(p, big, np.array([0, 1]))
    assert L == pytest.approx(np.log(2))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e200), (np.float32, 1e20)])
def test_finite_values_whose_squares_overflow_are_accepted(dtype, big):
    """finite_probe's sum of squares overflows for finite |x| > ~1e154 (float64), ~1e19 (float32):
    the quick path declines such a call and the exact check accepts it."""
    from scratch.checks import finite_probe, quick_inputs

    x = np.array([[big, 1.0], [-big, 2.0]], dtype=dtype)
    p = scratch.Params(*(np.zeros(s, dtype=dtype) for s in ((2, 3), (3,), (3, 2), (2,))))
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(finite_probe(x))
        assert quick_inputs(p, x, np.array([0, 1])) is None
    L, g = scratch.loss_and_grads(p, x, np.array([0, 1]))
    assert L.dtype == dtype and L == pytest.approx(np.log(2), rel=1e-6)
    assert all(np.isfinite(a).all() for a in g)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("layout", ["C", "C-threaded", "F", "strided"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_probe_sees_every_non_finite_entry(dtype, layout, where, bad):
    """The probe (a BLAS vdot on C-contiguous arrays, a sum on the others) is non-finite whenever
    one entry is, wherever it sits, and finite on finite data.  "C-threaded": 200,000 entries,
    where OpenBLAS splits the dot product over its threads (above 10,000)."""
    from scratch.checks import all_finite, finite_probe

    rows = 500 if layout == "C-threaded" else 64
    base = np.random.default_rng(0).standard_normal((rows, 400 if layout == "C-threaded" else 48)).astype(dtype)
    a = {"C": base, "C-threaded": base, "F": np.asfortranarray(base), "strided": base[::2, ::3]}[layout]
    assert a.flags.c_contiguous == layout.startswith("C")
    assert np.isfinite(finite_probe(a)) and all_finite(a)
    i, j = {"first": (0, 0), "middle": (a.shape[0] // 2, a.shape[1] // 3), "last": (-1, -1)}[where]
    a[i, j] = bad
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(finite_probe(a)) and not all_finite(a)


@pytest.mark.parametrize("args", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_the_quick_path_declines_every_bad_input(args):
    """scratch.checks.quick_inputs (the cheap path for the common valid call) accepts none of the
    bad inputs: each goes on to the full checks, which word its error."""
    assert scratch.checks.quick_inputs(*args) is None


@pytest.mark.parametrize("target", ["labels", "onehot", "soft", "unnormalized"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape_name", ["seed", "n1", "h1", "c1", "small", "large"])
def test_the_quick_path_agrees_with_the_full_checks(shape_name, dtype, target):
    """On valid inputs the quick path answers, and answers what the full checks answer."""
    c = make_case(1, SHAPES[shape_name], dtype, target)
    quick = scratch.checks.quick_inputs(c.params, c.x, c.y)
    full = scratch.checks.check_inputs(c.params, c.x, c.y, allow_complex=True)  # allow_complex: the full path
    assert quick is not None and quick == full
