"""The allocation-free fast path: same results as the plain fused route, results living in the
workspace, no array allocation per step, in-place SGD, and clear errors for a mismatch."""

from __future__ import annotations

import tracemalloc

import mpmath
import numpy as np
import pytest

import scratch
from scratch.cases import DTYPES, SHAPES, TARGETS, make_case
from scratch.compare import QUANTITIES, check_case, elementwise_relative_error, format_failures
from scratch import fast_tanh
from scratch.tolerances import FAST_TANH_ULP, ROUTE_RTOL, WORKSPACE_DZ1_ULP, WORKSPACE_STEP_PEAK_BYTES, oracle_rtol

#: Shapes that cover N = 1, H = 1, C = 1, C = 10 and several row blocks.
WS_SHAPES = ["seed", "n1", "h1", "c1", "square", "c10", "large"]


#: Row-block sizes for the value checks: the default (one block for most small shapes) and 3
#: rows (several blocks, with a remainder, for every shape with N > 3): the per-block sums of
#: dW2 and db1 are checked on every target kind and dtype.
BLOCKS = {"default-blocks": None, "3-row-blocks": 3}
#: tanh="numba" has no blocks; it forms the small-D and small-C products inside its loops:
#: as chosen by the thresholds, none of them (BLAS throughout) or all of them.
FUSION = {"fuse-default": None, "fuse-none": 0, "fuse-all": 10**9}


def with_workspace(params, x, y, **kwargs):
    """``scratch.loss_and_grads`` through a fresh workspace of the inputs' shape."""
    ws = scratch.Workspace(x.shape[0], *params.W1.shape, params.W2.shape[1], dtype=params.W1.dtype, **kwargs)
    return scratch.loss_and_grads(params, x, y, workspace=ws)


#: Both evaluations of eq. (2) and tanh' (scratch.fast_tanh), whatever "auto" picks here.
TANH_METHODS = ["numpy", "poly", "numba"]
#: (tanh, variant) for the value checks: row blocks for the NumPy methods, fusion for numba
VARIANTS = [(t, b) for t in ("numpy", "poly") for b in BLOCKS] + [("numba", f) for f in FUSION]


def set_variant(monkeypatch, variant):
    """The Workspace keyword arguments of ``variant``; the fusion thresholds patched for numba's."""
    if variant in FUSION:
        if FUSION[variant] is not None:
            monkeypatch.setattr(scratch.workspace, "NUMBA_FUSE_MAX_D", FUSION[variant])
            monkeypatch.setattr(scratch.workspace, "NUMBA_FUSE_MAX_C", FUSION[variant])
        return {}
    return {"block_rows": BLOCKS[variant]}


@pytest.mark.parametrize("tanh, variant", VARIANTS, ids=[f"{t}-{v}" for t, v in VARIANTS])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape_name", WS_SHAPES)
def test_matches_plain_route(monkeypatch, shape_name, dtype_name, target, tanh, variant):
    """float64: equal to the plain fused route on the same arrays to ROUTE_RTOL (1e-12).
    float32: against the plain route in float64 on the same rounded arrays (the truth), at the
    oracle tolerance, i.e. as accurate as the plain float32 route is required to be."""
    shape = SHAPES[shape_name]
    c = make_case(4, shape, DTYPES[dtype_name], target)
    rtol = ROUTE_RTOL if dtype_name == "float64" else oracle_rtol(np.float32, shape)
    kwargs = set_variant(monkeypatch, variant)
    checks = check_case(lambda *a: with_workspace(*a, tanh=tanh, **kwargs), scratch.loss_and_grads,
                        c.params, c.x, c.y, rtol=rtol)
    assert not format_failures(checks), f"{c.name}:\n{format_failures(checks)}"


@pytest.mark.parametrize("variant", list(FUSION))
def test_fusion_thresholds_pick_the_products(monkeypatch, variant):
    """The thresholds decide which products the compiled loops form (seed: D = 2, C = 2)."""
    set_variant(monkeypatch, variant)
    ws = scratch.Workspace(*SHAPES["seed"], tanh="numba")
    expected = {"fuse-default": True, "fuse-none": False, "fuse-all": True}[variant]
    assert (ws.fuse_x, ws.fuse_w2) == (expected, expected)
    big = scratch.Workspace(*SHAPES["large"], tanh="numba")  # D = 64, C = 10
    assert (big.fuse_x, big.fuse_w2) == ((True, True) if variant == "fuse-all" else (False, False))


@pytest.mark.parametrize("tanh", ["numpy", "poly"])
@pytest.mark.parametrize("block_rows", [1, 5, 32, 1000])
def test_row_blocks_do_not_change_the_result(block_rows, tanh):
    """The (N, H) work runs in blocks of rows; any block size (with a remainder) gives the plain result."""
    c = make_case(2, (37, 5, 11, 4), np.float64, "soft")
    checks = check_case(lambda *a: with_workspace(*a, block_rows=block_rows, tanh=tanh), scratch.loss_and_grads,
                        c.params, c.x, c.y, rtol=ROUTE_RTOL)
    assert not format_failures(checks)


@pytest.mark.parametrize("tanh", TANH_METHODS)
@pytest.mark.parametrize("target", ["labels", "onehot"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_confident_rows_keep_the_true_class_gradient(dtype_name, target, tanh):
    """Labels on the argmax of confident rows (logit gaps ~30): dz2 there is -T/(1+T)/N with
    T ~ 1e-10, which ``yhat - 1`` rounds to 0 in float32.  The workspace computes it like the
    fused route (cancellation-free), entry by entry."""
    shape = SHAPES["c10"]
    c = make_case(5, shape, DTYPES[dtype_name], "labels", logit_scale=30.0)
    labels = np.argmax(scratch.forward(c.params, c.x).z2, axis=1)
    y = labels if target == "labels" else scratch.one_hot(labels, shape[3], c.x.dtype)
    ref = scratch.loss_and_grads(c.params, c.x, y)[1].dz2
    got = with_workspace(c.params, c.x, y, tanh=tanh)[1].dz2
    rows = np.arange(shape[0])
    assert np.all(ref[rows, labels] < 0), "the case is not confident enough to test this"
    # float32: two float32 results (a1 from np.tanh, or a few ulp from it with "poly" and "numba",
    # amplified by logits of scale 30) each within the oracle tolerance of the truth are within
    # twice it of each other; the cancellation this test is about is a relative error of 1
    rtol = ROUTE_RTOL if dtype_name == "float64" else 2 * oracle_rtol(np.float32, shape)
    assert np.all(np.isfinite(got)) and elementwise_relative_error(got, ref) <= rtol


def test_results_live_in_the_workspace_and_are_overwritten():
    """Documented: the returned gradients are the workspace's buffers; the next call overwrites them."""
    a = make_case(0, SHAPES["c10"], np.float64, "labels")
    b = make_case(1, SHAPES["c10"], np.float64, "labels")
    ws = scratch.Workspace(*SHAPES["c10"])
    _, g1 = scratch.loss_and_grads(a.params, a.x, a.y, workspace=ws)
    kept = [np.array(v) for v in g1]
    _, g2 = scratch.loss_and_grads(b.params, b.x, b.y, workspace=ws)
    buffers = [buf for buf in vars(ws).values() if isinstance(buf, np.ndarray)]
    problems = []
    for q, v1, v2, k in zip(QUANTITIES[1:], g1, g2, kept):
        if not (v1 is v2 or np.shares_memory(v1, v2)):
            problems.append(f"{q}: the two calls returned different memory")
        if not any(np.shares_memory(v1, buf) for buf in buffers):
            problems.append(f"{q}: not a workspace buffer")
        if np.array_equal(v1, k):
            problems.append(f"{q}: not overwritten by the second call")
    assert not problems, "; ".join(problems)


def test_no_state_leaks_between_calls():
    """labels, then float targets, then labels again: the third call equals the first bit for bit."""
    shape = SHAPES["c10"]
    lab = make_case(0, shape, np.float64, "labels")
    soft = make_case(0, shape, np.float64, "unnormalized")
    ws = scratch.Workspace(*shape)
    L1, g1 = scratch.loss_and_grads(lab.params, lab.x, lab.y, workspace=ws)
    first = [np.array(v) for v in (L1, *g1)]
    scratch.loss_and_grads(soft.params, soft.x, soft.y, workspace=ws)
    L3, g3 = scratch.loss_and_grads(lab.params, lab.x, lab.y, workspace=ws)
    differ = [q for q, u, v in zip(QUANTITIES, first, (L3, *g3)) if not (np.all(np.isfinite(v)) and np.array_equal(u, v))]
    assert not differ, f"non-finite or changed by the call in between: {differ}"


@pytest.mark.parametrize("tanh", TANH_METHODS)
@pytest.mark.parametrize("shape", [(37, 2, 11, 3), SHAPES["c10"]], ids=["small-D-C", "c10"])  # numba fuses the first
def test_non_contiguous_inputs(shape, tanh):
    """Fortran-ordered x and soft targets, and labels as a strided view, give the plain result."""
    soft = make_case(3, shape, np.float64, "soft")
    x_f, y_f = np.asfortranarray(soft.x), np.asfortranarray(soft.y)
    labels = make_case(3, shape, np.float64, "labels").y
    strided = np.repeat(labels, 2)[::2]
    assert not (x_f.flags.c_contiguous or y_f.flags.c_contiguous or strided.flags.c_contiguous)
    for y in (y_f, strided):
        checks = check_case(lambda *a: with_workspace(*a, tanh=tanh), scratch.loss_and_grads, soft.params, x_f, y,
                            rtol=ROUTE_RTOL)
        assert not format_failures(checks)


def _peak_bytes(step) -> int:
    step(), step()  # two warm-up calls
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("tanh", TANH_METHODS)
@pytest.mark.parametrize("target", ["labels", "soft"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_step_allocates_no_array_memory(dtype_name, target, tanh):
    """One step of the 1024-64-512-10 case after two warm-ups: peak traced memory (NumPy traces
    its buffers) < 64 KiB, where the plain route's (N, H) temporaries alone are 4 MiB each."""
    shape = (1024, 64, 512, 10)
    c = make_case(0, shape, DTYPES[dtype_name], target)
    ws = scratch.Workspace(*shape, dtype=c.x.dtype, tanh=tanh)
    peak = _peak_bytes(lambda: ws.loss_and_grads(c.params, c.x, c.y, is_labels=target == "labels"))
    assert peak < WORKSPACE_STEP_PEAK_BYTES, f"peak {peak} bytes"


@pytest.mark.parametrize("target", ["labels", "soft"])
def test_public_entry_is_allocation_free_too(target):
    """Through ``scratch.loss_and_grads(..., workspace=ws)`` the core's input validation runs
    first; it proves finiteness from a probe (scratch.checks.finite_probe) instead of an
    ``np.isfinite`` mask, so the whole public step stays under the same bound."""
    shape = (1024, 64, 512, 10)
    c = make_case(0, shape, np.float64, target)
    ws = scratch.Workspace(*shape)
    peak = _peak_bytes(lambda: scratch.loss_and_grads(c.params, c.x, c.y, workspace=ws))
    assert peak < WORKSPACE_STEP_PEAK_BYTES, f"peak {peak} bytes"


def _ulps(got: np.ndarray, truth: np.ndarray, dt: np.dtype) -> np.ndarray:
    """|got - truth| in units in the last place of the (normal) true values."""
    return np.abs(got.astype(np.float64) - truth) / np.spacing(np.abs(truth).astype(dt))


@pytest.mark.parametrize("tanh", TANH_METHODS)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_tanh_and_its_derivative_are_accurate(dtype_name, tanh):
    """a1 is np.tanh(z1) bit for bit ("numpy") or within FAST_TANH_ULP ulp of mpmath's tanh
    ("poly"); dz1 = da1 tanh'(z1) is within WORKSPACE_DZ1_ULP ulp of mpmath's da1 * sech(z1)**2
    over |z| in [1e-12, past underflow of sech**2], both signs, including the polynomial's range
    reduction boundaries (|z| = j ln2 / 4) and its clamp; where the truth is below the smallest
    normal number dz1 is that small too (no NaN, no inf).  Here z1 = x exactly (D = H = 1,
    W1 = 1, b1 = 0) and da1 = dz2[:, 0] exactly (W2 = [1, 0])."""
    dt = DTYPES[dtype_name]
    top = 60.0 if dt == np.float32 else 400.0
    edges = np.log(2) / 4 * np.arange(1, 9)  # where k = rint(2|z|/ln2) steps
    z = np.concatenate([np.logspace(-12, np.log10(top), 300), np.linspace(0.01, 5.0, 200),
                        (edges[:, None] * (1 + np.array([-1e-9, 0, 1e-9]))).ravel(), [0.0]]).astype(dt)
    z = np.concatenate([z, -z])
    params = scratch.Params(np.ones((1, 1), dt), np.zeros(1, dt), np.array([[1.0, 0.0]], dt), np.zeros(2, dt))
    ws = scratch.Workspace(z.size, 1, 1, 2, dtype=dt, tanh=tanh)
    _, g = scratch.loss_and_grads(params, z[:, None], np.zeros(z.size, dtype=np.int64), workspace=ws)
    a1, da1, dz1 = ws.a1[:, 0], g.dz2[:, 0], g.dz1[:, 0]
    with mpmath.workdps(40):
        truth = np.array([float(mpmath.mpf(float(d)) * mpmath.sech(mpmath.mpf(float(v))) ** 2) for d, v in zip(da1, z)])
        tanh_truth = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in z])
    if tanh == "numpy":
        assert np.array_equal(a1, np.tanh(z))
    else:
        nz = tanh_truth != 0
        assert a1[~nz].tolist() == [0.0, 0.0] and np.all(np.abs(a1) <= 1)
        worst = _ulps(a1[nz], tanh_truth[nz], dt).max()
        assert worst <= FAST_TANH_ULP, f"tanh: {worst:.2f} ulp"
    normal = np.abs(truth) >= np.finfo(dt).tiny
    assert np.all(np.isfinite(dz1)) and (~normal).sum() > 0, "the range must reach past underflow"
    assert np.all(np.abs(dz1[~normal]) < np.finfo(dt).tiny)
    ulps = _ulps(dz1[normal], truth[normal], dt)
    assert ulps.max() <= WORKSPACE_DZ1_ULP, f"{ulps.max():.2f} ulp"


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_auto_tanh_is_fixed_per_workspace(dtype_name):
    """"auto" takes NumPy's tanh below POLY_MIN_ELEMENTS (N H) and otherwise whatever
    fast_tanh.default_method says for this NumPy and CPU; the choice is recorded on the workspace."""
    dt = DTYPES[dtype_name]
    assert scratch.Workspace(1, 2, 500, 2, dtype=dt).tanh == "numpy"
    assert scratch.Workspace(1024, 64, 512, 10, dtype=dt).tanh == fast_tanh.default_method(dt)
    assert fast_tanh.default_method(dt) in ("numpy", "poly")
    with pytest.raises(ValueError, match="tanh must be one of"):
        scratch.Workspace(4, 2, 3, 2, tanh="libm")


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("as_grads", [True, False], ids=["Grads", "Params"])
def test_sgd_step_updates_in_place(dtype_name, as_grads):
    """p <- p - lr g on the same arrays (W1 spans several chunks), bit for bit; grads untouched."""
    c = make_case(0, (16, 64, 128, 10), DTYPES[dtype_name], "labels")
    params = c.params.copy()
    _, g = scratch.loss_and_grads(params, c.x, c.y)
    grads = g if as_grads else g.params_grads()
    before, g_before = params.copy(), [np.array(v) for v in grads]
    ids = [id(p) for p in params]
    out = scratch.sgd_step(params, grads, 0.1)
    assert out is params and [id(p) for p in params] == ids
    wrong = [name for name, p, p0, dp in zip(scratch.Params._fields, params, before, g.params_grads())
             if p.dtype != p0.dtype or not np.array_equal(p, p0 - 0.1 * dp) or np.array_equal(p, p0)]
    assert not wrong, f"not updated to p - 0.1 g bit for bit (or not at all): {wrong}"
    assert all(np.array_equal(v, v0) for v, v0 in zip(grads, g_before)), "the gradients were modified"


@pytest.mark.parametrize("lr", [float("nan"), float("inf")])
def test_sgd_step_rejects_bad_lr(small_case, lr):
    _, g = scratch.loss_and_grads(small_case.params, small_case.x, small_case.y)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        scratch.sgd_step(small_case.params.copy(), g, lr)


def test_sgd_step_rejects_mismatched_grads(small_case):
    p = small_case.params.copy()
    bad = scratch.Params(p.W1[:, :1].copy(), p.b1, p.W2, p.b2)
    with pytest.raises(ValueError, match="params.W1 and its gradient"):
        scratch.sgd_step(p, bad, 0.1)


@pytest.mark.parametrize(
    "field,value",
    [("N", 5), ("D", 4), ("H", 6), ("C", 4), ("dtype", np.float32)],
    ids=["N", "D", "H", "C", "dtype"],
)
def test_mismatched_workspace_is_named(small_case, field, value):
    dims = dict(zip(("N", "D", "H", "C"), SHAPES["small"]), dtype=np.float64)
    dims[field] = value
    ws = scratch.Workspace(dims["N"], dims["D"], dims["H"], dims["C"], dtype=dims["dtype"])
    with pytest.raises(ValueError, match=r"workspace was built for \(N, D, H, C\)"):
        scratch.loss_and_grads(small_case.params, small_case.x, small_case.y, workspace=ws)


@pytest.mark.parametrize("bad,match", [(dict(N=0), "N must be a positive integer"),
                                       (dict(H=2.5), "H must be a positive integer"),
                                       (dict(block_rows=0), "block_rows must be a positive integer")],
                         ids=["N0", "H-float", "block_rows0"])
def test_bad_workspace_arguments(bad, match):
    kw = dict(N=4, D=3, H=5, C=3) | bad
    with pytest.raises(ValueError, match=match):
        scratch.Workspace(**kw)


def test_bad_workspace_dtype():
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        scratch.Workspace(4, 3, 5, 3, dtype=np.int64)


def test_workspace_only_for_the_fused_route(small_case):
    ws = scratch.Workspace(*SHAPES["small"])
    with pytest.raises(ValueError, match="route='fused' only"):
        scratch.loss_and_grads(small_case.params, small_case.x, small_case.y, route="staged", workspace=ws)


@pytest.mark.parametrize("tanh", TANH_METHODS)
@pytest.mark.parametrize("label_dtype", ["int8", "uint8", "int32", "uint32", "int64", "uint64"])
def test_every_integer_label_dtype(tanh, label_dtype):
    """Labels of any integer dtype the validation accepts give the int64 labels' result."""
    c = make_case(3, SHAPES["square"], np.float64, "labels")
    ref = scratch.loss_and_grads(c.params, c.x, c.y)
    got = with_workspace(c.params, c.x, c.y.astype(label_dtype), tanh=tanh)
    checks = check_case(lambda *a: got, lambda *a: ref, c.params, c.x, c.y, rtol=ROUTE_RTOL)
    assert not format_failures(checks)


def test_compiled_loops_take_no_block_rows():
    """tanh="numba" walks the rows one at a time: a block size would be ignored, so it is refused."""
    with pytest.raises(ValueError, match="block_rows applies to tanh='numpy' and 'poly'"):
        scratch.Workspace(37, 5, 11, 4, tanh="numba", block_rows=3)


@pytest.mark.parametrize("tanh, scratch_shapes", [("numpy", []), ("poly", [(64, 32)] * 3), ("numba", [])])
def test_each_method_holds_only_its_own_scratch(tanh, scratch_shapes):
    """The polynomial's three block-sized scratch arrays exist only for "poly"; "numpy" and the
    compiled one-pass loop ("numba") hold none (nbytes counts what is held)."""
    ws = scratch.Workspace(64, 3, 32, 2, tanh=tanh)
    assert [a.shape for a in ws.poly_scratch] == scratch_shapes
