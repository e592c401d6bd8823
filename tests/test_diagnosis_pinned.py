"""scratch.diagnosis pinned against one-line bugs (issue 21): each test fails on a mutmut survivor.

``rounding_scale`` (the bound the "lost digits" verdict is measured against) recomputed here
from its docstring's formula; ``bug_lines``, ``_relevance``, ``describe_exception`` (with
``_user_frame`` and ``_short_path``), ``_nonfinite_kinds``, ``_family_text`` and
``_lossy_operations`` word for word or number for number.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from scratch import NetworkSpec, diagnosis
from scratch.activations import activate
from scratch.compare import zero_truth_floor
from scratch.pitfalls import PITFALLS, SETTINGS
from scratch.testing import cases

# --------------------------------------------------------------------------------------------
# rounding_scale: the size of the terms that cancel, from the docstring's formula
# --------------------------------------------------------------------------------------------


def scale_by_hand(q: str, case) -> float:
    """The docstring's chain on absolute values, in float64, written out independently."""
    spec = case.spec
    W1, b1, W2, b2 = (np.asarray(p, np.float64) for p in case.params)
    x = np.asarray(case.x, np.float64)
    if q == "loss":
        return zero_truth_floor(case.params, x, case.y, spec)
    a1 = activate(spec.activation, x @ W1 + b1, spec.alpha)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)
    C = W2.shape[1]
    Y = np.eye(C)[case.y] if case.y.ndim == 1 else np.abs(np.asarray(case.y, np.float64))
    f = 1.0 / x.shape[0] if spec.reduction == "mean" else 1.0
    dz2 = (yhat * Y.sum(axis=1, keepdims=True) + Y) * f
    dz1 = dz2 @ np.abs(W2).T
    k = spec.l2 if spec.l2_form == "half" else 2.0 * spec.l2
    kb = k if spec.l2_biases else 0.0
    value = {"dz2": dz2, "dz1": dz1,
             "dW2": np.abs(a1).T @ dz2 + k * np.abs(W2), "db2": dz2.sum(axis=0) + kb * np.abs(b2),
             "dW1": np.abs(x).T @ dz1 + k * np.abs(W1), "db1": dz1.sum(axis=0) + kb * np.abs(b1)}[q]
    return float(value.max())


SCALE_CASES = [
    ("seed-labels", SimpleNamespace(seeds=[0], shapes=["small"], dtype="float64", target="labels", spec=NetworkSpec())),
    ("sigmoid-sum-soft-f32", SimpleNamespace(seeds=[1], shapes=["square"], dtype="float32", target="unnormalized",
                                             spec=NetworkSpec("sigmoid", reduction="sum"))),
    ("relu-l2-full-biases", SimpleNamespace(seeds=[2], shapes=["c10"], dtype="float64", target="soft",
                                            spec=NetworkSpec("relu", l2=0.3, l2_form="full", l2_biases=True))),
    ("leaky-l2-half", SimpleNamespace(seeds=[3], shapes=["small"], dtype="float64", target="onehot",
                                      spec=NetworkSpec("leaky_relu", alpha=0.2, l2=0.7))),
]


@pytest.mark.parametrize("q", ["loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1"])
@pytest.mark.parametrize("name, how", SCALE_CASES, ids=[n for n, _ in SCALE_CASES])
def test_rounding_scale_is_the_docstrings_chain(name, how, q):
    case = cases(how.seeds, how.shapes, [how.dtype], [how.target], spec=how.spec)[0]
    want = scale_by_hand(q, case)
    assert want > 0
    assert diagnosis.rounding_scale(q, case) == pytest.approx(want, rel=1e-12)
    assert diagnosis.rounding_scale(q, case) == pytest.approx(want, rel=1e-12)  # the cached value too


def test_rounding_scale_of_the_loss_where_its_truth_is_zero():
    case = cases([0], ["c1"], ["float64"], ["labels"], spec=NetworkSpec(reduction="sum"))[0]
    assert diagnosis.rounding_scale("loss", case) == zero_truth_floor(case.params, case.x, case.y, case.spec)


# --------------------------------------------------------------------------------------------
# bug_lines, _relevance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, p in PITFALLS.items() if "# BUG" in p.source()])
def test_bug_lines_are_the_first_bug_and_right_comments(name):
    lines = [ln.strip() for ln in PITFALLS[name].source().splitlines()]
    bug, right = diagnosis.bug_lines(name)
    assert bug == next(ln for ln in lines if "# BUG" in ln)
    rights = [ln for ln in lines if ln.startswith("# RIGHT")]
    assert right == (rights[0][1:].strip() if rights else "")
    assert not right.startswith("#") and (not rights or right.startswith("RIGHT"))


def test_bug_lines_of_a_pitfall_with_two_bug_lines_and_a_right_after():
    class Fake:
        @staticmethod
        def source():
            return textwrap.dedent("""
                def f():
                    a = 1  # BUG: the first
                    # RIGHT: a = 2
                    b = 1  # BUG: the second
                    # RIGHT: b = 2
                """)

    PITFALLS["_fake_for_bug_lines"] = Fake
    try:
        assert diagnosis.bug_lines("_fake_for_bug_lines") == ("a = 1  # BUG: the first", "RIGHT: a = 2")
    finally:
        del PITFALLS["_fake_for_bug_lines"]


def fake_result(dtype, target, shape):
    return SimpleNamespace(case=SimpleNamespace(dtype=dtype, target=target, shape=shape))


@pytest.mark.parametrize("name, sample, want", [
    ("missing_mean", [fake_result("float64", "labels", "small")], 3),
    ("missing_mean", [fake_result("float32", "labels", "small"), fake_result("float64", "soft", "c10")], 2 + 1),
    ("yhat_minus_y", [fake_result("float64", "unnormalized", "small"), fake_result("float64", "labels", "small")], 3 + 2),
    ("softmax_without_max_shift", [fake_result("float64", "labels", "huge")], 3),       # logit scale 1e3: "huge"
    ("softmax_without_max_shift", [fake_result("float64", "labels", "c10")], 2),        # not its shape name
    ("float32_yhat_minus_y", [fake_result("float32", "labels", "confident")], 3),       # confident
    ("float32_yhat_minus_y", [fake_result("float64", "labels", "confident")], 2),
    ("w2_not_transposed", [fake_result("float64", "onehot", "square"), fake_result("float32", "soft", "tall")], 2 + 0),
])
def test_relevance_counts_dtype_target_and_shape_matches(name, sample, want):
    assert diagnosis._relevance(name, sample) == want


@pytest.mark.parametrize("changes, shown_on", [
    ({"shape": "mixed"}, "confident"), ({"shape": "confident"}, "confident"),
    ({"logit_scale": 100.0, "shape": "c10"}, "huge"), ({"logit_scale": 99.0, "shape": "c10"}, "c10"),
])
def test_relevance_of_the_shape_a_setting_is_shown_on(monkeypatch, changes, shown_on):
    import dataclasses

    monkeypatch.setitem(SETTINGS, "_fake", dataclasses.replace(SETTINGS["small"], **changes))
    monkeypatch.setitem(PITFALLS, "_fake", SimpleNamespace(caught_on="_fake"))
    for shape in ("confident", "mixed", "huge", "c10", "small"):
        want = 2 + (shape == shown_on)
        assert diagnosis._relevance("_fake", [fake_result("float64", "labels", shape)]) == want, shape


# --------------------------------------------------------------------------------------------
# _lossy_operations: which of the three lossy operations explain an error
# --------------------------------------------------------------------------------------------


def test_lossy_operations_attribution():
    from scratch.network import Params, loss_and_grads
    from scratch.tolerances import oracle_rtol

    c = cases([0], ["confident"], ["float32"], ["labels"])[0]
    L, g = loss_and_grads(Params(*(np.asarray(p, np.float64) for p in c.params)), c.x.astype(np.float64), c.y)
    ref = {"loss": np.asarray(L), **g._asdict()}
    rtol = oracle_rtol(np.dtype("float32"), c.dims)

    def r(err):
        return SimpleNamespace(case=c, ref=ref, rtol=rtol, checks={"dW1": SimpleNamespace(max_rel=err)})

    cost = {op: diagnosis._error("dW1", diagnosis.plain_outputs(c, frozenset(diagnosis.LOSSY) - {op})["dW1"], r(0))
            for op in diagnosis.LOSSY}
    lossy = [op for op in diagnosis.LOSSY if cost[op] > rtol]
    assert lossy == ["yhat", "act"] and cost["yhat"] < cost["act"] and cost["log"] <= rtol
    f = diagnosis.ATTRIBUTION_FACTOR
    assert diagnosis._lossy_operations("dW1", r(cost["act"] / f)) == ["yhat", "act"]  # both within, the edge included
    assert diagnosis._lossy_operations("dW1", r(cost["yhat"] / f)) == ["yhat"]
    assert diagnosis._lossy_operations("dW1", r(cost["yhat"] / f / 2)) == ["yhat", "act"]  # none within: every candidate


# --------------------------------------------------------------------------------------------
# describe_exception, _user_frame, _short_path, _nonfinite_kinds
# --------------------------------------------------------------------------------------------


def raise_from(path: Path, call: str = "f()"):
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    try:
        eval(call, ns)
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("did not raise")


def test_describe_exception_with_and_without_a_message(tmp_path, monkeypatch):
    path = tmp_path / "impl.py"
    path.write_text("def f():\n    raise ValueError('C must be >= 2')\n\ndef g(y=0):\n    assert y == 1\n")
    monkeypatch.chdir(tmp_path)
    assert diagnosis.describe_exception(raise_from(path)) == "ValueError: C must be >= 2 (at impl.py:2)"
    assert diagnosis.describe_exception(raise_from(path, "g()")) == "AssertionError at impl.py:5: assert y == 1"
    assert diagnosis.describe_exception(ValueError("  spaced  ")) == "ValueError: spaced"  # never raised: no frame
    assert diagnosis.describe_exception(KeyError()) == "KeyError"


def test_a_file_outside_the_working_folder_keeps_its_full_path(tmp_path, monkeypatch):
    path = tmp_path / "impl.py"
    path.write_text("def f():\n    raise RuntimeError('x')\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert diagnosis.describe_exception(raise_from(path)) == f"RuntimeError: x (at {path}:2)"
    assert diagnosis._short_path("rel/impl.py") == "rel/impl.py"
    assert diagnosis._short_path(str(tmp_path / "elsewhere" / "a.py")) == "a.py"


def test_a_bare_assert_without_source_has_no_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile("def g():\n    assert False\n", str(tmp_path / "gone.py"), "exec"), ns)
    try:
        ns["g"]()
    except AssertionError as exc:
        assert diagnosis.describe_exception(exc) == "AssertionError at gone.py:2"


def test_the_users_frame_skips_numpy_inside_the_users_call(tmp_path, monkeypatch):
    path = tmp_path / "impl.py"
    path.write_text("import numpy as np\n\ndef f():\n    return np.ones(3).reshape(2)\n")
    monkeypatch.chdir(tmp_path)
    text = diagnosis.describe_exception(raise_from(path))
    assert text.startswith("ValueError: cannot reshape array of size 3 into shape (2") and text.endswith("(at impl.py:4)")


def test_the_users_frame_skips_the_kit():
    from scratch.adapter import ImplementationError, read_outputs

    def user():
        return read_outputs(None)

    try:
        user()
    except ImplementationError as exc:
        frame = diagnosis._user_frame(exc.__traceback__)
    assert frame.name == "user" and frame.filename == __file__


def test_the_users_frame_of_library_code_only_is_the_innermost_library_frame():
    try:
        np.ones(3).reshape(2)  # the test's own frame is outside scratch and the libraries
    except ValueError as exc:
        tb = exc.__traceback__
    assert diagnosis._user_frame(tb).filename == __file__
    assert diagnosis._user_frame(None) is None


@pytest.mark.parametrize("values, want", [
    ([np.nan, np.inf, -np.inf, 1.0], "NaN/+inf/-inf"), ([np.inf], "+inf"), ([-np.inf, np.nan], "NaN/-inf"),
    ([-np.inf], "-inf"), ([np.nan], "NaN"), ([1.0, 2.0], ""),
])
def test_nonfinite_kinds(values, want):
    assert diagnosis._nonfinite_kinds(np.array(values)) == want
    assert diagnosis._nonfinite_kinds(np.array(values).reshape(1, -1)) == want


# --------------------------------------------------------------------------------------------
# _family_text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, v, want", [
    (NetworkSpec(), NetworkSpec(reduction="sum"),
     "your loss and gradients are consistently N x: your loss is a sum, not a mean (pass --reduction sum if that is "
     "what you meant)"),
    (NetworkSpec(reduction="sum"), NetworkSpec(),
     "your loss and gradients are consistently 1/N x: your loss is a mean, not a sum (pass --reduction mean if that "
     "is what you meant)"),
    (NetworkSpec(l2=0.1), NetworkSpec(l2=0.1, reduction="sum"),
     "your loss and gradients match reduction sum: your loss is a sum over the samples, not a mean (pass OPTS if "
     "that is what you meant)"),
    (NetworkSpec(), NetworkSpec(l2=0.1, reduction="sum"),
     "your loss and gradients match reduction sum: your loss is a sum over the samples, not a mean (pass OPTS if "
     "that is what you meant)"),
    (NetworkSpec(), NetworkSpec("relu"), "your outputs match a relu hidden layer, not tanh; pass OPTS"),
    (NetworkSpec("relu"), NetworkSpec("sigmoid", reduction="sum"),
     "your outputs match a sigmoid hidden layer with reduction sum, not relu; pass OPTS"),
    (NetworkSpec(), NetworkSpec(l2=0.1), f"your loss and gradients match {NetworkSpec(l2=0.1).describe()}; pass OPTS"),
])
def test_family_text(spec, v, want):
    assert diagnosis._family_text(spec, v, "OPTS") == want


# --------------------------------------------------------------------------------------------
# Caches
# --------------------------------------------------------------------------------------------


def test_the_cache_drops_the_oldest_beyond_its_size(monkeypatch):
    monkeypatch.setattr(diagnosis, "_CACHE", {})
    monkeypatch.setattr(diagnosis, "CACHE_SIZE", 3)
    for i in range(5):
        assert diagnosis._store(("k", i), (i,)) == (i,)
    assert list(diagnosis._CACHE) == [("k", 2), ("k", 3), ("k", 4)]


def test_a_case_with_one_array_replaced_is_another_cache_key():
    case = cases([0], ["small"], ["float64"], ["labels"])[0]
    other = type(case)(case.seed, case.shape, case.dims, case.dtype, case.target,
                       case.params._replace(W1=case.params.W1.copy()), case.x, case.y, case.spec)
    assert diagnosis._case_key(case) != diagnosis._case_key(other)
    assert diagnosis._case_key(case)[0] == case.id == diagnosis._case_key(other)[0]


def test_pitfall_outputs_of_a_pitfall_that_does_not_apply_are_empty():
    relu = cases([0], ["small"], ["float64"], ["labels"], spec=NetworkSpec("relu"))[0]
    assert diagnosis.pitfall_outputs("tanh_derivative_from_z", relu) == {}
    rect = cases([0], ["small"], ["float64"], ["labels"])[0]  # H != C: W2 for W2^T cannot run
    assert diagnosis.pitfall_outputs("w2_not_transposed", rect) == {}
    out = diagnosis.pitfall_outputs("missing_mean", rect)
    assert set(out) == {"loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1"}


# --------------------------------------------------------------------------------------------
# _pattern, _common_pattern, _signature: the simple signature of a failure
# --------------------------------------------------------------------------------------------

RTOL = 1e-10
RNG = np.random.default_rng(7)
SMALL = cases([0], ["small"], ["float64"], ["labels"])[0]


def res(q, got, ref, case=SMALL, rtol=RTOL):
    return SimpleNamespace(got={q: np.asarray(got, np.float64)}, ref={q: np.asarray(ref, np.float64)}, rtol=rtol,
                           case=case)


def test_pattern_of_arrays_of_other_shapes_or_all_right_is_none():
    t = RNG.normal(size=(3, 5))
    assert diagnosis._pattern("dW1", res("dW1", t.T, t)) is None
    assert diagnosis._pattern("dW1", res("dW1", t, t)) is None
    assert diagnosis._pattern("loss", res("loss", 2.0, 1.0)) is None  # a scalar has no pattern


def test_pattern_transpose_within_twice_the_tolerance():
    t = RNG.normal(size=(4, 4))
    assert diagnosis._pattern("dW2", res("dW2", t.T, t)) == ("transpose", "dW2 is the transpose of the truth", 0.0)
    assert diagnosis._pattern("dW2", res("dW2", t.T * (1 + 1.5 * RTOL), t))[0] == "transpose"
    assert diagnosis._pattern("dW2", res("dW2", t.T * (1 + 3 * RTOL), t)) is None  # every entry wrong, no pattern
    assert diagnosis._pattern("dW2", res("dW2", t, t)) is None  # t = t.T only for a symmetric t: none here


def test_pattern_bad_entries_are_those_beyond_the_tolerance_of_the_largest():
    t = np.array([1.0, -3.0, 2.0, 0.5, 4.0])
    near = t.copy()
    near[0] += 0.9 * RTOL * 4.0  # below rtol x the largest magnitude (4): not wrong
    assert diagnosis._pattern("db1", res("db1", near, t)) is None
    far = t.copy()
    far[0] += 1.1 * RTOL * 4.0
    assert diagnosis._pattern("db1", res("db1", far, t)) == ("index", "wrong only at index 0 of 5", 0.0)
    big = t.copy()
    big[3] = 1e6  # the scale is the larger of both arrays' largest entries: here got's
    assert diagnosis._pattern("db1", res("db1", big, t)) == ("index", "wrong only at index 3 of 5", 0.0)



@pytest.mark.parametrize("side", ["got", "truth"])
def test_pattern_scale_is_the_largest_entry_of_either_side(side):
    """Entry 0 is off by 1.1 rtol x 4 (wrong on the scale of the other entries), entry 3 is 1e6
    on one side: on the scale of that 1e6 entry 0 is right, whichever side holds it."""
    t = np.array([1.0, -3.0, 2.0, 0.5, 4.0])
    g = t.copy()
    g[0] += 1.1 * RTOL * 4.0
    (g if side == "got" else t)[3] = 1e6
    assert diagnosis._pattern("db1", res("db1", g, t)) == ("index", "wrong only at index 3 of 5", 0.0)


def test_pattern_index_sign_flipped_and_wrong():
    t = np.array([1.0, -3.0, 2.0, 0.5, 4.0])
    g = t.copy()
    g[2] = -g[2]
    assert diagnosis._pattern("db2", res("db2", g, t)) == ("index", "sign flipped only at index 2 of 5", 0.0)
    g = t.copy()
    g[[0, 3]] *= 2
    assert diagnosis._pattern("db2", res("db2", g, t)) == ("index", "wrong only at index 0, 3 of 5", 0.0)
    g = t.copy()
    g[[1, 4]] *= -1
    assert diagnosis._pattern("db2", res("db2", g, t)) == ("index", "sign flipped only at index 1, 4 of 5", 0.0)
    g = t.copy()
    g[1] *= -1
    g[4] *= 2  # one flipped, one not: "wrong"
    assert diagnosis._pattern("db2", res("db2", g, t)) == ("index", "wrong only at index 1, 4 of 5", 0.0)
    assert diagnosis._pattern("db2", res("db2", -t, t)) is None  # every entry: no index pattern


def test_pattern_index_lists_at_most_eight():
    t = np.arange(1.0, 13.0)
    g = t.copy()
    g[:10] *= 2
    assert diagnosis._pattern("db1", res("db1", g, t)) == ("index", "wrong only at index 0, 1, 2, 3, 4, 5, 6, 7 of 12",
                                                           0.0)


def test_pattern_columns_sign_flipped_and_wrong():
    t = RNG.normal(size=(4, 3)) + 2.0
    g = t.copy()
    g[:, 1] *= -1
    assert diagnosis._pattern("dW2", res("dW2", g, t)) == ("columns", "sign flipped only in column(s) 1 of 3", 0.0)
    g = t.copy()
    g[:, [0, 2]] *= 2
    assert diagnosis._pattern("dW2", res("dW2", g, t)) == ("columns", "wrong only in column(s) 0, 2 of 3", 0.0)
    g = t.copy()
    g[0, 2] *= -1  # one entry of the column flipped: the column is wrong, not flipped
    assert diagnosis._pattern("dW2", res("dW2", g, t)) == ("columns", "wrong only in column(s) 2 of 3", 0.0)
    assert diagnosis._pattern("dW2", res("dW2", 2 * t, t)) is None


def tiny_case(y, target="labels"):
    """D = H = 1, C = 2: row 0 an ordinary row (z1 = 0, yhat = 1/2), row 1 confident and saturated (z1 = 5)."""
    from scratch.network import Params

    params = Params(np.array([[1.0]]), np.array([0.0]), np.array([[10.0, -10.0]]), np.array([0.0, 0.0]))
    return SimpleNamespace(params=params, x=np.array([[0.0], [5.0]]), y=np.asarray(y), dims=(2, 1, 1, 2))


def test_pattern_saturated_units_of_dz1():
    case = tiny_case([0, 1])
    t = np.array([[0.3], [0.2]])
    g = t.copy()
    g[1, 0] += 1.0  # wrong where |z1| = 5 only
    assert diagnosis._pattern("dz1", res("dz1", g, t, case)) == ("saturated", "", 5.0)
    g = t.copy()
    g[0, 0] += 1.0  # wrong where z1 = 0: not saturation
    assert diagnosis._pattern("dz1", res("dz1", g, t, case)) is None  # (and one column: no column pattern)


def test_pattern_true_class_and_confident_rows_of_dz2():
    case = tiny_case([0, 1])
    t = np.array([[0.25, -0.25], [0.1, -0.1]])
    g = t.copy()
    g[0, 0] += 1.0
    g[1, 1] += 1.0  # both rows, each at its label
    assert diagnosis._pattern("dz2", res("dz2", g, t, case)) == ("true class", "wrong only at each row's true class", 0.0)
    g = t.copy()
    g[1, 0] += 1.0  # row 1 (confident), not at its label
    assert diagnosis._pattern("dz2", res("dz2", g, t, case)) == (
        "confident", "wrong only on confident rows (max yhat > 1 - 1e-4)", 0.0)
    soft = tiny_case([[1.0, 0.0], [0.0, 1.0]])
    g = t.copy()
    g[0, 0] += 1.0
    g[1, 1] += 1.0  # soft targets: no true class; row 0 is not confident: the columns
    assert diagnosis._pattern("dz2", res("dz2", g, t, soft)) is None
    g = t.copy()
    g[0, 1] += 1.0  # the ordinary row only, not at its label: column 1
    assert diagnosis._pattern("dz2", res("dz2", g, t, case)) == ("columns", "wrong only in column(s) 1 of 2", 0.0)


def test_common_pattern():
    case = tiny_case([0, 1])
    t = np.array([[0.3], [0.2]])
    g = t.copy()
    g[1, 0] += 1.0
    sat = res("dz1", g, t, case)
    assert diagnosis._common_pattern("dz1", [sat, sat]) == (
        "wrong only at saturated units (|z1| >= 5; right where |z1| is smaller)")
    a = np.array([1.0, 2.0, 3.0])
    one, other = a.copy(), a.copy()
    one[0] *= 2
    other[1] *= 2
    r1, r2 = res("db1", one, a), res("db1", other, a)
    assert diagnosis._common_pattern("db1", [r1, r1]) == "wrong only at index 0 of 3"
    assert diagnosis._common_pattern("db1", [r1, r2]) is None
    assert diagnosis._common_pattern("db1", [r1, res("db1", 2 * a, a)]) is None
    assert diagnosis._common_pattern("db1", []) is None


def failing_result(change, case=SMALL, spec=None):
    """check_outputs on scratch's outputs for ``case`` with ``change(out)`` applied."""
    from scratch.network import loss_and_grads
    from scratch.testing import check_outputs

    L, g = loss_and_grads(case.params, case.x, case.y, spec=case.spec)
    out = {"loss": np.asarray(L), **{q: np.array(getattr(g, q)) for q in ("dW1", "db1", "dW2", "db2", "dz1", "dz2")}}
    change(out)
    return check_outputs(case, out)


def sig(q, *results):
    failing = [r for r in results if not r.ok]
    return diagnosis._signature(q, failing, list(results))


def test_signature_of_shapes():
    r = failing_result(lambda o: o.update(dW1=o["dW1"].T))
    assert sig("dW1", r)[0] == "dW1 has shape (5, 3), the transpose of (3, 5)"
    r = failing_result(lambda o: o.update(db1=o["dz1"].sum(axis=1)))
    assert sig("db1", r)[0] == "db1 has shape (4,): summed over the units, not over the N samples (axis 1 instead of 0)"
    r = failing_result(lambda o: o.update(db1=o["db1"][:3]))
    assert sig("db1", r)[0] == "db1 has shape (3,), expected (5,)"
    r = failing_result(lambda o: o.update(dW1=o["dW1"][:, :2]))
    assert sig("dW1", r)[0] == "dW1 has shape (3, 2), expected (3, 5)"


def test_signature_of_a_dtype_and_of_non_finite_values():
    r = failing_result(lambda o: o.update(dW2=o["dW2"].astype(np.float32)))
    assert sig("dW2", r)[0] == f"dW2: {r.checks['dW2'].problem}" and r.checks["dW2"].problem.startswith("dtype")

    def nan(o):
        o["db2"][0] = np.nan

    assert sig("db2", failing_result(nan))[0] == "db2 has non-finite values"
    huge = cases([0], ["huge"], ["float64"], ["labels"])[0]
    text = sig("db2", failing_result(nan, huge))[0]
    assert text.startswith("db2 has non-finite values (logits reach |z2| = ") and text.endswith(
        ": exp overflows without the max-shift?)")
    # the largest logits of every failing case, not of the first one
    from scratch.network import forward

    zmax = float(np.abs(forward(huge.params, huge.x).z2).max())
    assert zmax > 80 > float(np.abs(forward(SMALL.params, SMALL.x).z2).max())
    for order in ((SMALL, huge), (huge, SMALL)):
        text = sig("db2", *(failing_result(nan, c) for c in order))[0]
        assert text == f"db2 has non-finite values (logits reach |z2| = {zmax:.3g}: exp overflows without the max-shift?)"


def test_signature_of_a_ratio_and_of_a_loss_that_changes():
    r = failing_result(lambda o: o.update(dW1=2 * o["dW1"]))
    assert sig("dW1", r) == ("dW1 is twice the truth", "fails on every case kind of the sweep")
    other = cases([1], ["small"], ["float64"], ["labels"])[0]
    a = failing_result(lambda o: o.update(loss=o["loss"] * 1.5))
    b = failing_result(lambda o: o.update(loss=o["loss"] * 1.25), other)
    worst = max(a.checks["loss"].max_rel, b.checks["loss"].max_rel)
    assert sig("loss", a, b)[0] == f"loss: relative error up to {worst:.3g}"
    # the same multiple everywhere: named even for the loss
    c = failing_result(lambda o: o.update(loss=o["loss"] * 1.5), other)
    assert sig("loss", a, c)[0] == "loss is a constant 1.5 times the truth on every case"


def test_signature_of_a_pattern():
    square = cases([0], ["square"], ["float64"], ["labels"])[0]
    r = failing_result(lambda o: o.update(dW2=o["dW2"].T.copy()), square)
    assert sig("dW2", r)[0] == "dW2 is the transpose of the truth"

    def column(o):
        o["dW2"][:, 1] *= 3

    assert sig("dW2", failing_result(column))[0] == "dW2: wrong only in column(s) 1 of 3"

    def scattered(o):
        o["dW1"][0, 0] += 1.0
        o["dW1"][1, 1] += 1.0
        o["dW1"][2, 2] += 1.0
        o["dW1"][0, 3] += 1.0
        o["dW1"][1, 4] += 1.0

    r = failing_result(scattered)
    assert sig("dW1", r)[0] == f"dW1: relative error up to {r.checks['dW1'].max_rel:.3g}"


def test_signature_where_says_confident_for_confident_cases_only():
    conf = cases([0], ["confident"], ["float64"], ["labels"])[0]
    r = failing_result(lambda o: o.update(dW1=2 * o["dW1"]), conf)
    assert sig("dW1", r)[1] == f"fails on every case kind of the sweep ({diagnosis.CONFIDENT_HINT})"
    ok = failing_result(lambda o: None)
    assert sig("dW1", r, ok)[1] == f"fails only for shapes confident (passes on small) ({diagnosis.CONFIDENT_HINT})"
    assert sig("dW1", r, failing_result(lambda o: o.update(dW1=2 * o["dW1"])))[1] == (
        "fails on every case kind of the sweep")


# --------------------------------------------------------------------------------------------
# _name_ratio
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ks, Ns, Cs, want", [
    ([4.0, 12.0], [4, 12], [3, 5], "N times the truth on every case (the 1/N of the mean (7) is missing?)"),
    ([4.0 * (1 + 9e-4), 12.0], [4, 12], [3, 5], "N times the truth on every case (the 1/N of the mean (7) is missing?)"),
    ([1 / 4, 1 / 12], [4, 12], [3, 5], "1/N times the truth on every case (divided by N twice: a mean where a sum "
                                       "belongs?)"),
    ([12.0, 24.0], [4, 8], [3, 3], "N*C times the truth on every case (a sum over all N*C entries of the (N, C) "
                                   "array?) (= 12 here: C = 3 on every case)"),
    ([12.0, 60.0], [4, 12], [3, 5], "N*C times the truth on every case (a sum over all N*C entries of the (N, C) "
                                    "array?)"),
    ([1 / 12, 1 / 24], [4, 8], [3, 3], "1/(N*C) times the truth on every case (divided by N*C: a mean over all "
                                       "entries and another 1/N?) (= 0.0833 here: C = 3 on every case)"),
    ([1 / 3, 1 / 3], [4, 8], [3, 3], "1/C times the truth on every case (a mean over all N*C entries, not over the "
                                     "N samples) (= 0.333 here: C = 3 on every case)"),
    ([3.0, 5.0], [4, 8], [3, 5], "C times the truth on every case"),
    ([1.0, 1.0005], [4, 8], [3, 5], "the truth up to a small relative error (a loss of precision, not a wrong formula)"),
    ([-1.0, -1.0], [4, 8], None, "-1 times the truth (sign flipped)"),
    ([2.0, 2.0], [4, 8], None, "twice the truth"),
    ([0.5, 0.5], [4, 8], None, "half the truth"),
    ([0.0, 1e-13], [4, 8], None, "all zeros"),
    ([3.7, 3.7], [4, 8], None, "a constant 3.7 times the truth on every case"),
    ([1.1, 2.2, 3.3, 4.4, 5.5], [4, 8, 9, 10, 11], None,
     "a multiple of the truth that changes from case to case (1.1, 2.2, 3.3, 4.4)"),
    ([1.0], [1], [1], "the truth up to a small relative error (a loss of precision, not a wrong formula)"),
    ([1.0, 1.0], [1, 1], [3, 3], "the truth up to a small relative error (a loss of precision, not a wrong formula)"),
    ([4.0 * (1 + 2e-3), 12.0], [4, 12], [1, 1], "a multiple of the truth that changes from case to case (4.01, 12)"),
    ([3.0, 3.0], [1, 1], [3, 3], "N*C times the truth on every case (a sum over all N*C entries of the (N, C) "
                                 "array?) (= 3 here: C = 3 on every case)"),
])
def test_name_ratio(ks, Ns, Cs, want):
    assert diagnosis._name_ratio(ks, Ns, Cs) == want


def test_name_ratio_zero_is_absolute():
    assert diagnosis._name_ratio([1e-11, 0.0], [4, 8]) != "all zeros"


# --------------------------------------------------------------------------------------------
# _pitfall_finding: the text of a pitfall match
# --------------------------------------------------------------------------------------------


def finding_texts(fn, **sweep):
    from scratch.testing import check_implementation

    report = check_implementation(fn, blind_spots=False, dtypes=["float64"], targets=["labels"], **sweep)
    return [d.text for d in report.diagnosis]


def tail(name):
    bug, right = diagnosis.bug_lines(name)
    return f"{bug} -> {right}. See: python -m scratch pitfalls --show {name}"


ALL_SIX = "dz2, dW2, db2, dz1, dW1, db1"


def test_a_pitfall_on_every_failing_case():
    texts = finding_texts(PITFALLS["missing_mean"].faulty, seeds=[0, 1], shapes=["small", "n1", "square"])
    assert texts == [f"{ALL_SIX} match pitfall `missing_mean` ({PITFALLS['missing_mean'].title}) on all 4 failing "
                     "cases tried; db1 is N times the truth on every case (the 1/N of the mean (7) is missing?); fails "
                     "only for shapes small square (passes on n1); N > 1 (passes wherever N = 1). "
                     + tail("missing_mean")]


def test_a_pitfall_on_the_one_failing_case():
    texts = finding_texts(PITFALLS["sign_flipped"].faulty, seeds=[0], shapes=["small"])
    assert texts == [f"{ALL_SIX} match pitfall `sign_flipped` ({PITFALLS['sign_flipped'].title}) on the 1 failing "
                     "case tried; db1 is -1 times the truth (sign flipped); fails on every case kind of the sweep. "
                     + tail("sign_flipped")]


def test_a_pitfall_on_one_quantity_says_what_else_it_changes():
    from scratch.network import loss_and_grads

    def only_dW2(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW2": g.dW2 * x.shape[0]}

    texts = finding_texts(only_dW2, seeds=[0], shapes=["small", "square"])
    assert texts == [f"dW2 matches pitfall `missing_mean` ({PITFALLS['missing_mean'].title}) on all 2 failing cases "
                     "tried (the pitfall also changes dz2, db2, dz1, dW1, db1; yours has those right); dW2 is N times "
                     "the truth on every case (the 1/N of the mean (7) is missing?); fails on every case kind of the "
                     "sweep. " + tail("missing_mean")]


def test_a_pitfall_on_part_of_the_failing_cases():
    from scratch.network import loss_and_grads

    faulty = PITFALLS["missing_mean"].faulty

    def half(params, x, y):
        if x.shape[0] == 4:
            return faulty(params, x, y)
        L, g = loss_and_grads(params, x, y)
        return L, {q: 3 * v for q, v in g._asdict().items()}

    texts = finding_texts(half, seeds=[0, 1], shapes=["small", "square"])
    assert texts[0] == (f"{ALL_SIX} match pitfall `missing_mean` ({PITFALLS['missing_mean'].title}) on 2 of its "
                        "failing cases tried, those of shapes small; dtypes float64; targets labels; db1 is N times "
                        "the truth on each of these cases (the 1/N of the mean (7) is missing?). " + tail("missing_mean"))
    assert texts[1].startswith(f"no known pitfall matches {ALL_SIX}. dz2 is a constant 3 times the truth on each of these cases;")
    assert texts[1].endswith("on the other 2 failing case(s) tried (shapes square; dtypes float64; targets labels); "
                             "fails on every case kind of the sweep")


# --------------------------------------------------------------------------------------------
# The JSON of a finding and of a blind spot
# --------------------------------------------------------------------------------------------


def test_finding_and_blind_spot_json():
    f = diagnosis.Finding(("dW1", "db1"), "pitfall", "the text", "missing_mean")
    assert f.as_dict() == {"quantities": ["dW1", "db1"], "kind": "pitfall", "pitfall": "missing_mean", "text": "the text"}
    assert str(f) == "the text"
    b = diagnosis.BlindSpot("missing_mean", "missing 1/N", "N = 1 only", "shape small")
    assert b.as_dict() == {"pitfall": "missing_mean", "title": "missing 1/N", "why": "N = 1 only", "shows_on": "shape small"}
    assert str(b) == "`missing_mean` (missing 1/N): N = 1 only; it shows on shape small"
    assert str(diagnosis.BlindSpot("p", "t", "", "s")) == "`p` (t); it shows on s"


def test_pitfall_outputs_are_cached_per_case():
    case = cases([0], ["small"], ["float64"], ["labels"])[0]
    first = diagnosis.pitfall_outputs("missing_mean", case)
    assert ("missing_mean", case.id, *diagnosis._case_key(case)) in diagnosis._CACHE
    again = diagnosis.pitfall_outputs("missing_mean", case)
    assert all(np.array_equal(first[q], again[q]) for q in first)


def test_pattern_scale_is_the_larger_of_both_arrays():
    t = np.ones(5)
    g = t.copy()
    g[1] += 1e-6
    g[4] = 1e6  # the got array sets the scale: 1e-6 at index 1 is within 1e-10 x 1e6
    assert diagnosis._pattern("db1", res("db1", g, t)) == ("index", "wrong only at index 4 of 5", 0.0)
    t = np.ones(5)
    t[0] = 1e6
    g = t.copy()
    g[0] = 0.0
    g[1] += 1e-6  # the truth sets the scale here
    assert diagnosis._pattern("db1", res("db1", g, t)) == ("index", "wrong only at index 0 of 5", 0.0)


def test_pattern_of_small_arrays_is_relative_to_their_size():
    t = np.array([1e-3, 2e-3, 3e-3])
    g = t.copy()
    g[0] += 1e-11  # 1e-11 > 1e-10 x 3e-3: wrong, however small in absolute terms
    assert diagnosis._pattern("db1", res("db1", g, t)) == ("index", "wrong only at index 0 of 3", 0.0)


def test_kinds_lists_every_value_once():
    rs = [SimpleNamespace(case=c) for c in cases([0, 1], ["small", "square"], ["float64", "float32"], ["labels"])]
    assert diagnosis._kinds(rs) == "shapes small square; dtypes float64 float32; targets labels"


@pytest.mark.parametrize("past", [None, "rounding", "plain way"])
def test_lost_digits_reach_both_bounds_inclusive(past, monkeypatch):
    """_precision_explains holds with max|got - ref| exactly PRECISION_ULPS eps times the rounding
    scale and a relative error exactly PRECISION_PLAIN_FACTOR times the plain way's, and not one
    float past either bound (scale and the plain way's error stubbed to powers of two: exact)."""
    from dataclasses import replace

    lost, scale = 2.0 ** -10, 1.0
    monkeypatch.setattr(diagnosis, "_lost_digits", lambda q, r: lost)
    monkeypatch.setattr(diagnosis, "rounding_scale", lambda q, case: scale)
    bound = diagnosis.PRECISION_ULPS * np.finfo(np.float64).eps * scale
    rel = diagnosis.PRECISION_PLAIN_FACTOR * lost
    r0 = failing_result(lambda o: o.update(db2=3 * o["db2"]))
    got = np.array([np.nextafter(bound, 1.0) if past == "rounding" else bound, 0.5])
    check = replace(r0.checks["db2"], max_rel=np.nextafter(rel, 2.0) if past == "plain way" else rel)
    r = replace(r0, got={**r0.got, "db2": got}, ref={**r0.ref, "db2": np.array([0.0, 0.5])},
                checks={**r0.checks, "db2": check})
    assert bool(diagnosis._precision_explains("db2", r)) is (past is None)


@pytest.mark.parametrize("above", [False, True], ids=["at", "above"])
def test_a_ratio_is_named_up_to_exactly_ratio_factor_times_the_tolerance(above):
    """The fitted ratio is named while its residual is at most RATIO_FACTOR times the tolerance,
    the bound included (as the tolerance's own is), in a signature and in a pitfall's line alike:
    db2 = [1, t] against [1, 0] is k = 1 with a residual of exactly t."""
    from dataclasses import replace

    r0 = failing_result(lambda o: o.update(db2=3 * o["db2"]))
    t = diagnosis.RATIO_FACTOR * r0.rtol
    t = np.nextafter(t, 1.0) if above else t
    r = replace(r0, got={**r0.got, "db2": np.array([1.0, t])}, ref={**r0.ref, "db2": np.array([1.0, 0.0])})
    assert diagnosis._ratio(r.got["db2"], r.ref["db2"]) == (1.0, t)
    named = "db2 is the truth up to a small relative error (a loss of precision, not a wrong formula)"
    assert diagnosis._signature("db2", [r], [r])[0].startswith(named) is not above
    line = diagnosis._pitfall_finding("sign_flipped", ["db2"], {"db2": [r]}, ["db2"], [r], [r], None).text
    assert (f"; {named}; fails" in line) is not above


def test_a_pitfall_is_named_on_a_non_finite_gradient_of_two_numbers():
    """A gradient of two numbers (db2 with C = 2) NaN the way the missing max-shift makes it, on a
    case with logits of 800, is the pitfall's evidence there (only a single number is too little);
    db2 1.5 times the truth on `small` is the other part, with a line of its own."""
    from scratch.cases import SweepCase
    from scratch.network import Params, loss_and_grads
    from scratch.pitfalls import PITFALLS
    from scratch.testing import check_outputs

    name = "softmax_without_max_shift"
    params = Params(np.array([[1.0]]), np.array([0.0]), np.zeros((1, 2)), np.array([800.0, 0.0]))
    big = SweepCase(0, "big", (2, 1, 1, 2), "float64", "labels", params, np.array([[0.0], [1.0]]), np.array([0, 1]),
                    NetworkSpec())
    with np.errstate(all="ignore"):
        L, g = PITFALLS[name].faulty(params, big.x, big.y)
    assert g.db2.shape == (2,) and np.isnan(g.db2).any()
    first = check_outputs(big, {"loss": L, **g._asdict()})
    L, g = loss_and_grads(SMALL.params, SMALL.x, SMALL.y)
    second = check_outputs(SMALL, {"loss": L, **g._asdict(), "db2": 1.5 * g.db2})
    got = [(d.kind, d.quantities, d.pitfall, d.text) for d in diagnosis.diagnose([first, second])]
    db2 = [f for f in got if f[1] == ("db2",) and f[0] in ("pitfall", "signature")]
    assert [f[:3] for f in db2] == [("pitfall", ("db2",), name), ("signature", ("db2",), None)]
    assert f"db2 matches pitfall `{name}` (softmax without the max-shift) on 1 of its failing cases tried, those of " \
           "shapes big;" in db2[0][3]
    assert db2[1][3].startswith("no known pitfall matches db2. db2 is a constant 1.5 times the truth on that case; on "
                                "the other 1 failing case(s) tried (shapes small;")


def test_the_overflow_hint_reads_the_logits_of_the_cases_own_member():
    """ReLU, z1 = 100: the member's logits reach 100 (the hint), where tanh's would stay at 1."""
    from scratch.cases import SweepCase
    from scratch.network import Params

    params = Params(np.array([[100.0]]), np.array([0.0]), np.array([[1.0, 0.0]]), np.array([0.0, 0.0]))
    case = SweepCase(0, "tiny", (2, 1, 1, 2), "float64", "labels", params, np.array([[1.0], [1.0]]), np.array([0, 1]),
                     NetworkSpec("relu"))

    def nan(o):
        o["db2"][0] = np.nan

    assert sig("db2", failing_result(nan, case))[0] == ("db2 has non-finite values (logits reach |z2| = 100: exp "
                                                        "overflows without the max-shift?)")


@pytest.mark.parametrize("b2, hint", [(80.5, True), (80.0, False), (79.5, False)])
def test_the_overflow_hint_starts_above_logits_of_80(b2, hint):
    from scratch.cases import SweepCase
    from scratch.network import Params, loss_and_grads
    from scratch.testing import check_outputs

    params = Params(np.array([[1.0]]), np.array([0.0]), np.zeros((1, 2)), np.array([b2, 0.0]))
    case = SweepCase(0, "tiny", (2, 1, 1, 2), "float64", "labels", params, np.array([[0.0], [1.0]]), np.array([0, 1]),
                     NetworkSpec())
    L, g = loss_and_grads(params, case.x, case.y)
    out = {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": np.array([np.nan, 0.0])}
    r = check_outputs(case, out)
    text = diagnosis._signature("db2", [r], [r])[0]
    assert text == ("db2 has non-finite values" + (f" (logits reach |z2| = {b2:.3g}: exp overflows without the "
                                                   "max-shift?)" if hint else ""))
