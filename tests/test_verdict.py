"""The verdict pinned: each test fails on one realistic one-line bug in the checker (issue 21).

The kit's value is its verdict, so each test below is written against one mutation that an
earlier suite let through (the table of issue 21, and the survivors of the mutmut runs of
docs/tests.md).  The row each test kills is named in its docstring.  Expected values are
written out by hand (from the definitions in the docstrings), never computed by the code
under test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import scratch.testing as st
from scratch import casefiles, compare, diagnosis
from scratch.adapter import ImplementationError, read_outputs
from scratch.checks import check_inputs, check_params
from scratch.compare import check_quantity, relative_error
from scratch.curvature import flatten, unflatten
from scratch.network import Params, loss_and_grads
from scratch.testing import check_case, check_outputs, cases, run_cases
from scratch.tolerances import EPS32, float32_rtol, oracle_rtol

INPUT_NAMES = ("W1", "b1", "W2", "b2", "x", "y")


def one_case(shape="small", dtype="float64", target="labels", seed=0):
    (case,) = cases([seed], [shape], [dtype], [target])
    return case


def correct(params, x, y):
    """scratch itself, as a user's function: (loss, grads mapping)."""
    L, g = loss_and_grads(params, x, y)
    return L, g._asdict()


def arrays_of(params, x, y):
    return dict(zip(INPUT_NAMES, (*params, x, y)))


# --------------------------------------------------------------------------------------------
# checks.check_params: one dtype for all four parameters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ["b1", "W2", "b2"])
@pytest.mark.parametrize("base,other", [("float64", "float32"), ("float32", "float64")], ids=["f64-with-f32", "f32-with-f64"])
def test_mixed_parameter_dtypes_are_refused(odd, base, other):
    """Row `check_params`: b2's (or b1's, W2's) dtype no longer compared."""
    case = one_case(dtype=base)
    fields = case.params._asdict()
    fields[odd] = fields[odd].astype(other)
    params = Params(**fields)
    with pytest.raises(TypeError, match=rf"one dtype.*{odd}={other}"):
        check_params(params)
    with pytest.raises(TypeError, match="one dtype"):
        check_inputs(params, case.x, case.y)  # the quick path must hand it to the full checks
    with pytest.raises(TypeError, match="one dtype"):
        loss_and_grads(params, case.x, case.y)


# --------------------------------------------------------------------------------------------
# compare.check_quantity: the boundary, the worst element
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("got,ref,rtol", [
    ([1.0], [0.5], 0.5),                 # |1 - 0.5| / max(1, 0.5) = 0.5 exactly
    ([4.0, 0.0], [3.0, 0.0], 0.25),      # 1 / 4 = 0.25 exactly
    ([0.0, -8.0], [0.0, -7.0], 0.125),   # 1 / 8
], ids=["half", "quarter", "eighth"])
def test_relative_error_exactly_at_rtol_passes(got, ref, rtol):
    """Row `check_quantity` `<=` -> `<`.  Decision: the tolerance is inclusive (``max_rel <= rtol``
    passes, as ``numpy.testing.assert_allclose``'s ``|a - b| <= atol + rtol |b|``); one float above
    fails.  The values are exact binary fractions, so max_rel is exactly rtol."""
    got, ref = np.array(got), np.array(ref)
    at = check_quantity("dW1", got, ref, rtol=rtol, dtype=np.float64, shape=got.shape)
    assert at.max_rel == rtol
    assert at.passed, at.problem
    below = check_quantity("dW1", got, ref, rtol=math.nextafter(rtol, 0.0), dtype=np.float64, shape=got.shape)
    assert not below.passed and below.problem.startswith("value")


@pytest.mark.parametrize("got,ref,index,worst", [
    ([1.0, 5.0, 1.0], [1.0, 1.0, 1.0], (1,), (5.0, 1.0)),
    ([[0.0, 0.0], [0.0, -3.0]], [[0.1, 0.0], [0.0, 0.0]], (1, 1), (-3.0, 0.0)),
    ([[2.0, 0.0, 0.0]], [[0.0, 0.0, 0.5]], (0, 0), (2.0, 0.0)),
], ids=["1d-middle", "2d-last", "2d-first"])
def test_worst_element_is_the_largest_difference(got, ref, index, worst):
    """Row `check_quantity`: the worst element found by `argmin` (or any other index): the report
    must name the element where |got - ref| is largest, with both values."""
    got, ref = np.array(got), np.array(ref)
    c = check_quantity("dW2", got, ref, rtol=1e-10, dtype=np.float64, shape=got.shape)
    assert c.worst_index == index
    assert (c.worst_got, c.worst_ref) == worst
    assert c.max_abs == float(np.max(np.abs(got - ref)))


# --------------------------------------------------------------------------------------------
# compare.relative_error: non-finite on either side is inf
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [
    ([1.0, np.nan], [1.0, 2.0]), ([1.0, 2.0], [np.nan, 2.0]),
    ([np.inf], [1.0]), ([1.0], [-np.inf]), ([np.nan], [np.nan]),
], ids=["nan-left", "nan-right", "inf-left", "-inf-right", "nan-both"])
def test_relative_error_is_inf_when_either_side_is_not_finite(a, b):
    """Row `relative_error`: inf only when *both* sides are non-finite (then one NaN gives NaN or a
    number, which `<= rtol` may treat as a pass in other callers)."""
    assert relative_error(a, b) == math.inf


@pytest.mark.parametrize("a,b,expected", [
    ([3.0, -4.0], [3.0, -2.0], 0.5), ([0.0], [0.0], 0.0), ([2.0, 0.0], [0.0, 0.0], 1.0),
], ids=["half", "both-zero", "ref-zero"])
def test_relative_error_values(a, b, expected):
    """The definition ``max|a-b| / max(max|a|, max|b|)``, 0 for two zeros."""
    assert relative_error(a, b) == expected


# --------------------------------------------------------------------------------------------
# tolerances.float32_rtol: the documented numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims,documented", [((1, 2, 500, 2), 2.5e-5), ((256, 64, 128, 10), 3.7e-5)],
                         ids=["seed", "large"])
def test_float32_rtol_is_the_documented_bound(dims, documented):
    """Row `float32_rtol` 100x looser (or tighter): the docstring's numbers, 8 eps32 (sum of sqrt)."""
    assert float32_rtol(*dims) == pytest.approx(documented, rel=0.03)
    assert oracle_rtol("float32", dims) == float32_rtol(*dims)
    assert EPS32 == 2.0 ** -23


def test_a_float32_error_of_2e_4_fails():
    """A float32 gradient 2e-4 off (27x the bound 7.3e-6 of the small shape, below 100x it) fails."""
    case = one_case(dtype="float32")
    L, g = correct(case.params, case.x, case.y)
    got = {"loss": L, **g, "dW1": (g["dW1"] * np.float32(1 + 2e-4)).astype(np.float32)}
    result = check_outputs(case, got)
    assert not result.checks["dW1"].passed and result.checks["dW2"].passed


# --------------------------------------------------------------------------------------------
# testing._copies / _run: the user gets private copies; any in-place write is seen
# --------------------------------------------------------------------------------------------


def writes_into(name, how):
    """A correct implementation that then writes into its input ``name``."""
    def fn(params, x, y):
        out = correct(params, x, y)
        a = arrays_of(params, x, y)[name]
        if how == "ulp":
            a.flat[0] = np.nextafter(a.flat[0], np.inf)
        elif a.dtype.kind in "iu":
            a[0] = 1 - a[0] if a[0] in (0, 1) else 0
        else:
            a *= 2
        return out
    return fn


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_a_write_into_an_input_is_reported_and_never_reaches_the_case(name):
    """Row `_copies` (y, or any input, handed to the user without a copy): the write changes the
    reference's inputs and goes unseen.  The kit reports it and the case keeps its arrays."""
    case = one_case()
    before = {k: v.copy() for k, v in arrays_of(case.params, case.x, case.y).items()}
    result = check_case(writes_into(name, "double"), case)
    assert f"modified its input {name} in place" in result.problems
    assert not result.ok
    for k, v in arrays_of(case.params, case.x, case.y).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2", "x", "y"])
def test_a_one_ulp_write_into_an_input_is_reported(name, dtype):
    """Row `_run` (the modified-input check by `allclose`): a write far below any tolerance is
    still a write (float targets, so y is a float input too)."""
    case = one_case(dtype=dtype, target="soft")
    result = check_case(writes_into(name, "ulp"), case)
    assert result.problems == [f"modified its input {name} in place"]


# --------------------------------------------------------------------------------------------
# testing.run_cases: the repeat call once per dtype
# --------------------------------------------------------------------------------------------


def stateful_in(dtype):
    """Correct on the first call in ``dtype``, then gradients accumulated (only in that dtype)."""
    calls = {"n": 0}

    def fn(params, x, y):
        L, g = correct(params, x, y)
        if x.dtype == np.dtype(dtype):
            calls["n"] += 1
            g = {k: v * calls["n"] for k, v in g.items()}
        return L, g
    return fn


@pytest.mark.parametrize("order", [("float64", "float32"), ("float32", "float64")], ids=["f64-first", "f32-first"])
def test_state_is_looked_for_in_every_dtype(order):
    """Row `run_cases`: the repeat (state) check on the very first case only, not the first of each
    dtype: state kept in the second dtype only would pass on a one-case-per-dtype sweep."""
    case_list = [one_case(dtype=d) for d in order]
    results = run_cases(stateful_in(order[1]), case_list)
    assert results[0].ok
    assert not results[1].ok
    assert any("second call" in p for p in results[1].problems)
    assert results[1].repeat_ratio == pytest.approx(2.0)


# --------------------------------------------------------------------------------------------
# adapter.read_outputs: None is never a required gradient
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["dW1", "db1", "dW2", "db2"])
@pytest.mark.parametrize("form", ["pair", "one-mapping"])
def test_none_for_a_required_gradient_is_an_error(q, form):
    """Row `read_outputs`: `None` accepted for a required gradient (it would read as "not
    checked").  Only dz1 and dz2 may be left out."""
    case = one_case()
    L, g = correct(case.params, case.x, case.y)
    g[q] = None
    ret = (L, g) if form == "pair" else {"loss": L, **g}
    with pytest.raises(ImplementationError, match=f"missing {q}"):
        read_outputs(ret)


@pytest.mark.parametrize("q", ["dz1", "dz2"])
def test_none_for_an_optional_quantity_is_not_checked(q):
    case = one_case()
    L, g = correct(case.params, case.x, case.y)
    g[q] = None
    out = read_outputs((L, g))
    assert out[q] is None and out["dW1"] is not None


def test_none_for_the_loss_is_an_error():
    case = one_case()
    _, g = correct(case.params, case.x, case.y)
    with pytest.raises(ImplementationError, match="loss is None"):
        read_outputs((None, g))


# --------------------------------------------------------------------------------------------
# diagnosis: the "where" text and the pitfall match tolerance
# --------------------------------------------------------------------------------------------


def results_failing_on(shapes_failing, shapes):
    """Check results (a correct implementation) on one case per shape, with dW1 doubled on ``shapes_failing``."""
    out = []
    for s in shapes:
        case = one_case(shape=s)
        L, g = correct(case.params, case.x, case.y)
        if s in shapes_failing:
            g["dW1"] = 2 * g["dW1"]
        out.append(check_outputs(case, {"loss": L, **g}))
    return out


def test_n_greater_than_1_is_claimed_when_only_n1_passes():
    """The positive control of the next test: failing on small and square, passing on n1 (N = 1)."""
    text = diagnosis._where("dW1", results_failing_on({"small", "square"}, ["n1", "small", "square"]))
    assert "N > 1 (passes wherever N = 1)" in text


@pytest.mark.parametrize("special", ["confident", "huge"])
def test_n_greater_than_1_is_not_claimed_for_special_shapes(special):
    """Row `_where`: the "N > 1" claim made when only the special shapes fail (built with N > 1,
    they say nothing about N: the other N > 1 shapes pass)."""
    text = diagnosis._where("dW1", results_failing_on({special}, ["n1", "small", special]))
    assert "N > 1" not in text
    assert f"shapes {special} (passes on n1 small)" in text


PITFALL = "tanh_derivative_from_z"


@pytest.mark.parametrize("factor,named", [(0.0, True), (0.5, True), (10.0, False)],
                         ids=["identical", "half-rtol-off", "10-rtol-off"])
def test_a_pitfall_is_named_only_within_its_match_tolerance(factor, named):
    """Row `diagnosis` pitfall match tolerance 100x looser: an output 10 tolerances away from the
    pitfall's is not the pitfall (MATCH_FACTOR = 2 tolerances)."""
    case = one_case()
    out = diagnosis.pitfall_outputs(PITFALL, case)
    rtol = oracle_rtol("float64", case.dims)
    got = {q: (v * (1 + factor * rtol) if q in ("dz1", "dW1", "db1") else v) for q, v in out.items()}
    result = check_outputs(case, got)
    assert set(result.failed()) == {"dz1", "dW1", "db1"}
    names = {f.pitfall for f in diagnosis.diagnose([result])}
    assert (PITFALL in names) is named, names


# --------------------------------------------------------------------------------------------
# casefiles._read_inputs: shapes, not sizes; labels in [0, C)
# --------------------------------------------------------------------------------------------


def exported(tmp_path, fmt, shape="wide"):
    """A folder with one case (wide: N=3, D=40, H=30, C=7, every dimension different)."""
    case = one_case(shape=shape)
    casefiles.export(tmp_path, [case], fmt)
    return case, tmp_path / case.id


def rewrite_input(folder, fmt, name, value):
    if fmt == "json":
        path = folder / "inputs.json"
        data = json.loads(path.read_text())
        data[name] = np.asarray(value).tolist()
        path.write_text(json.dumps(data))
    else:
        np.save(folder / "inputs" / f"{name}.npy", np.asarray(value), allow_pickle=False)


@pytest.mark.parametrize("fmt", casefiles.FORMATS)
@pytest.mark.parametrize("name,change", [
    ("x", np.transpose), ("W1", np.transpose), ("W2", np.transpose),
    ("b1", lambda a: a.reshape(-1, 1)), ("b2", lambda a: a.reshape(1, -1)),
], ids=["x-transposed", "W1-transposed", "W2-transposed", "b1-column", "b2-row"])
def test_an_input_of_the_right_size_but_the_wrong_shape_is_refused(tmp_path, fmt, name, change):
    """Row `_read_inputs` (inputs compared by size, not shape): a transposed input file."""
    case, folder = exported(tmp_path, fmt)
    rewrite_input(folder, fmt, name, change(arrays_of(case.params, case.x, case.y)[name]))
    with pytest.raises(casefiles.CaseFileError, match=rf"{name} has shape"):
        casefiles.load(tmp_path)


@pytest.mark.parametrize("fmt", casefiles.FORMATS)
@pytest.mark.parametrize("bad", ["C", "-1", "C+5"])
def test_a_label_outside_0_to_C_is_refused(tmp_path, fmt, bad):
    """Row `_read_inputs`: labels >= C (exactly C is the boundary) or negative accepted."""
    case, folder = exported(tmp_path, fmt, shape="small")
    C = case.dims[3]
    y = case.y.copy()
    y[-1] = {"C": C, "-1": -1, "C+5": C + 5}[bad]
    rewrite_input(folder, fmt, "y", y)
    with pytest.raises(casefiles.CaseFileError, match=rf"labels y must be integers in \[0, {C}\)"):
        casefiles.load(tmp_path)


@pytest.mark.parametrize("fmt", casefiles.FORMATS)
def test_the_largest_label_c_minus_1_is_read(tmp_path, fmt):
    """The other side of the boundary: C - 1 is a label (an exported case whose draw holds it:
    the inputs cannot be rewritten, `cases check` recomputes them)."""
    cases = st.cases(seeds=range(5), shapes=["small"], dtypes=["float64"], targets=["labels"])
    case = next(c for c in cases if c.dims[3] - 1 in c.y)
    casefiles.export(tmp_path, [case], fmt)
    (loaded,) = casefiles.load(tmp_path)
    assert loaded.y.max() == case.dims[3] - 1
    np.testing.assert_array_equal(loaded.y, case.y)


# --------------------------------------------------------------------------------------------
# curvature.unflatten: exactly P entries
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [1, -1, 7], ids=["one-too-many", "one-too-few", "seven-too-many"])
def test_unflatten_wants_exactly_p_entries(extra):
    """Row `unflatten`: a too-long theta accepted (its tail silently dropped)."""
    params = one_case(shape="small").params
    P = sum(a.size for a in params)  # 3*5 + 5 + 5*3 + 3 = 38
    assert P == 38
    with pytest.raises(ValueError, match=rf"P = 38 entries, got shape \({38 + extra},\)"):
        unflatten(np.zeros(P + extra), params)


def test_unflatten_wants_a_vector():
    params = one_case(shape="small").params
    with pytest.raises(ValueError, match=r"got shape \(2, 19\)"):
        unflatten(np.zeros((2, 19)), params)


def test_unflatten_inverts_flatten():
    params = one_case(shape="small").params
    back = unflatten(flatten(params), params)
    for a, b in zip(params, back):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------
# compare: the helpers around check_quantity (survivors of the mutmut run, docs/tests.md)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b,floor,expected", [
    ([1.0, 2.0, 0.0], [2.0, 2.0, 0.0], 0.0, 0.5),   # |1 - 2| / 2; equal entries (zeros too) are 0
    ([1e-3], [0.0], 1e-2, 0.1),                      # the floor replaces |b| = 0
    ([3.0], [-4.0], 1.0, 7 / 4),                     # |3 + 4| / max(4, 1)
    ([1.0], [0.0], 0.0, math.inf),                   # no floor: a wrong zero is infinitely wrong
    ([], [], 0.0, 0.0),
], ids=["half", "floor", "sign", "zero-truth", "empty"])
def test_elementwise_relative_error(a, b, floor, expected):
    assert compare.elementwise_relative_error(a, b, floor) == expected


def test_relative_error_map_entry_by_entry():
    got = np.array([[1.0, 0.0], [3.0, np.nan]])
    ref = np.array([[2.0, 0.0], [0.0, 1.0]])
    r = compare.relative_error_map(got, ref)
    assert r.dtype == np.float64 and r.shape == (2, 2)
    assert r[0, 0] == 0.5 and r[0, 1] == 0.0 and r[1, 0] == math.inf and math.isnan(r[1, 1])


def test_relative_error_map_refuses_different_shapes():
    with pytest.raises(ValueError, match=r"shapes differ: \(2,\) and \(3,\)"):
        compare.relative_error_map(np.zeros(2), np.zeros(3))


def scratch_result(params, x, y):
    return loss_and_grads(params, x, y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compare_check_case_passes_a_correct_implementation_in_its_dtype(dtype):
    """compare.check_case: ours in the case's dtype, the reference in float64 (ref_dtype float64)."""
    case = one_case(dtype=dtype)
    checks = compare.check_case(scratch_result, scratch_result, case.params, case.x, case.y,
                                rtol=oracle_rtol(dtype, case.dims))
    assert [c.quantity for c in checks] == list(compare.QUANTITIES)
    assert all(c.passed for c in checks), compare.format_failures(checks)


def test_compare_check_case_fails_a_float64_result_in_a_float32_case():
    case = one_case(dtype="float32")
    f64 = lambda p, x, y: loss_and_grads(p.astype(np.float64), x.astype(np.float64), y)  # noqa: E731
    checks = compare.check_case(f64, scratch_result, case.params, case.x, case.y, rtol=1e-3)
    assert all(c.problem.startswith("dtype: got float64, expected float32") for c in checks)


def test_reference_result_hands_the_reference_float64():
    """A float32 case's reference runs on the float64 rounding of the same arrays; labels stay integers."""
    seen = {}

    def spy(params, x, y):
        seen.update(params=[p.dtype for p in params], x=x.dtype, y=y.dtype)
        return loss_and_grads(params, x, y)

    case = one_case(dtype="float32", target="soft")
    compare.reference_result(spy, case.params, case.x, case.y)
    assert seen == {"params": [np.float64] * 4, "x": np.float64, "y": np.float64}
    case = one_case(dtype="float32", target="labels")
    compare.reference_result(spy, case.params, case.x, case.y)
    assert seen["y"] == case.y.dtype and seen["x"] == np.float64


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compare_results_checks_the_dtype_of_both_sides(dtype):
    """``dtype`` for ours, ``ref_dtype`` for the reference, each compared: swapping them fails."""
    case = one_case(dtype=dtype)
    got = loss_and_grads(case.params, case.x, case.y)
    ref = compare.reference_result(loss_and_grads, case.params, case.x, case.y)
    kw = dict(rtol=oracle_rtol(dtype, case.dims), dims=case.dims)
    assert all(c.passed for c in compare.compare_results(got, ref, dtype=dtype, ref_dtype=np.float64, **kw))
    if dtype == "float32":
        wrong = compare.compare_results(got, ref, dtype=dtype, **kw)  # ref_dtype defaults to dtype
        assert all("the reference has float64, expected float32" in c.problem for c in wrong)


def test_failures_are_listed_one_per_line():
    got, ref = np.array([2.0]), np.array([1.0])
    checks = [check_quantity(q, got, ref, rtol=1e-3, dtype=np.float64, shape=(1,)) for q in ("dW1", "db1")]
    ok = check_quantity("dW2", ref, ref, rtol=1e-3, dtype=np.float64, shape=(1,))
    text = compare.format_failures([checks[0], ok, checks[1]])
    assert text == "  dW1: value: relative error 0.5 > 0.001\n  db1: value: relative error 0.5 > 0.001"
    assert compare.format_failures([ok]) == ""


def test_assert_results_match_lists_every_failing_quantity():
    case = one_case()
    L, g = loss_and_grads(case.params, case.x, case.y)
    bad = g._replace(dW1=2 * g.dW1, db2=2 * g.db2)
    with pytest.raises(AssertionError) as info:
        compare.assert_results_match((L, bad), (L, g), rtol=1e-10, dtype=np.float64, dims=case.dims)
    lines = str(info.value).splitlines()
    assert lines[0] == "mismatch against the reference:"
    assert [ln.split(":")[0] for ln in lines[1:]] == ["  db2", "  dW1"]
    assert len(compare.assert_results_match((L, g), (L, g), rtol=1e-10, dtype=np.float64, dims=case.dims)) == 7


def test_check_as_dict_holds_passed():
    c = check_quantity("db1", np.array([1.0]), np.array([1.0]), rtol=1e-3, dtype=np.float64, shape=(1,))
    assert c.as_dict() == {"quantity": "db1", "max_abs": 0.0, "max_rel": 0.0, "rtol": 1e-3, "problem": None,
                           "worst_index": (0,), "worst_got": 1.0, "worst_ref": 1.0, "passed": True}


F32_MAX_ISH = np.float32(3e38)  # a - b of two such float32 values overflows float32, not float64


@pytest.mark.parametrize("fn", ["relative_error", "elementwise_relative_error"])
def test_errors_are_computed_in_float64(fn):
    """``3e38 - (-3e38)`` overflows float32: the metrics cast to float64 first (else inf)."""
    a, b = np.array([F32_MAX_ISH]), np.array([-F32_MAX_ISH])
    with np.errstate(over="ignore"):
        assert getattr(compare, fn)(a, b) == pytest.approx(2.0)
        assert getattr(compare, fn)(b, a) == pytest.approx(2.0)


def test_relative_error_map_is_computed_in_float64():
    a, b = np.array([F32_MAX_ISH]), np.array([-F32_MAX_ISH])
    with np.errstate(over="ignore"):
        assert compare.relative_error_map(a, b)[0] == pytest.approx(2.0)
        assert compare.relative_error_map(b, a)[0] == pytest.approx(2.0)


@pytest.mark.parametrize("side", ["a", "b"])
def test_relative_error_of_complex_values_keeps_the_imaginary_part(side):
    """The complex step compares complex arrays: |(1+1j) - (1-1j)| / |1+1j| = sqrt(2), never 0."""
    a, b = np.array([1 + 1j]), np.array([1 - 1j])
    if side == "b":
        a, b = b, a
    assert relative_error(a, b) == pytest.approx(math.sqrt(2))


def test_elementwise_relative_error_has_no_floor_by_default():
    assert compare.elementwise_relative_error([1e-3], [0.0]) == math.inf
    assert compare.elementwise_relative_error([1.5], [1.0]) == 0.5


@pytest.mark.parametrize("fn", ["elementwise_relative_error", "relative_error_map"])
def test_zero_truths_raise_no_warning(fn):
    """0/0 (equal zeros) and x/0 are silenced inside (errstate), never a RuntimeWarning for the caller."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(compare, fn)(np.array([0.0, 1.0]), np.array([0.0, 0.0]))


def test_relative_error_map_is_nan_where_either_entry_is_not_finite():
    r = compare.relative_error_map(np.array([np.inf, 1.0, 2.0]), np.array([1.0, -np.inf, 2.0]))
    assert math.isnan(r[0]) and math.isnan(r[1]) and r[2] == 0.0


def test_same_values_is_inclusive_at_rtol():
    """The same boundary as check_quantity: exactly rtol is the same."""
    assert compare.same_values(np.array([1.0]), np.array([0.5]), 0.5)
    assert not compare.same_values(np.array([1.0]), np.array([0.5]), math.nextafter(0.5, 0.0))


@pytest.mark.parametrize("got,ref,problem", [
    ((3,), (2,), "shape: got (3,), expected (2,)"),
    ((2,), (3,), "shape: got (2,), expected (2,) (the reference has (3,))"),
], ids=["ours", "reference"])
def test_shape_problem_names_whose_shape_is_wrong(got, ref, problem):
    c = check_quantity("db1", np.zeros(got), np.zeros(ref), rtol=1e-10, dtype=np.float64, shape=(2,))
    assert c.problem == problem
    assert c.max_abs == math.inf and c.max_rel == math.inf and c.worst_index is None


def test_dtype_problem_names_the_reference_dtype():
    c = check_quantity("db1", np.zeros(2), np.zeros(2, np.float32), rtol=1e-10, dtype=np.float64, shape=(2,))
    assert c.problem == "dtype: got float64, expected float64 (the reference has float32, expected float64)"


@pytest.mark.parametrize("got,ref,problem", [
    ([np.nan, 1.0, np.inf], [1.0, 1.0, 1.0], "non-finite: 2 of 3 value(s)"),
    ([1.0, 1.0, 1.0], [np.nan, 1.0, -np.inf], "non-finite: 2 value(s) in the reference"),
], ids=["ours", "reference"])
def test_non_finite_problem_counts_the_entries(got, ref, problem):
    c = check_quantity("db1", np.array(got), np.array(ref), rtol=1e-10, dtype=np.float64, shape=(3,))
    assert c.problem == problem
    assert c.max_abs == math.inf and c.max_rel == math.inf


def test_empty_arrays_compare_equal():
    c = check_quantity("db1", np.zeros(0), np.zeros(0), rtol=1e-10, dtype=np.float64, shape=(0,))
    assert c.passed and c.max_abs == 0.0 and c.max_rel == 0.0 and c.worst_index is None


# --------------------------------------------------------------------------------------------
# tolerances: each function gives its documented number, and refuses what it has none for
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn,args,documented", [
    ("train_float32_rtol", (200,), 9.5e-5),               # 4 eps32 K
    ("train_float32_rtol", (1,), 4.8e-7),
    ("train_rtol", ("float64", 200), 1e-9),
    ("train_rtol", ("float32", 200), 9.5e-5),
    ("oracle_rtol", ("float64", (1, 2, 500, 2)), 1e-10),
    ("curvature_rtol", ("float64", (1, 2, 500, 2)), 1e-10),
    ("curvature_rtol", ("float32", (1, 2, 500, 2)), 4 * 2.5e-5),  # 4 x the first-order bound
    ("sum_atol", (10,), 2.2e-15),                          # n eps64
    ("eigenvalue_atol", (51,), 1.1e-14),                   # P eps64
], ids=lambda v: v if isinstance(v, str) else None)
def test_tolerance_functions_give_their_documented_numbers(fn, args, documented):
    from scratch import tolerances

    assert getattr(tolerances, fn)(*args) == pytest.approx(documented, rel=0.03)


@pytest.mark.parametrize("fn,args,error", [
    ("oracle_rtol", ("float16", (1, 1, 1, 1)), TypeError),
    ("curvature_rtol", ("complex128", (1, 1, 1, 1)), TypeError),
    ("train_rtol", ("int64", 10), TypeError),
    ("train_float32_rtol", (0,), ValueError),
    ("train_float32_rtol", (2.0,), ValueError),
], ids=["oracle-f16", "curvature-c128", "train-int", "train-0-steps", "train-float-steps"])
def test_tolerance_functions_refuse_what_they_have_no_tolerance_for(fn, args, error):
    from scratch import tolerances

    with pytest.raises(error):
        getattr(tolerances, fn)(*args)


# --------------------------------------------------------------------------------------------
# checks: the exact messages (each names the argument, what it got and what was expected)
# --------------------------------------------------------------------------------------------

from scratch import checks  # noqa: E402

Z = np.zeros


def small_params(**change):
    """W1 (3, 5), b1 (5,), W2 (5, 2), b2 (2,), float64 zeros, with fields replaced."""
    fields = {"W1": Z((3, 5)), "b1": Z(5), "W2": Z((5, 2)), "b2": Z(2), **change}
    return Params(**fields)


@pytest.mark.parametrize("call,error,message", [
    (lambda: checks.check_array("x", [1.0]), TypeError, "x must be a numpy.ndarray, got list"),
    (lambda: checks.check_array("x", Z(0)), ValueError, "x must not be empty, got array of shape (0,) and dtype float64"),
    (lambda: checks.check_array("x", np.array([1.0, np.nan, np.inf])), ValueError,
     "x must be finite, got 2 non-finite value(s) in array of shape (3,) and dtype float64"),
    (lambda: checks.check_array("x", Z(2, np.complex128)), TypeError,
     "x must have a floating dtype (float32 or float64), got array of shape (2,) and dtype complex128: gradients are "
     "real; complex128 is accepted only by scratch.loss, for complex-step differentiation"),
    (lambda: checks.check_array("x", Z(2, np.complex64), allow_complex=True), TypeError,
     "x must have a floating dtype (float32, float64 or complex128), got array of shape (2,) and dtype complex64: "
     "complex64 is not supported, use complex128"),
    (lambda: checks.check_array("x", Z(2, np.float16)), TypeError,
     "x must have a floating dtype (float32 or float64), got array of shape (2,) and dtype float16: float16 is not "
     "supported, cast it with .astype(np.float32) or .astype(np.float64)"),
    (lambda: checks.check_array("x", Z(2, np.int64)), TypeError,
     "x must have a floating dtype (float32 or float64), got array of shape (2,) and dtype int64"),
    (lambda: checks.check_params((1, 2)), TypeError,
     "params must have fields W1, b1, W2, b2 (a scratch.Params), got tuple"),
    (lambda: checks.check_params(small_params(W1=Z(3))), ValueError, "params.W1 must be 2-D (D, H), got shape (3,)"),
    (lambda: checks.check_params(small_params(b1=Z((5, 1)))), ValueError,
     "params.b1 must have shape (H,) = (5,), a 1-D array, got shape (5, 1)"),
    (lambda: checks.check_params(small_params(b1=Z(4))), ValueError,
     "params.W1 (3, 5) and params.b1 (4,) disagree on H: W1 has H = 5 columns, b1 has 4 entries"),
    (lambda: checks.check_params(small_params(W2=Z(5))), ValueError,
     "params.W2 must be 2-D (H, C) with H = 5 from W1 (3, 5), got shape (5,)"),
    (lambda: checks.check_params(small_params(W2=Z((4, 2)))), ValueError,
     "params.W1 (3, 5) and params.W2 (4, 2) disagree on H: W1 has H = 5 columns, W2 has 4 rows"),
    (lambda: checks.check_params(small_params(b2=Z((2, 1)))), ValueError,
     "params.b2 must have shape (C,) = (2,), a 1-D array, got shape (2, 1)"),
    (lambda: checks.check_params(small_params(b2=Z(3))), ValueError,
     "params.W2 (5, 2) and params.b2 (3,) disagree on C: W2 has C = 2 columns, b2 has 3 entries"),
    (lambda: checks.check_params(small_params(b2=Z(2, np.float32))), TypeError,
     "params must share one dtype (no mixed float32/float64), got W1=float64, b1=float64, W2=float64, b2=float32"),
    (lambda: checks.check_params(Params(*(a.astype(np.complex128) for a in small_params()))), TypeError,
     "params.W1 must have a floating dtype (float32 or float64), got array of shape (3, 5) and dtype complex128: "
     "gradients are real; complex128 is accepted only by scratch.loss, for complex-step differentiation"),
    (lambda: checks.check_targets([0], 1, 2, np.dtype(np.float64)), TypeError,
     "y must be a numpy.ndarray (int labels (N,) or float targets (N, C)), got list"),
    (lambda: checks.check_targets(Z(1, bool), 1, 2, np.dtype(np.float64)), TypeError,
     "y must hold integer labels of shape (N,) or float targets of shape (N, C), got array of shape (1,) and dtype bool"),
    (lambda: checks.check_targets(Z((1, 2), int), 1, 2, np.dtype(np.float64)), ValueError,
     "y (integer labels) must have shape (N,) = (1,) to match x, got (1, 2)"),
    (lambda: checks.check_targets(np.array([2, -1, 5, 6, 7, 8, 0]), 7, 2, np.dtype(np.float64)), ValueError,
     "y labels must lie in [0, C) = [0, 2), got value(s) [2, -1, 5, 6, 7]"),
    (lambda: checks.check_targets(Z(3), 3, 2, np.dtype(np.float64)), TypeError,
     "y of shape (3,) with float dtype float64: labels must be integers; float targets must have shape (N, C) = (3, 2)"),
    (lambda: checks.check_targets(Z((3, 1)), 3, 2, np.dtype(np.float64)), ValueError,
     "y (float targets) must have shape (N, C) = (3, 2), got (3, 1)"),
    (lambda: checks.check_targets(Z((3, 2), np.float32), 3, 2, np.dtype(np.float64)), TypeError,
     "y must have the parameters' dtype float64 (no mixed float32/float64), got float32"),
    (lambda: checks.check_targets(np.full((3, 2), -0.5), 3, 2, np.dtype(np.float64)), ValueError,
     "y (float targets) must be non-negative, got minimum -0.5"),
], ids=["array-list", "array-empty", "array-nonfinite", "array-complex", "array-complex64", "array-f16",
        "array-int", "params-tuple", "W1-1d", "b1-2d", "b1-H", "W2-1d", "W2-H", "b2-2d", "b2-C", "b2-dtype",
        "params-complex", "y-list", "y-bool", "labels-2d", "labels-range", "float-1d", "targets-shape",
        "targets-dtype", "targets-negative"])
def test_bad_input_messages_exactly(call, error, message):
    with pytest.raises(error) as info:
        call()
    if message is not None:
        assert str(info.value) == message


def test_complex_parameters_are_accepted_only_when_asked():
    params = small_params(**{k: v.astype(np.complex128) for k, v in small_params()._asdict().items()})
    assert checks.check_params(params, allow_complex=True) == (3, 5, 2, np.dtype(np.complex128))
    a = Z(2, np.complex128)
    assert checks.check_array("a", a, allow_complex=True) is a


@pytest.mark.parametrize("bad", [complex(1.0, np.inf), complex(np.nan, 0.0), complex(0.0, np.nan)],
                         ids=["imag-inf", "real-nan", "imag-nan"])
def test_a_non_finite_complex_entry_is_refused(bad):
    """all_finite on complex arrays (cmath.isfinite of the probe: a float() of it drops the imaginary part)."""
    a = np.array([1.0 + 0j, bad])
    assert not checks.all_finite(a)
    with pytest.raises(ValueError, match="must be finite, got 1 non-finite"):
        checks.check_array("a", a, allow_complex=True)


def test_unsupported_dtype_says_complex_is_for_the_loss_only_by_default():
    assert checks.unsupported_dtype("x", Z(1, np.complex64)) == (
        "x must have a floating dtype (float32 or float64), got array of shape (1,) and dtype complex64: gradients "
        "are real; complex128 is accepted only by scratch.loss, for complex-step differentiation")


# --------------------------------------------------------------------------------------------
# adapter: what a returned value is described as, signatures, arrays from other libraries
# --------------------------------------------------------------------------------------------

import functools  # noqa: E402
import inspect  # noqa: E402

from scratch import adapter  # noqa: E402


@pytest.mark.parametrize("value,text", [
    ((1, Z(2)), "tuple of 2 (int, ndarray (2,) float64)"),
    ([], "list of 0"),
    (tuple(range(7)), "tuple of 7 (int, int, int, int, int, int)"),
    ([[1.0]], "list of 1 (list of 1 (float))"),
    (None, "NoneType"),
    (np.float32(1), "NumPy scalar float32"),
    ({"b": 1, "a": 2}, "dict with keys ['a', 'b']"),
], ids=["tuple", "empty-list", "seven", "nested", "none", "numpy-scalar", "mapping"])
def test_describe(value, text):
    assert adapter.describe(value) == text


def test_check_signature_refuses_an_unknown_signature():
    with pytest.raises(ValueError) as info:
        adapter.check_signature(correct, "kwargs")
    assert str(info.value) == f"signature must be one of {', '.join(adapter.SIGNATURES)}, got 'kwargs'"
    assert tuple(adapter.SIGNATURES) == ("params", "arrays", "model")


def test_check_signature_refuses_what_is_not_callable():
    with pytest.raises(ImplementationError) as info:
        adapter.check_signature(3, "params")
    assert str(info.value) == "the implementation must be callable, got int"


def six(W1, b1, W2, b2, x, y):
    return None


@pytest.mark.parametrize("fn,signature,name,other", [
    (six, "params", "six", "arrays"),
    (correct, "arrays", "correct", "params"),
    (functools.partial(six, 1, 2, 3, 4), "params", "the implementation", "arrays"),
], ids=["arrays-fn-as-params", "params-fn-as-arrays", "partial-without-name"])
def test_a_wrong_signature_is_named_with_the_other_one(fn, signature, name, other):
    with pytest.raises(ImplementationError) as info:
        adapter.check_signature(fn, signature)
    text = str(info.value)
    assert text.startswith(f"{name}{inspect.signature(fn)} cannot be called as {adapter.SIGNATURES[signature]} (")
    assert text.endswith(f"if it takes {adapter.SIGNATURES[other]}, say signature={other!r} (CLI: --signature {other})")


class Buffer:
    """An array-like (a torch tensor, a JAX array) that hands out its internal buffer."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):  # NumPy 2's protocol: copy=None means "a view if you can"
        return self.a.copy() if copy else self.a


def test_an_array_like_is_read_as_a_private_copy():
    buf = Buffer(np.array([1.0, 2.0]))
    L, g = correct(*(lambda c: (c.params, c.x, c.y))(one_case()))
    out = read_outputs((L, {**g, "db2": buf}))
    buf.a[0] = 99.0  # the implementation reuses its buffer for the next call
    np.testing.assert_array_equal(out["db2"], [1.0, 2.0])
    assert out["db2"] is not buf.a


class Unreadable:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("requires grad")


class Opaque:
    pass


@pytest.mark.parametrize("value,message", [
    (Unreadable(), "db2: NumPy cannot read Unreadable (requires grad); return a NumPy array (torch: .detach().cpu().numpy())"),
    (Opaque(), "db2 is a Opaque; expected a NumPy array"),
    ([1.0, 2.0], "db2 is a list; expected a NumPy array (np.asarray it first)"),
    (3, "db2 is 3; expected a NumPy array"),
], ids=["unreadable", "opaque", "list", "int"])
def test_an_unreadable_gradient_is_named(value, message):
    case = one_case()
    L, g = correct(case.params, case.x, case.y)
    with pytest.raises(ImplementationError) as info:
        read_outputs((L, {**g, "db2": value}))
    assert str(info.value) == message


def test_a_missing_gradient_lists_the_gradients_keys_only():
    """In one mapping, "loss" is not a gradient key: the message lists the others, with a hint."""
    case = one_case()
    L, g = correct(case.params, case.x, case.y)
    ret = {"loss": L, "dw1": g["dW1"], "db1": g["db1"], "dW2": g["dW2"], "db2": g["db2"]}
    with pytest.raises(ImplementationError) as info:
        read_outputs(ret)
    assert str(info.value) == ("the gradients have keys ['dw1', 'db1', 'dW2', 'db2']: missing dW1 (did you mean 'dw1' for "
                               f"dW1?); expected {adapter.EXPECTED}")


# --------------------------------------------------------------------------------------------
# adapter.load_function: module:function and path/to/file.py:function
# --------------------------------------------------------------------------------------------

USER_FILE = '''
from dataclasses import dataclass  # a dataclass needs its module in sys.modules
import HELPER  # a sibling module: the file's folder goes on sys.path
VALUE = 3
def _private():
    pass
@dataclass
class Out:
    loss: float
def loss_and_grads(params, x, y):
    return 1.0
class Impl:
    def method(self, params, x, y):
        return 2.0
impl = Impl()
'''


@pytest.fixture
def user_file(tmp_path):
    helper = fresh_name("helper")  # a new name each time: never already in sys.modules (mutmut forks its workers)
    path = tmp_path / f"{fresh_name('user')}.py"
    path.write_text(USER_FILE.replace("HELPER", helper))
    (tmp_path / f"{helper}.py").write_text("")
    return path


def fresh_name(prefix):
    import uuid

    return f"{prefix}_{uuid.uuid4().hex}"


@pytest.mark.parametrize("attr,result", [("loss_and_grads", 1.0), ("impl.method", 2.0)], ids=["function", "dotted"])
def test_load_function_from_a_file(user_file, attr, result):
    fn = adapter.load_function(f"{user_file}:{attr}")
    assert fn(None, None, None) == result


def test_load_function_from_a_module():
    assert adapter.load_function("scratch.network:loss_and_grads") is loss_and_grads


@pytest.mark.parametrize("spec,message", [
    ("no_colon", "'no_colon': expected module:function or path/to/file.py:function"),
    ("a:b:c", "'a:b:c': expected module:function or path/to/file.py:function"),
    (":f", "':f': expected module:function or path/to/file.py:function"),
    ("nowhere/missing.py:f", "'nowhere/missing.py:f': no such file 'nowhere/missing.py'"),
    ("scratch_no_such_module_21:f", "'scratch_no_such_module_21:f': cannot import 'scratch_no_such_module_21': "
     "ModuleNotFoundError: No module named 'scratch_no_such_module_21'"),
], ids=["no-colon", "two-colons", "empty-module", "no-file", "no-module"])
def test_load_function_names_what_is_wrong(spec, message):
    with pytest.raises(ImplementationError) as info:
        adapter.load_function(spec)
    assert str(info.value) == message


def test_load_function_lists_the_public_callables(user_file):
    with pytest.raises(ImplementationError) as info:
        adapter.load_function(f"{user_file}:missing")
    assert str(info.value) == (f"'{user_file}:missing': '{user_file}' has no 'missing'; its public callables: "
                               "Impl, Out, dataclass, loss_and_grads")


def test_load_function_says_none_when_nothing_is_callable(tmp_path):
    (tmp_path / "empty_verdict_21.py").write_text("X = 1\n")
    with pytest.raises(ImplementationError, match=r"has no 'f'; its public callables: \(none\)$"):
        adapter.load_function(f"{tmp_path}/empty_verdict_21.py:f")


def test_load_function_takes_a_file_name_without_a_folder(tmp_path, monkeypatch):
    name = fresh_name("bare")
    (tmp_path / f"{name}.py").write_text("def f(params, x, y):\n    return 4.0\n")
    monkeypatch.chdir(tmp_path)
    assert adapter.load_function(f"{name}.py:f")(None, None, None) == 4.0


def test_load_function_takes_a_folder_path_as_a_file(tmp_path):
    with pytest.raises(ImplementationError, match=r"no such file 'nowhere/missing'$"):
        adapter.load_function("nowhere/missing:f")


def test_load_function_imports_a_module_from_the_current_folder(tmp_path, monkeypatch):
    """``python -m scratch check mod:fn`` finds mod.py in the current folder even when "" is not on sys.path."""
    import os
    import sys

    name = fresh_name("cwd_module")
    (tmp_path / f"{name}.py").write_text("def f(params, x, y):\n    return 5.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or ".") != os.getcwd()])
    assert adapter.load_function(f"{name}:f")(None, None, None) == 5.0


def test_load_function_refuses_what_is_not_callable(user_file):
    with pytest.raises(ImplementationError) as info:
        adapter.load_function(f"{user_file}:VALUE")
    assert str(info.value) == f"'{user_file}:VALUE' is a int, not callable"


def test_a_pair_that_is_a_namedtuple_without_loss_is_refused():
    """A NamedTuple is read by its names: (value, grads) has no "loss", so it is not a (loss, grads) pair."""
    from collections import namedtuple

    case = one_case()
    L, g = correct(case.params, case.x, case.y)
    with pytest.raises(ImplementationError, match=r"^returned Out of 2 .*; expected \(loss, grads\)"):
        read_outputs(namedtuple("Out", "value grads")(L, g))


@pytest.mark.parametrize("grads,hint", [
    ([Z(1)], " (a plain sequence has no names, so the order of the gradients is unknown)"),
    ((Z(1), Z(1)), " (a plain sequence has no names, so the order of the gradients is unknown)"),
    (Z(1), ""),
], ids=["list", "tuple", "array"])
def test_unnamed_gradients_are_refused_with_the_reason(grads, hint):
    with pytest.raises(ImplementationError) as info:
        read_outputs((1.0, grads))
    assert str(info.value) == f"returned (loss, {adapter.describe(grads)}){hint}; expected {adapter.EXPECTED}"


@pytest.mark.parametrize("keys,missing,hints", [
    (["W", "b"], "dW1, db1, dW2, db2", ""),
    # difflib's single best match for each (several keys are close to each): one hint per missing gradient
    (["dw1", "dW2", "db2", "dW_1", "Db1"], "dW1, db1", " (did you mean 'dW_1' for dW1, 'dw1' for db1?)"),
], ids=["no-hint", "two-missing-one-hint-each"])
def test_missing_gradients_are_listed_with_at_most_one_hint_each(keys, missing, hints):
    g = {k: Z(1) for k in keys}
    with pytest.raises(ImplementationError) as info:
        read_outputs((1.0, g))
    assert str(info.value) == f"the gradients have keys {keys}: missing {missing}{hints}; expected {adapter.EXPECTED}"


@pytest.mark.parametrize("fn,args,error,message", [
    ("oracle_rtol", ("float16", (1, 1, 1, 1)), TypeError, "no tolerance for dtype float16"),
    ("curvature_rtol", ("float16", (1, 1, 1, 1)), TypeError, "no tolerance for dtype float16"),
    ("train_rtol", ("float16", 3), TypeError, "no training tolerance for dtype float16"),
    ("train_float32_rtol", (0,), ValueError, "steps must be an integer >= 1, got 0"),
], ids=["oracle", "curvature", "train", "train-steps"])
def test_tolerance_errors_name_what_has_no_tolerance(fn, args, error, message):
    from scratch import tolerances

    with pytest.raises(error) as info:
        getattr(tolerances, fn)(*args)
    assert str(info.value) == message


INT8_MIN = np.array([-128], np.int8)  # |int8(-128)| is -128 in int8: the metrics must cast to float64 first


@pytest.mark.parametrize("side", ["a", "b"])
def test_relative_error_casts_each_side_to_float64(side):
    a, b = (INT8_MIN, np.array([0.0])) if side == "a" else (np.array([0.0]), INT8_MIN)
    assert relative_error(a, b) == 1.0


def test_elementwise_metrics_cast_the_truth_to_float64():
    assert compare.elementwise_relative_error(np.array([0.0]), INT8_MIN) == 1.0
    assert compare.relative_error_map(np.array([0.0]), INT8_MIN)[0] == 1.0


# --------------------------------------------------------------------------------------------
# testing.run_cases / _run, casefiles._read_inputs, diagnosis._where: survivors of mutmut
# --------------------------------------------------------------------------------------------


def test_a_user_functions_floating_point_warnings_are_silenced():
    """The user's code runs under np.errstate(all="ignore"): a 0/0 there is no RuntimeWarning (nor error)."""
    import warnings

    def noisy(params, x, y):
        np.zeros(1) / np.zeros(1)
        return correct(params, x, y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = check_case(noisy, one_case())
    assert result.error is None and result.ok


def counting(fn):
    calls = []

    def wrapped(params, x, y):
        calls.append(x.dtype.name)
        return fn(params, x, y)
    return wrapped, calls


def test_run_cases_repeats_only_the_first_case_of_each_dtype():
    fn, calls = counting(correct)
    case_list = [one_case(seed=s, dtype=d) for d in ("float64", "float32") for s in (0, 1)]
    seen = []
    results = run_cases(fn, case_list, progress=lambda it: seen.append(len(it)) or it)
    assert all(r.ok for r in results)
    assert calls == ["float64", "float64", "float64", "float32", "float32", "float32"]
    assert seen == [4]  # the progress wrapper gets the case list


def test_run_cases_binds_a_named_reference_to_each_cases_spec():
    from scratch.spec import NetworkSpec

    spec = NetworkSpec(activation="relu", reduction="sum")
    case_list = cases([0], ["small"], ["float64"], ["labels"], spec=spec)
    member = lambda p, x, y: loss_and_grads(p, x, y, spec=spec)  # noqa: E731
    assert all(r.ok for r in run_cases(member, case_list))


def test_run_cases_uses_a_reference_function_it_is_given():
    doubled = lambda p, x, y: (lambda L, g: (2 * L, g))(*loss_and_grads(p, x, y))  # noqa: E731
    (result,) = run_cases(correct, [one_case()], reference=doubled)
    assert result.failed() == ["loss"]


def test_where_says_every_case_kind_when_nothing_passes():
    results = results_failing_on({"small", "square"}, ["small", "square"])
    assert diagnosis._where("dW1", results) == "fails on every case kind of the sweep"


def test_where_joins_its_parts():
    results = results_failing_on({"small", "square"}, ["n1", "small", "square"])
    assert diagnosis._where("dW1", results) == ("fails only for shapes small square (passes on n1); "
                                                "N > 1 (passes wherever N = 1)")


def corrupt_inputs(tmp_path, fmt, edit):
    case, folder = exported(tmp_path, fmt, shape="small")
    edit(folder)
    with pytest.raises(casefiles.CaseFileError) as info:
        casefiles.load(tmp_path)
    return case, folder, str(info.value)


def test_inputs_json_that_is_not_an_object(tmp_path):
    _, folder, text = corrupt_inputs(tmp_path, "json", lambda f: (f / "inputs.json").write_text("[1, 2]"))
    assert text.endswith(f"{folder / 'inputs.json'}: expected an object with W1 b1 W2 b2 x y")


def test_inputs_json_lacking_arrays(tmp_path):
    def edit(f):
        data = json.loads((f / "inputs.json").read_text())
        del data["b1"], data["y"]
        (f / "inputs.json").write_text(json.dumps(data))

    _, folder, text = corrupt_inputs(tmp_path, "json", edit)
    assert text.endswith(f"{folder / 'inputs.json'}: lacks b1, y")


def test_an_input_that_is_not_numbers(tmp_path):
    case, _, text = corrupt_inputs(tmp_path, "json", lambda f: rewrite_input(f, "json", "b1", ["a"] * 5))
    assert text == f"case {case.id}: b1 holds <U1, expected numbers"


def test_an_npy_input_of_another_dtype(tmp_path):
    case, _, text = corrupt_inputs(tmp_path, "npy",
                                   lambda f: rewrite_input(f, "npy", "x", case_x(f).astype(np.float32)))
    assert text == f"case {case.id}: x.npy is float32, the manifest says float64"


def case_x(folder):
    return np.load(folder / "inputs" / "x.npy")


def test_an_npy_input_holding_objects_is_never_unpickled(tmp_path):
    def edit(f):
        np.save(f / "inputs" / "b1.npy", np.array([1.0, None, 2.0, 3.0, 4.0], dtype=object), allow_pickle=True)

    case, _, text = corrupt_inputs(tmp_path, "npy", edit)
    assert text.startswith(f"case {case.id}: cannot read its inputs") and "holds object, expected numbers" in text


def test_a_float32_input_written_inexactly(tmp_path):
    case = one_case(shape="small", dtype="float32")
    casefiles.export(tmp_path, [case], "json")
    x = case.x.astype(np.float64)
    x[0, 0] += 1e-12  # not a float32 value
    rewrite_input(tmp_path / case.id, "json", "x", x)
    with pytest.raises(casefiles.CaseFileError) as info:
        casefiles.load(tmp_path)
    assert str(info.value) == (f"case {case.id}: x holds values that are not finite float32 numbers "
                               "(a float32 case's inputs must be float32 values, written exactly)")


def test_an_inputs_path_leaving_the_folder_is_named(tmp_path):
    case, _ = exported(tmp_path, "json", shape="small")
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["cases"][0]["inputs"] = "../elsewhere/inputs.json"
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(casefiles.CaseFileError) as info:
        casefiles.load(tmp_path)
    assert str(info.value) == (f"case {case.id}: inputs: '../elsewhere/inputs.json' must be a relative path inside "
                               "the folder, with / separators")


# testing.check_case / check_outputs / _compare: survivors of the full testing.py run (docs/tests.md)

RELU_SUM = dict(activation="relu", reduction="sum")


def relu_case_and_member():
    from scratch.spec import NetworkSpec

    spec = NetworkSpec(**RELU_SUM)
    (case,) = cases([0], ["small"], ["float64"], ["labels"], spec=spec)
    return case, lambda p, x, y: (lambda L, g: (L, g._asdict()))(*loss_and_grads(p, x, y, spec=spec))


def test_check_case_binds_the_named_reference_to_the_cases_spec():
    case, member = relu_case_and_member()
    assert check_case(member, case).ok


def test_check_outputs_binds_the_named_reference_to_the_cases_spec():
    case, member = relu_case_and_member()
    L, g = member(case.params, case.x, case.y)
    assert check_outputs(case, {"loss": L, **g}).ok


def test_check_case_calls_once_unless_asked_to_repeat():
    fn, calls = counting(correct)
    check_case(fn, one_case())
    assert len(calls) == 1
    check_case(fn, one_case(), repeat=True)
    assert len(calls) == 3


def test_checks_are_named_and_omitted_quantities_listed():
    case = one_case()
    L, g = loss_and_grads(case.params, case.x, case.y)
    result = check_outputs(case, {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2})
    assert {q: c.quantity for q, c in result.checks.items()} == {q: q for q in ("loss", "dW2", "db2", "dW1", "db1")}
    assert result.not_returned == ("dz1", "dz2") and result.problems == [] and result.ok
