"""The findings of ``diagnose`` word for word, on small sweeps of code with a known mistake (issue 21).

Each test runs the kit on a function whose mistake it states (NaN in float32 only, an exception
on float targets, float32 outputs, a stub), and compares the whole finding (kind, quantities,
pitfall, text) with the sentence the mistake calls for.  The numbers in the sentences (case
counts, array shapes, the file and line of a raise) are taken from the sweep, not typed in.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from scratch import NetworkSpec, diagnosis
from scratch.network import loss_and_grads
from scratch.pitfalls import PITFALLS
from scratch.testing import cases, check_implementation

HERE = diagnosis._short_path(__file__)


def findings(fn, **sweep):
    """(kind, quantities, pitfall, text) of every finding of a sweep of ``fn``."""
    how = {"blind_spots": False, "dtypes": ["float64"], "targets": ["labels"], "seeds": [0], "shapes": ["small"], **sweep}
    return [(d.kind, d.quantities, d.pitfall, d.text) for d in check_implementation(fn, **how).diagnosis]


def right(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, g._asdict()


def dims(shape):
    """(N, D, H, C) of a named shape, from the sweep's own cases."""
    return cases([0], [shape], ["float64"], ["labels"])[0].dims


def line_of(fn, text):
    """The line number of the first source line of ``fn`` that holds ``text``."""
    import inspect

    src, first = inspect.getsourcelines(fn)
    return first + next(i for i, ln in enumerate(src) if text in ln)


def described(shape, target="labels", dtype="float64"):
    N, D, H, C = dims(shape)
    return f"seed 0, shape {shape} (N={N}, D={D}, H={H}, C={C}), {dtype}, {target}"


# --------------------------------------------------------------------------------------------
# Non-finite outputs
# --------------------------------------------------------------------------------------------

ONLY_F32 = (". Only in float32 (finite in float64 on the same shapes): a constant or an operation that is fine in "
            "float64 rounds in float32, e.g. a clip bound 1 - 1e-15 that is exactly 1 in float32, then log(1 - p) = "
            "log 0 or 0/0; clip with the dtype's own bound (np.finfo(x.dtype).eps)")


def nan_in_float32(params, x, y):
    L, g = loss_and_grads(params, x, y)
    d = g._asdict()
    if x.dtype == np.float32:  # right in float64, NaN / +inf in float32
        d["dW1"] = d["dW1"] * np.nan
        d["db2"] = d["db2"] + np.inf
    return L, d


def test_non_finite_in_float32_only_names_the_float32_cause():
    """The float64 cases pass (they are not failing results): they still show it is float32 only."""
    (_, D, H, C), (_, D2, H2, C2) = dims("small"), dims("square")
    got = findings(nan_in_float32, dtypes=["float64", "float32"], shapes=["small", "square"])
    assert got[0] == ("non-finite", ("db2", "dW1"), None,
                      f"non-finite outputs: db2 +inf on 2 case(s) (float32; shapes small square; array shape ({C},) "
                      f"({C2},)); dW1 NaN on 2 case(s) (float32; shapes small square; array shape ({D}, {H}) "
                      f"({D2}, {H2}))" + ONLY_F32)
    assert got[1] == ("signature", ("db2", "dW1"), None, "no known pitfall matches db2, dW1. db2 has non-finite "
                      "values; dW1 has non-finite values; fails only for dtype float32 (passes on float64)")
    assert len(got) == 2


def test_non_finite_in_both_dtypes_gets_no_float32_cause():
    def nan_everywhere(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW1": g.dW1 * np.nan}

    text = findings(nan_everywhere, dtypes=["float64", "float32"])[0][3]
    assert text.startswith("non-finite outputs: dW1 NaN on 2 case(s) (float64 float32; shapes small; ")
    assert "Only in float32" not in text


def test_non_finite_in_float32_on_a_shape_float64_does_not_cover():
    """float32 NaN on `square`, float64 run on `small` only: no float64 evidence on that shape."""
    def nan_square32(params, x, y):
        L, g = loss_and_grads(params, x, y)
        if x.dtype == np.float32 and x.shape[0] == dims("square")[0]:
            return L, {**g._asdict(), "dW1": g.dW1 * np.nan}
        if x.dtype == np.float64 and x.shape[0] == dims("square")[0]:
            raise ValueError("not run in float64")
        return L, g._asdict()

    got = findings(nan_square32, dtypes=["float64", "float32"], shapes=["small", "square"])
    nonfinite = [g for g in got if g[0] == "non-finite"]
    assert len(nonfinite) == 1 and "Only in float32" not in nonfinite[0][3]


def test_non_finite_kinds_are_merged_per_quantity_in_order_met():
    def nan_and_minus_inf(params, x, y):
        L, g = loss_and_grads(params, x, y)
        d = g._asdict()
        d["dW1"] = d["dW1"].copy()
        d["dW1"][0, 0], d["dW1"][1, 0] = np.nan, -np.inf
        return L, d

    (_, D, H, _), (_, D1, H1, _) = dims("small"), dims("n1")
    got = findings(nan_and_minus_inf, shapes=["small", "n1"])
    assert got == [("non-finite", ("dW1",), None, f"non-finite outputs: dW1 NaN/-inf on 2 case(s) (float64; shapes "
                    f"small n1; array shape ({D}, {H}) ({D1}, {H1}))"),
                   ("signature", ("dW1",), None, "no known pitfall matches dW1. dW1 has non-finite values; fails on "
                    "every case kind of the sweep")]


def test_overflow_on_huge_logits_in_the_gradients_too_is_the_missing_max_shift():
    name = "softmax_without_max_shift"
    N, D, H, C = dims("huge")
    shapes = {"loss": "()", "dz2": f"({N}, {C})", "dW2": f"({H}, {C})", "db2": f"({C},)", "dz1": f"({N}, {H})",
              "dW1": f"({D}, {H})", "db1": f"({H},)"}
    got = findings(PITFALLS[name].faulty, shapes=["small", "huge"])
    assert got[0] == ("non-finite", tuple(shapes), name, "non-finite outputs: " + "; ".join(
        f"{q} NaN on 1 case(s) (float64; shapes huge; array shape {s})" for q, s in shapes.items())
        + ". Only on logits of order 1e3, and the gradients are wrong there too: exp(z2) overflows without the "
        f"max-shift: matches pitfall `{name}`. See: python -m scratch pitfalls --show {name}")
    assert got[1][:3] == ("pitfall", tuple(shapes), name)


def test_overflow_on_huge_logits_in_the_loss_alone_is_the_log_of_softmax():
    name = "log_of_softmax"
    got = findings(PITFALLS[name].faulty, shapes=["small", "huge"])
    assert got[0] == ("non-finite", ("loss",), name, "non-finite outputs: loss +inf on 1 case(s) (float64; shapes huge; "
                      "array shape ()). Only on logits of order 1e3, in the loss alone (the gradients are right): log "
                      f"of a probability that underflowed to 0: matches pitfall `{name}`. See: python -m scratch "
                      f"pitfalls --show {name}")
    assert got[1][:3] == ("pitfall", ("loss",), name)
    assert len(got) == 2


def test_a_non_finite_reference_is_not_the_users_finding():
    r = SimpleNamespace(checks={"dW1": SimpleNamespace(problem="non-finite reference values")}, got={}, case=None)
    assert diagnosis._nonfinite_finding([r]) == []



def test_non_finite_kinds_met_twice_are_named_once():
    """NaN and +inf in one case, NaN alone in the other: "NaN/+inf", each kind once."""
    def nan_inf_then_nan(params, x, y):
        L, g = loss_and_grads(params, x, y)
        d = {**g._asdict(), "db2": g.db2.copy()}
        d["db2"][0] = np.nan
        if x.shape[0] == dims("small")[0]:
            d["db2"][1] = np.inf
        return L, d

    got = findings(nan_inf_then_nan, shapes=["small", "n1"])
    assert got[0][3].startswith("non-finite outputs: db2 NaN/+inf on 2 case(s) (float64; shapes small n1; ")


def test_the_float32_cause_needs_every_non_finite_quantity_in_float32():
    """dW1 NaN on a float64 case, db2 NaN on the float32 ones: non-finite in float64 too, no
    float32 cause (the dtypes of every quantity count, not those of the last one met)."""
    def nan64_dw1_nan32_db2(params, x, y):
        L, g = loss_and_grads(params, x, y)
        d = g._asdict()
        if x.dtype == np.float64 and x.shape[0] == dims("small")[0]:
            d["dW1"] = d["dW1"] * np.nan
        if x.dtype == np.float32:
            d["db2"] = d["db2"] * np.nan
        return L, d

    got = findings(nan64_dw1_nan32_db2, dtypes=["float64", "float32"], shapes=["small", "square"])
    nonfinite = [g for g in got if g[0] == "non-finite"]
    assert len(nonfinite) == 1 and set(nonfinite[0][1]) == {"dW1", "db2"}
    assert "Only in float32" not in nonfinite[0][3]


def test_an_infinite_loss_on_huge_logits_with_a_gradient_wrong_elsewhere_is_the_log_of_softmax():
    """Only the huge cases say whether the gradients overflowed too: a dW1 wrong on `small`
    does not turn the log of an underflowed probability into a missing max-shift."""
    name = "log_of_softmax"

    def log_of_softmax_and_dw1_wrong_on_small(params, x, y):
        L, d = PITFALLS[name].faulty(params, x, y)
        d = dict(d._asdict() if hasattr(d, "_asdict") else d)
        if x.shape[0] == dims("small")[0]:
            d["dW1"] = 2 * d["dW1"]
        return L, d

    got = findings(log_of_softmax_and_dw1_wrong_on_small, shapes=["small", "huge"])
    assert got[0][:3] == ("non-finite", ("loss",), name)
    assert "in the loss alone (the gradients are right)" in got[0][3]


def test_a_loss_nan_on_some_cases_and_wrong_on_others_gets_a_line_for_each():
    """NaN on `huge`, 1.5 times the truth on `small`: the NaN is no evidence for a pitfall that
    makes one on a part of the cases (any would), and the 1.5 is not hidden behind the NaN."""
    from scratch.network import forward

    def nan_on_huge_else_one_and_a_half(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return (np.float64(np.nan) if np.abs(forward(params, x).z2).max() > 80 else 1.5 * L), g._asdict()

    got = findings(nan_on_huge_else_one_and_a_half, shapes=["small", "huge"])
    assert [g[:3] for g in got] == [("non-finite", ("loss",), "log_of_softmax"), ("signature", ("loss",), None),
                                    ("signature", ("loss",), None)]
    zmax = float(np.abs(forward(*(lambda c: (c.params, c.x))(cases([0], ["huge"], ["float64"], ["labels"])[0])).z2).max())
    assert got[1][3] == (f"no known pitfall matches loss. loss has non-finite values (logits reach |z2| = {zmax:.3g}: "
                         "exp overflows without the max-shift?); on 1 of the 2 failing case(s) tried (shapes huge; "
                         "dtypes float64; targets labels)")
    assert got[2][3] == ("no known pitfall matches loss. loss is a constant 1.5 times the truth on that case; on 1 of "
                         "the 2 failing case(s) tried (shapes small; dtypes float64; targets labels)")

# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------


def raises_on_float_targets(params, x, y):
    if y.ndim != 1:
        raise IndexError(f"index {y.shape[1]} is out of bounds for axis 0 with size 3")
    L, g = loss_and_grads(params, x, y)
    return L, g._asdict()


def test_an_exception_on_float_targets_only_suggests_declaring_labels():
    got = findings(raises_on_float_targets, targets=["labels", "soft", "onehot"], shapes=["small", "square"])
    C = dims("small")[3]
    where = f"{HERE}:{line_of(raises_on_float_targets, 'raise IndexError')}"
    assert got == [("raised", (), None, f"no result on 4 of 6 case(s): raised IndexError: index {C} is out of bounds "
                    f"for axis 0 with size 3 (at {where}) on 4 case(s) (shapes small square; dtypes float64; targets "
                    f"soft onehot; first: {described('small', 'soft')}). It raised on float targets only (onehot soft) "
                    "and ran on every labels case: if your code takes integer labels only, say so with --targets "
                    'labels (targets=["labels"] in scratch.testing)')]


def two_errors(params, x, y):
    if x.shape[0] == dims("small")[0]:
        raise ValueError(f"bad N {x.shape[0]}")
    raise TypeError(f"no {x.shape[0]}")


def test_distinct_errors_are_numbered_and_numbers_generalized():
    got = findings(two_errors, shapes=["small", "square", "n1"])
    N, N2, N3 = dims("small")[0], dims("square")[0], dims("n1")[0]
    v, t = line_of(two_errors, "raise ValueError"), line_of(two_errors, "raise TypeError")
    assert got == [("raised", (), None, f"no result on 3 of 3 case(s): 2 distinct errors: (1) raised ValueError: bad N "
                    f"{N} (at {HERE}:{v}) on 1 case(s) (shapes small; dtypes float64; targets labels; first: "
                    f"{described('small')}); (2) raised TypeError: no {N2} (at {HERE}:{t}) on 2 case(s) (shapes "
                    f"square n1; dtypes float64; targets labels; first: {described('square')})")]
    assert N3 != N2  # the two TypeErrors differ by a number only: one error


def test_an_exit_on_float_targets_gets_no_labels_hint():
    def exits(params, x, y):
        if y.ndim != 1:
            raise SystemExit(3)
        return right(params, x, y)

    got = findings(exits, targets=["labels", "soft"])
    assert got == [("raised", (), None, f"no result on 1 of 2 case(s): raised SystemExit: 3 (at {HERE}:"
                    f"{line_of(exits, 'SystemExit(3)')}) on 1 case(s) (shapes small; dtypes float64; targets soft; "
                    f"first: {described('small', 'soft')})")]


def fake(target, error=None, ended=None):
    case = cases([0], ["small"], ["float64"], [target])[0]
    return SimpleNamespace(case=case, error=error, ended=ended)


@pytest.mark.parametrize("error, ended, hint", [
    ("raised IndexError: index 3", None, True),  # (the KeyboardInterrupt id is why the recheck's -k names whole tests)
    ("raised KeyboardInterrupt: ", None, False),
    ("raised SystemExit: 0", None, False),
    ("the worker exited with status 3", None, False),  # not an exception of the code's own
    ("raised IndexError: index 3", "exit", False),  # a worker that ended: a crash, whatever the targets
])
def test_the_labels_hint_is_for_the_codes_own_exceptions(error, ended, hint):
    text = diagnosis._raised_findings([fake("labels"), fake("soft", error, ended)])[0].text
    assert text.startswith(f"no result on 1 of 2 case(s): {error} on 1 case(s) (")
    assert ("It raised on float targets only (soft)" in text) is hint


def test_no_labels_hint_when_a_labels_case_raised_too_or_none_ran():
    both = diagnosis._raised_findings([fake("labels", "raised IndexError: 1"), fake("soft", "raised IndexError: 2")])
    assert both[0].text.startswith("no result on 2 of 2 case(s): raised IndexError: 1 on 2 case(s) (")
    assert "float targets only" not in both[0].text
    alone = diagnosis._raised_findings([fake("soft", "raised IndexError: 2")])
    assert "float targets only" not in alone[0].text
    no_labels = diagnosis._raised_findings([fake("soft", "raised IndexError: 2"), fake("onehot")])
    assert "float targets only" not in no_labels[0].text  # a float target that ran is no labels case
    one_of_two = diagnosis._raised_findings([fake("labels", "raised IndexError: 1"), fake("labels"),
                                             fake("soft", "raised IndexError: 2")])
    assert "float targets only" not in one_of_two[0].text  # a labels case raised: not float targets only
    assert diagnosis._raised_findings([fake("labels")]) == []


# --------------------------------------------------------------------------------------------
# float32 outputs in float64 cases
# --------------------------------------------------------------------------------------------


def float32_but_dz1(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return np.float32(L), {**{q: np.asarray(v, np.float32) for q, v in g._asdict().items()}, "dz1": g.dz1}


F32_QS = ("loss", "dz2", "dW2", "db2", "dW1", "db1")


# (The two names below avoid "jax": the mutation run's selection, -k "not jax", drops every test that
# says it, and these need no JAX, they put a stand-in into sys.modules or take it out.)
def test_float32_outputs_with_no_framework_imported(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    got = findings(float32_but_dz1, dtypes=["float64", "float32"], shapes=["small", "square"])
    assert got[0] == ("dtype", F32_QS, None, "float32 outputs in float64 cases (loss, dz2, dW2, db2, dW1, db1 on 2 "
                      "case(s)): your code computes in float32 (a float32 constant or buffer, torch's default dtype, or "
                      "JAX without jax_enable_x64?)")
    assert got[1] == ("signature", F32_QS, None, "no known pitfall matches loss, dz2, dW2, db2, dW1, db1. " + "; ".join(
        f"{q}: dtype: got float32, expected float64" for q in F32_QS) + "; fails only for dtype float64 (passes on "
        "float32)")
    assert len(got) == 2


def test_float32_outputs_name_the_x64_flag_when_that_framework_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", SimpleNamespace())
    got = findings(float32_but_dz1)
    assert got[0] == ("dtype", F32_QS, None, "float32 outputs in float64 cases (loss, dz2, dW2, db2, dW1, db1 on 1 "
                      'case(s)): your code computes in float32. JAX is imported: without jax.config.update('
                      '"jax_enable_x64", True), run before any array is made, JAX turns float64 inputs into float32 '
                      "silently (see python -m scratch pitfalls --show jax_without_x64)")


def test_float32_outputs_counted_per_case_not_per_quantity(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax", raising=False)

    def one_case(params, x, y):  # float32 on the small case only, right elsewhere
        return float32_but_dz1(params, x, y) if x.shape[0] == dims("small")[0] else right(params, x, y)

    got = findings(one_case, shapes=["small", "square", "n1"])
    assert got[0][3].startswith(f"float32 outputs in float64 cases ({', '.join(F32_QS)} on 1 case(s)): ")


def test_float64_outputs_in_float32_cases_are_not_a_dtype_finding():
    def float64_always(params, x, y):
        p = [np.asarray(a, np.float64) for a in params]
        L, g = loss_and_grads(type(params)(*p), np.asarray(x, np.float64), y)
        return L, g._asdict()

    assert all(kind != "dtype" for kind, *_ in findings(float64_always, dtypes=["float32"]))


# --------------------------------------------------------------------------------------------
# State kept between calls, a stub
# --------------------------------------------------------------------------------------------


def test_state_kept_between_calls_at_twice_and_at_another_ratio():
    name = "accumulating_gradients"
    bug, fix = diagnosis.bug_lines(name)
    got = findings(PITFALLS[name].faulty())  # one instance: the state lives in it
    assert got[0] == ("pitfall", (), name, f"a second call returned twice the first: matches pitfall `{name}` "
                      f"({PITFALLS[name].title}). {bug} -> {fix}. See: python -m scratch pitfalls --show {name}")
    calls = []

    def thrice(params, x, y):
        calls.append(1)
        L, g = loss_and_grads(params, x, y)
        k = 1.0 if len(calls) % 2 else 3.0  # the second call of a case returns 3x
        return L, {q: k * v for q, v in g._asdict().items()}

    got = findings(thrice)
    assert got[0] == ("stateful", (), None, "the result depends on earlier calls (second = 3 x first)")


def test_a_stub_is_named_as_a_stub():
    def stub(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {q: np.zeros_like(v) for q, v in g._asdict().items()}

    got = findings(stub, shapes=["small", "square"])
    assert got == [("signature", ("dz2", "dW2", "db2", "dz1", "dW1", "db1"), None, "dz2, dW2, db2, dz1, dW1, db1 are "
                    "all zeros on every failing case: not computed (a stub, or a gradient never assigned?), no known "
                    "pitfall")]



def test_a_stub_with_a_zero_loss_keeps_the_loss_apart():
    """Loss 0 and every gradient 0: the gradients are the stub; the loss, wrong too, is a
    finding of its own after it (not one of the "zeros", and not dropped)."""
    def stub(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return 0.0, {q: np.zeros_like(v) for q, v in g._asdict().items()}

    got = findings(stub, shapes=["small", "square"])
    assert got == [("signature", ("dz2", "dW2", "db2", "dz1", "dW1", "db1"), None, "dz2, dW2, db2, dz1, dW1, db1 are "
                    "all zeros on every failing case: not computed (a stub, or a gradient never assigned?), no known "
                    "pitfall"),
                   ("signature", ("loss",), None, "no known pitfall matches loss. loss is all zeros; fails on every "
                    "case kind of the sweep")]


@pytest.mark.parametrize("q", ["dW2", "db2", "dz2"])
def test_one_second_layer_gradient_left_at_zero_is_a_stub(q):
    def one_zero(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), q: np.zeros_like(getattr(g, q))}

    assert findings(one_zero, shapes=["small", "square"]) == [
        ("signature", (q,), None, f"{q} is all zeros on every failing case: not computed (a stub, or a gradient "
         "never assigned?), no known pitfall")]


@pytest.mark.parametrize("name, first, twins", [
    ("yhat_minus_y", "float32_yhat_minus_y", ["probabilities_modified_in_place", "yhat_minus_y"]),
    ("probabilities_modified_in_place", "probabilities_modified_in_place", ["float32_yhat_minus_y", "yhat_minus_y"]),
])
def test_pitfalls_that_give_the_same_values_are_named_as_equally_consistent(name, first, twins):
    """float32 on a confident row: the plain yhat - y loses the same digits in three pitfalls.  The
    first is named; the others, explaining the same quantities (or some of them), are appended."""
    got = findings(PITFALLS[name].faulty, shapes=["small", "confident"], dtypes=["float32"])
    pitfalls = [g for g in got if g[0] == "pitfall"]
    assert len(pitfalls) == 1 and pitfalls[0][2] == first
    assert pitfalls[0][3].endswith("".join(f" (equally consistent with pitfall `{t}` on these cases)" for t in twins))


# --------------------------------------------------------------------------------------------
# The family: the outputs of another member than the one declared
# --------------------------------------------------------------------------------------------

ALL_Q = ("loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1")
LEAKY = NetworkSpec("leaky_relu", alpha=0.3)


@pytest.mark.parametrize("declared, written, text", [
    (LEAKY, NetworkSpec("leaky_relu", alpha=0.3, reduction="sum"),
     "your loss and gradients are consistently N x: your loss is a sum, not a mean (pass --reduction sum if that "
     "is what you meant)"),
    (NetworkSpec(reduction="sum"), NetworkSpec(),
     "your loss and gradients are consistently 1/N x: your loss is a mean, not a sum (pass --reduction mean if "
     "that is what you meant)"),
    (NetworkSpec(l2=0.1), NetworkSpec(l2=0.1, reduction="sum"),
     "your loss and gradients match reduction sum: your loss is a sum over the samples, not a mean (pass "
     "--reduction sum if that is what you meant)"),
    (NetworkSpec(), NetworkSpec("relu"), "your outputs match a relu hidden layer, not tanh; pass --activation relu"),
    (LEAKY, NetworkSpec("sigmoid", reduction="sum"),
     "your outputs match a sigmoid hidden layer with reduction sum, not leaky_relu; pass --activation sigmoid "
     "--reduction sum"),
    (NetworkSpec(l2=0.1), NetworkSpec(l2=0.1, l2_form="full"),
     f"your loss and gradients match {NetworkSpec(l2=0.1, l2_form='full').describe()}; pass --l2-form full"),
    (NetworkSpec(l2=0.1, l2_form="full"), NetworkSpec(l2=0.1),
     f"your loss and gradients match {NetworkSpec(l2=0.1).describe()}; pass --l2-form half"),
    (NetworkSpec(l2=0.1, l2_biases=True), NetworkSpec(l2=0.1),
     f"your loss and gradients match {NetworkSpec(l2=0.1).describe()}; pass without --l2-biases"),
], ids=["leaky-sum", "mean-for-sum", "sum-with-l2", "relu", "sigmoid-sum", "full", "half", "no-bias-l2"])
def test_another_member_of_the_family_is_named_with_the_options_that_declare_it(declared, written, text, request):
    got = findings(right_of(written), spec=declared, shapes=["small", "square"])
    # the quantities the two members differ in: all of them, or where the penalty is (weights; biases)
    differ = {"full": ("loss", "dW2", "dW1"), "half": ("loss", "dW2", "dW1"), "no-bias-l2": ("loss", "db2", "db1")}
    assert got == [("family", differ.get(request.node.callspec.id, ALL_Q), None, text)]


def test_a_forward_pass_of_another_member_with_a_gradient_wrong_for_it_too():
    relu = right_of(NetworkSpec("relu"))

    def relu_with_dw1_doubled(params, x, y):
        L, g = relu(params, x, y)
        return L, {**g, "dW1": 2 * g["dW1"]}

    got = findings(relu_with_dw1_doubled, shapes=["small", "square"])
    assert got[0] == ("family", ("loss",), None, "your loss matches a relu hidden layer (the forward pass is relu's), "
                      "but not every gradient does: check with --activation relu to see which")

# --------------------------------------------------------------------------------------------
# A reference that loses digits: re-judged against the truth, and said so
# --------------------------------------------------------------------------------------------

REF_TAIL = (". torch and JAX compute log-sum-exp, 1 - yhat and 1 - a1^2 the plain way, which the conformance matrix "
            "(python -m scratch conformance) measures failing there too")


def off_reference(rel):
    """A reference off the truth by a relative ``rel[q](N)`` per quantity (a rounding of its own)."""
    def reference(params, x, y):
        L, g = loss_and_grads(params, x, y)
        N = x.shape[0]
        d = {q: v * (1 + rel[q](N)) if q in rel else v for q, v in g._asdict().items()}
        return L * (1 + rel["loss"](N)) if "loss" in rel else L, type(g)(**d)
    return reference


def rel_error(e):
    """|a - b| / max(|a|, |b|) of b = a (1 + e), e > 0."""
    return e / (1 + e)


def test_a_reference_off_the_truth_is_excused_where_the_user_is_on_it():
    rel = {"loss": lambda N: 2e-6, "dW2": lambda N: 3e-6, "db1": lambda N: 1e-6 * N}
    ref = off_reference(rel)
    report = check_implementation(right, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small", "square"], reference=ref)
    assert report.ok
    Ns = [dims("small")[0], dims("square")[0]]
    worst = {q: f"{max(rel_error(rel[q](N)) for N in Ns):.2g}" for q in ("loss", "dW2", "db1")}
    assert [(d.kind, d.quantities, d.pitfall, d.text) for d in report.diagnosis] == [
        ("reference", ("loss", "dW2", "db1"), None, f"the reference {report.reference} itself loses digits on shapes "
         "small square, so there your values were judged against the cancellation-free truth (scratch's own formulas) "
         "instead, and pass: " + "; ".join(f"{q} on 2 case(s) (the reference is off by up to {worst[q]}, yours by 0)"
                                           for q in ("loss", "dW2", "db1")) + REF_TAIL)]
    for r in report.results:  # the re-judged checks are against the truth: the user's error there is 0
        assert all(r.checks[q].passed and r.checks[q].max_rel == 0 for q in ("loss", "dW2", "db1"))


@pytest.mark.parametrize("factor", [2.0, 1 + 1.1e-2])
def test_a_reference_off_by_more_than_rounding_is_not_said_to_lose_digits(factor):
    """A custom reference 2x off (or 1.1% off) on db1: the user, on the truth, still passes, but the
    note says the reference is off by far more than rounding, not that it "loses digits"."""
    report = check_implementation(right, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small"], reference=off_reference({"db1": lambda N: factor - 1}))
    assert report.ok
    worst = f"{rel_error(factor - 1):.2g}"
    assert [(d.kind, d.quantities, d.text) for d in report.diagnosis] == [
        ("reference", ("db1",), f"the reference {report.reference} itself is off the cancellation-free truth on shapes "
         f"small by up to {worst}, far more than rounding loses (a wrong reference?), so there your values were judged "
         f"against that truth (scratch's own formulas) instead, and pass: db1 on 1 case(s) (the reference is off by "
         f"up to {worst}, yours by 0)")]


def test_a_reference_off_by_just_under_the_rounding_bound_loses_digits():
    report = check_implementation(right, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small"], reference=off_reference({"db1": lambda N: 1e-2}))
    assert report.ok and report.diagnosis[0].text.startswith(f"the reference {report.reference} itself loses digits")
    assert report.diagnosis[0].text.endswith(REF_TAIL)


def test_the_users_own_error_against_the_truth_is_reported():
    def slightly_off(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "db1": g.db1 * (1 + 1e-12)}

    ref = off_reference({"db1": lambda N: 1e-6})
    report = check_implementation(slightly_off, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small"], reference=ref)
    assert report.ok
    assert report.diagnosis[0].text.endswith(f"pass: db1 on 1 case(s) (the reference is off by up to "
                                             f"{rel_error(1e-6):.2g}, yours by {rel_error(1e-12):.2g})" + REF_TAIL)


def test_a_user_off_the_truth_is_not_excused_by_a_reference_off_it_too():
    def doubled(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "db1": 2 * g.db1}

    report = check_implementation(doubled, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small"], reference=off_reference({"db1": lambda N: 1e-6}))
    assert not report.ok and report.results[0].failed() == ["db1"]
    assert all(d.kind != "reference" for d in report.diagnosis)


def test_a_reference_within_tolerance_of_the_truth_excuses_nothing():
    """The reference agrees with the truth (off by 1e-13 < 1e-10): the user's 1e-9 stays a failure."""
    def off(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "db1": g.db1 * (1 + 1e-9)}

    report = check_implementation(off, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                  shapes=["small"], reference=off_reference({"db1": lambda N: 1e-13}))
    assert not report.ok and all(d.kind != "reference" for d in report.diagnosis)


def excused(fn, reference, shapes=("small",), spec=None, dtypes=("float64",)):
    """check_implementation of ``fn`` against a callable ``reference``, one seed, labels."""
    how = {} if spec is None else {"spec": spec}
    return check_implementation(fn, blind_spots=False, dtypes=list(dtypes), targets=["labels"], seeds=[0],
                                shapes=list(shapes), reference=reference, **how)


def test_a_zero_loss_is_rejudged_at_the_losss_own_scale():
    """C = 1: the loss's truth is exactly 0.  A reference off by 1e-6 there is excused, and the
    user's 1e-13 is judged against the loss's scale (zero_truth_floor), not against 0."""
    from scratch.compare import zero_truth_floor

    def tiny(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L + 1e-13, g._asdict()

    def ref(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L + 1e-6, g

    case = cases([0], ["c1"], ["float64"], ["labels"])[0]
    assert float(loss_and_grads(case.params, case.x, case.y)[0]) == 0.0
    report = excused(tiny, ref, shapes=["c1"])
    assert report.ok and [d.kind for d in report.diagnosis] == ["reference"]
    check = report.results[0].checks["loss"]
    assert check.passed and check.max_rel == pytest.approx(1e-13 / zero_truth_floor(case.params, case.x, case.y), rel=1e-3)


def test_a_zero_loss_is_rejudged_at_the_scale_of_the_cases_own_member():
    """A summed loss has an N times larger scale: an error of 3 tolerances of the mean's scale
    passes against the sum's (N = 8), and must, as it does in the check itself."""
    from scratch.compare import zero_truth_floor

    spec = NetworkSpec(reduction="sum")
    case = cases([0], ["c1"], ["float64"], ["labels"], spec=spec)[0]
    mean_floor = zero_truth_floor(case.params, case.x, case.y)
    assert zero_truth_floor(case.params, case.x, case.y, spec) == case.dims[0] * mean_floor
    first = excused(lambda p, x, y: right_of(spec)(p, x, y), lambda p, x, y: loss_and_grads(p, x, y, spec=spec),
                    shapes=["c1"], spec=spec)
    rtol = first.results[0].checks["loss"].rtol
    delta = 3 * rtol * mean_floor

    def off(params, x, y):
        L, g = right_of(spec)(params, x, y)
        return L + delta, g

    def ref(params, x, y):
        L, g = loss_and_grads(params, x, y, spec=spec)
        return L + 1e-6, g

    report = excused(off, ref, shapes=["c1"], spec=spec)
    assert report.ok and [d.kind for d in report.diagnosis] == ["reference"]


def right_of(spec):
    def fn(params, x, y):
        L, g = loss_and_grads(params, x, y, spec=spec)
        return L, g._asdict()
    return fn


def test_the_truth_is_the_cases_own_member():
    """A member with an L2 penalty: the truth re-judged against is that member's, not the seed's."""
    spec = NetworkSpec(l2=0.1)

    def ref(params, x, y):
        L, g = loss_and_grads(params, x, y, spec=spec)
        return L, g._replace(dW1=g.dW1 * (1 + 1e-6))  # dW1: the penalty's term is in it (not in db1)

    report = excused(right_of(spec), ref, spec=spec)
    assert report.ok and [d.kind for d in report.diagnosis] == ["reference"]
    assert report.diagnosis[0].quantities == ("dW1",)


def test_a_case_that_raised_does_not_stop_the_rest_being_excused():
    def raises_on_small(params, x, y):
        if x.shape[0] == dims("small")[0]:
            raise ValueError("not on small")
        return right(params, x, y)

    report = excused(raises_on_small, off_reference({"db1": lambda N: 1e-6}), shapes=["small", "square"])
    assert [r.error is None for r in report.results] == [False, True]
    assert report.results[1].ok
    assert any(d.kind == "reference" and d.quantities == ("db1",) for d in report.diagnosis)


def test_a_quantity_not_excused_does_not_stop_the_next_one():
    """dW1 is the user's own mistake (not excused); db1, later in the same case, is the reference's."""
    def doubled_dw1(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW1": 2 * g.dW1}

    report = excused(doubled_dw1, off_reference({"db1": lambda N: 1e-6}))
    assert report.results[0].failed() == ["dW1"]
    assert report.results[0].checks["db1"].passed and report.results[0].checks["db1"].quantity == "db1"
    assert [d.quantities for d in report.diagnosis if d.kind == "reference"] == [("db1",)]


def test_a_float32_case_is_rejudged_with_its_own_dtype():
    """A float32 case: the user's float32 db1 is re-judged against the float64 truth and passes
    (the dtype expected of it is the case's, of the truth float64), at float32's tolerance."""
    report = excused(right, off_reference({"db1": lambda N: 1e-3}), dtypes=("float32",))
    c = report.results[0].checks["db1"]
    assert report.ok and c.passed and c.problem is None and c.rtol == report.results[0].rtol
    assert 0 < c.max_rel <= c.rtol
    assert [(d.kind, d.quantities) for d in report.diagnosis] == [("reference", ("db1",))]


@pytest.mark.parametrize("err, said", [("rtol", None), ("past rtol", "loses digits"), ("bound", "loses digits"),
                                       ("past bound", "is off the cancellation-free truth")])
def test_the_references_own_error_meets_both_bounds_inclusive(err, said, monkeypatch):
    """The reference's error against the truth (stubbed: exact values) excuses nothing at exactly
    the tolerance (a reference within it is right), and is still rounding ("loses digits") at
    exactly REFERENCE_ROUNDING_BOUND; one float past either bound crosses it."""
    rtol = check_implementation(right, blind_spots=False, dtypes=["float64"], targets=["labels"], seeds=[0],
                                shapes=["small"]).results[0].rtol
    value = {"rtol": rtol, "past rtol": np.nextafter(rtol, 1.0), "bound": diagnosis.REFERENCE_ROUNDING_BOUND,
             "past bound": np.nextafter(diagnosis.REFERENCE_ROUNDING_BOUND, 1.0)}[err]
    monkeypatch.setattr(diagnosis, "relative_error", lambda a, b: value)
    report = excused(right, off_reference({"db1": lambda N: 1e-6}))
    texts = [d.text for d in report.diagnosis if d.kind == "reference"]
    if said is None:
        assert not report.ok and report.results[0].failed() == ["db1"] and not texts
    else:
        assert report.ok and len(texts) == 1 and f"itself {said}" in texts[0], texts


def test_excuse_reference_skips_scratch_no_reference_and_cases_that_raised():
    r = SimpleNamespace(error="raised ValueError: x", failed=lambda: ["db1"])
    assert diagnosis.excuse_reference([r], "torch") is None
    for name in (None, "scratch"):
        assert diagnosis.excuse_reference([SimpleNamespace(error=None, failed=lambda: 1 / 0)], name) is None


# --------------------------------------------------------------------------------------------
# plain_outputs: the right formulas the plain way, for every member of the family
# --------------------------------------------------------------------------------------------

from scratch.compare import relative_error  # noqa: E402

MEMBERS = [NetworkSpec(), NetworkSpec("relu", reduction="sum"), NetworkSpec("leaky_relu", alpha=0.3, l2=0.2),
           NetworkSpec("sigmoid", l2=0.4, l2_form="full", l2_biases=True), NetworkSpec("tanh", l2=0.1, l2_biases=True)]
FIXES = [frozenset(), frozenset({"log"}), frozenset({"yhat"}), frozenset({"act"}), frozenset({"log", "yhat", "act"})]


@pytest.mark.parametrize("fix", FIXES, ids=lambda f: "+".join(sorted(f)) or "plain")
@pytest.mark.parametrize("shape, target", [("small", "labels"), ("c10", "unnormalized"), ("huge", "labels")])
@pytest.mark.parametrize("spec", MEMBERS, ids=str)
def test_plain_outputs_are_the_members_gradients(spec, shape, target, fix):
    """In float64 on ordinary rows the plain way loses no digit that matters: the member's truth to 1e-9."""
    case = cases([1], [shape], ["float64"], [target], spec=spec)[0]
    L, g = loss_and_grads(case.params, case.x, case.y, spec=spec)
    truth = {"loss": np.asarray(L), **g._asdict()}
    out = diagnosis.plain_outputs(case, fix)
    assert set(out) == set(truth)
    for q, want in truth.items():
        assert out[q].shape == np.shape(want) and out[q].dtype == np.float64, q
        assert np.all(np.isfinite(out[q])) and relative_error(out[q], want) < 1e-9, (q, relative_error(out[q], want))
    assert ("plain", fix, *diagnosis._case_key(case)) in diagnosis._CACHE


def test_plain_outputs_of_a_float32_case_are_float32():
    case = cases([0], ["small"], ["float32"], ["soft"], spec=NetworkSpec("sigmoid", l2=0.5))[0]
    L, g = loss_and_grads(case.params, case.x, case.y, spec=case.spec)
    for fix in FIXES:
        out = diagnosis.plain_outputs(case, fix)
        assert all(v.dtype == np.float32 for v in out.values()), fix
        assert relative_error(out["loss"], np.float32(L)) < 1e-5 and relative_error(out["dW1"], g.dW1) < 1e-4


# --------------------------------------------------------------------------------------------
# Blind spots, the JSON of findings, and the ratio named in words
# --------------------------------------------------------------------------------------------

ONE_SMALL_CASE_BLIND = ["yhat_minus_y", "softmax_without_max_shift", "log_of_softmax", "float32_yhat_minus_y",
                        "float32_tanh_derivative_from_a1"]  # labels rows sum to 1; no huge logits; no confident or saturated row


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_blind_spots_of_one_small_labels_case(dtype):
    """The gallery's mistakes a small labels case cannot reveal, in gallery order; the mistakes
    after the repeated-call one (accumulating_gradients) are listed too."""
    spots = diagnosis.blind_spots(cases([0], ["small"], [dtype], ["labels"]))
    assert [b.pitfall for b in spots] == ONE_SMALL_CASE_BLIND
    assert all(b.title == PITFALLS[b.pitfall].title and b.why == PITFALLS[b.pitfall].why_blind for b in spots)


def test_without_a_repeated_call_accumulating_gradients_is_a_blind_spot():
    spots = diagnosis.blind_spots(cases([0], ["small"], ["float64"], ["labels"]), repeat_checked=False)
    want = ONE_SMALL_CASE_BLIND[:3] + ["accumulating_gradients"] + ONE_SMALL_CASE_BLIND[3:]
    assert [b.pitfall for b in spots] == want
    assert spots[3].as_dict() == {"pitfall": "accumulating_gradients", "title": PITFALLS["accumulating_gradients"].title,
                                  "why": "the implementation is called once per case", "shows_on": "a second call"}


def test_a_finding_as_json():
    f = diagnosis.Finding(("dW1", "db1"), "pitfall", "some text", "relu_derivative_at_a1")
    assert f.as_dict() == {"quantities": ["dW1", "db1"], "kind": "pitfall", "pitfall": "relu_derivative_at_a1",
                           "text": "some text"}


def test_ratio_is_least_squares_with_its_residual():
    k, res = diagnosis._ratio(np.array([2.0, 4.1]), np.array([1.0, 2.0]))
    assert k == pytest.approx(10.2 / 5) and res == pytest.approx(max(abs(2.0 - k), abs(4.1 - 2 * k)) / 4.1)
    assert diagnosis._ratio(np.zeros(3), np.zeros(3)) == (0.0, 0.0)
    assert diagnosis._ratio(np.ones(3), np.zeros(3)) == (np.inf, 0.0)
    for g, r in ((np.array([1.0, np.inf]), np.ones(2)), (np.ones(2), np.array([np.nan, 1.0])), (np.ones(2), np.ones(3))):
        k, res = diagnosis._ratio(g, r)
        assert np.isnan(k) and res == np.inf


@pytest.mark.parametrize("ks, Ns, Cs, words", [
    ([1001.0], [1000], None, "N times the truth on every case (the 1/N of the mean (7) is missing?)"),  # 1e-3 inclusive
    ([2.0], [2], None, "N times the truth on every case (the 1/N of the mean (7) is missing?)"),  # N = 2 is N, not 2
    ([0.5], [2], None, "1/N times the truth on every case (divided by N twice: a mean where a sum belongs?)"),
    ([6.0], [3], [2], "N*C times the truth on every case (a sum over all N*C entries of the (N, C) array?) (= 6 here: "
                      "C = 2 on every case)"),
    ([0.0, 1e-4], [3, 4], None, "a multiple of the truth that changes from case to case (0, 0.0001)"),
    ([1e-12], [3], None, "a constant 1e-12 times the truth on every case"),  # all zeros is below 1e-12, strictly
    ([1e-13], [3], None, "all zeros"),
])
def test_the_ratio_in_words(ks, Ns, Cs, words):
    assert diagnosis._name_ratio(ks, Ns, Cs) == words


def test_the_sample_is_spread_over_shapes_then_dtype_and_target_kinds():
    """Round robin over the shapes; within a shape each (dtype, target) once, targets first,
    dtypes alternating, before any repeat; at most MAX_CASES."""
    sweep = cases([0, 1], ["small", "square", "n1"], ["float64", "float32"], ["labels", "soft"])
    results = [SimpleNamespace(case=c) for c in sweep]
    got = [(r.case.shape, r.case.target, r.case.dtype, r.case.seed) for r in diagnosis._spread(results)]
    kinds = [("labels", "float64"), ("labels", "float32"), ("soft", "float64"), ("soft", "float32")]
    want = [(shape, t, d, 0) for t, d in kinds for shape in ("small", "square", "n1")]
    assert diagnosis.MAX_CASES == 12 and got == want
    few = [SimpleNamespace(case=c) for c in cases([0, 1], ["small"], ["float64"], ["labels"])]
    assert [r.case.seed for r in diagnosis._spread(few)] == [0, 1]  # a repeat when nothing else is left


# --------------------------------------------------------------------------------------------
# Right formula, lost digits
# --------------------------------------------------------------------------------------------


def plain_way(params, x, y):
    """The right formulas computed the plain way: log of the sum of exp, yhat - y, 1 - a1^2."""
    W1, b1, W2, b2 = params
    N = x.shape[0]
    a1 = np.tanh(x @ W1 + b1)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    Y = np.eye(W2.shape[1], dtype=x.dtype)[y]
    dz2 = (p - Y) / N
    dz1 = dz2 @ W2.T * (1 - a1 ** 2)
    return -np.sum(Y * np.log(p)) / N, {"dW1": x.T @ dz1, "db1": dz1.sum(0), "dW2": a1.T @ dz2, "db2": dz2.sum(0),
                                        "dz1": dz1, "dz2": dz2}


def test_lost_digits_are_named_per_lossy_operation_with_their_cost_and_fix():
    from scratch.diagnosis import LOSSY

    report = check_implementation(plain_way, blind_spots=False, seeds=[0], shapes=["small", "confident"],
                                  dtypes=["float64"], targets=["labels"])
    bad = [r for r in report.results if not r.ok]
    assert [r.case.shape for r in bad] == ["confident"]
    r = bad[0]

    def sentence(qs, ops):
        what = "; and ".join(f"{LOSSY[op][0]}: {LOSSY[op][1]}" for op in ops)
        fix = "; ".join(LOSSY[op][2] for op in ops)
        costs = ", ".join(f"{q} {r.checks[q].max_rel:.2g}" for q in qs)
        return (f"{', '.join(qs)}: right formula, lost digits (not a wrong formula, and no pitfall of the gallery): "
                f"{what}. It costs a relative error of {costs} (tolerance {r.rtol:.2g} (float64)); fix: {fix}. torch "
                "and JAX compute it the same way and lose the same digits; fails only for shapes confident (passes on small)")

    groups = [(("loss",), ("log",)), (("dz2", "dW2", "db2"), ("yhat",)), (("dz1", "dW1", "db1"), ("yhat", "act"))]
    assert [(d.kind, d.quantities, d.pitfall, d.text) for d in report.diagnosis] == [
        ("precision", qs, None, sentence(qs, ops)) for qs, ops in groups]



def test_lost_digits_in_float32_are_measured_by_float32s_eps():
    """In float32 the plain way loses digits too, and the rounding it may lose is float32's."""
    report = check_implementation(plain_way, blind_spots=False, seeds=[0], shapes=["small", "confident"],
                                  dtypes=["float32"], targets=["labels"])
    assert [(d.kind, d.quantities, d.pitfall) for d in report.diagnosis] == [
        ("pitfall", ("dz1", "dW1", "db1"), "float32_tanh_derivative_from_a1"),  # 1 - a1^2 in float32: a gallery pitfall
        ("precision", ("loss",), None), ("precision", ("dz2", "dW2", "db2"), None)]


def test_a_small_error_beyond_rounding_is_not_lost_digits():
    """dW2 off by 2e-7 of itself on a confident case: within 1,000 times what the plain way loses
    there (1.7e-9), but its absolute error (4e-15) is past the rounding the plain way may lose
    (16 eps times the scale of dW2's terms, 1.8e-15 here): a wrong value, not lost digits."""
    def scaled(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW2": g.dW2 * (1 + 2e-7)}

    got = findings(scaled, shapes=["confident"])
    assert len(got) == 1 and got[0][:3] == ("signature", ("dW2",), None)
    assert got[0][3].startswith("no known pitfall matches dW2. dW2 is the truth up to a small relative error")

def transposed_dw1(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, {**g._asdict(), "dW1": g.dW1.T}


def doubled_dw1(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, {**g._asdict(), "dW1": 2 * g.dW1}


def shifted_dw1(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, {**g._asdict(), "dW1": g.dW1 + 1e-3}


@pytest.mark.parametrize("fn, middle", [
    (transposed_dw1, "dW1 has shape ({H}, {D}), the transpose of ({D}, {H})"),
    (doubled_dw1, "dW1 is twice the truth"),
    (shifted_dw1, "dW1: relative error up to "),
], ids=["transposed", "doubled", "shifted"])
@pytest.mark.parametrize("shapes", [["small", "square"], ["confident"]], ids=["plain", "confident"])
def test_a_wrong_formula_is_never_lost_digits(fn, middle, shapes):
    """A transposed, doubled or shifted dW1 is no pitfall and no precision loss, also on a
    confident case where the plain way loses digits (and a precision finding is looked for)."""
    _, D, H, _ = dims(shapes[0])
    got = findings(fn, shapes=shapes)
    assert len(got) == 1 and got[0][:3] == ("signature", ("dW1",), None)
    assert got[0][3].startswith("no known pitfall matches dW1. " + middle.format(D=D, H=H))
    assert "; fails on every case kind of the sweep" in got[0][3]


def test_a_non_finite_gradient_on_a_confident_case_is_not_lost_digits():
    def nan_dw1(params, x, y):
        L, g = loss_and_grads(params, x, y)
        d = {**g._asdict(), "dW1": g.dW1.copy()}
        d["dW1"][0, 0] = np.nan
        return L, d

    got = findings(nan_dw1, shapes=["confident"])
    assert [g[0] for g in got] == ["non-finite", "signature"]


def test_the_lines_of_a_loss_nan_on_some_cases_follow_a_pitfall_named_on_others():
    """1/C of the loss on `small` (pitfall loss_mean_over_all_entries there), NaN on `huge`,
    1.5 times the truth on `square`: the last two are "of the other 2 failing cases"."""
    from scratch.network import forward

    def three_ways(params, x, y):
        L, g = loss_and_grads(params, x, y)
        if np.abs(forward(params, x).z2).max() > 80:
            return np.float64(np.nan), g._asdict()
        return (L / params.b2.shape[0] if x.shape[0] == dims("small")[0] else 1.5 * L), g._asdict()

    got = findings(three_ways, shapes=["small", "square", "huge"])
    assert [g[:3] for g in got] == [("non-finite", ("loss",), "log_of_softmax"),
                                    ("pitfall", ("loss",), "loss_mean_over_all_entries"),
                                    ("signature", ("loss",), None), ("signature", ("loss",), None)]
    assert "on 1 of its failing cases tried, those of shapes small;" in got[1][3]
    assert got[2][3].endswith("exp overflows without the max-shift?); on 1 of the other 2 failing case(s) tried "
                              "(shapes huge; dtypes float64; targets labels)")
    assert got[3][3] == ("no known pitfall matches loss. loss is a constant 1.5 times the truth on that case; on 1 of "
                         "the other 2 failing case(s) tried (shapes square; dtypes float64; targets labels)")


def test_a_part_of_confident_cases_alone_gets_the_confident_hint():
    """NaN on `confident`, 1.5 times the truth on `small`: the NaN part alone is confident."""
    n_conf = dims("confident")[0]
    assert n_conf != dims("small")[0]

    def nan_on_confident(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return (np.float64(np.nan) if x.shape[0] == n_conf else 1.5 * L), g._asdict()

    got = [g for g in findings(nan_on_confident, shapes=["small", "confident"]) if g[0] == "signature"]
    assert len(got) == 2
    assert got[0][3].endswith(f"on 1 of the 2 failing case(s) tried (shapes confident; dtypes float64; targets "
                              f"labels) ({diagnosis.CONFIDENT_HINT})"), got[0][3]
    assert got[1][3].endswith("(shapes small; dtypes float64; targets labels)"), got[1][3]


def flipped_but_db1(params, x, y):
    """sign_flipped in every gradient but db1: db1 divided by N twice (bias_gradient_by_mean) on the
    small shape, 3 times the truth on the others."""
    L, g = PITFALLS["sign_flipped"].faulty(params, x, y)
    _, truth = loss_and_grads(params, x, y)
    db1 = truth.dz1.mean(axis=0) if x.shape[0] == dims("small")[0] else 3 * truth.db1
    return L, {**g._asdict(), "db1": db1}


def test_a_pitfall_that_explains_only_a_part_is_not_called_equally_consistent():
    """A pitfall reproducing db1 on one failing case of two explains no quantity: it gets a line of
    its own for that part, and is never appended to the pitfall before it as "equally consistent"."""
    got = findings(flipped_but_db1, shapes=["small", "square"])
    assert [(g[0], g[1], g[2]) for g in got] == [("pitfall", ("dz2", "dW2", "db2", "dz1", "dW1"), "sign_flipped"),
                                                 ("pitfall", ("db1",), "bias_gradient_by_mean"),
                                                 ("signature", ("db1",), None)]
    assert "on 1 of its failing cases tried, those of shapes small;" in got[1][3]
    assert not [g for g in got if "equally consistent" in g[3]]
    # each ratio is said of the cases its line is about, not of "every case"
    assert "db1 is 1/N times the truth on that case (divided by N twice" in got[1][3]
    assert got[2][3].startswith("no known pitfall matches db1. db1 is a constant 3 times the truth on that case; on the "
                                "other 1 failing case(s) tried (shapes square;")


def test_a_gradient_whose_ratio_changes_from_case_to_case_is_named_so():
    """Only the loss (a scalar: always some multiple) is spared the ratio that changes: a gradient
    (1 + N/10) times the truth says so, with its ratio per case."""
    def growing(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW2": (1 + x.shape[0] / 10) * g.dW2}

    ks = ", ".join(f"{1 + dims(s)[0] / 10:.3g}" for s in ("small", "square"))
    assert findings(growing, shapes=["small", "square"]) == [
        ("signature", ("dW2",), None, f"no known pitfall matches dW2. dW2 is a multiple of the truth that changes from "
         f"case to case ({ks}); fails on every case kind of the sweep")]


def test_a_pitfall_is_named_on_the_part_of_the_cases_where_it_makes_the_same_non_finite_gradients():
    """No max-shift on every case, and dW2 also 1.5 times the truth on `small`: the NaN dW2 on
    `huge` is the pitfall's own (a non-scalar NaN pattern is evidence, unlike a NaN loss), and the
    1.5 on `small` gets a line of its own."""
    name = "softmax_without_max_shift"

    def no_shift_and_dw2(params, x, y):
        L, g = PITFALLS[name].faulty(params, x, y)
        return L, {**g._asdict(), "dW2": 1.5 * g.dW2 if x.shape[0] == dims("small")[0] else g.dW2}

    got = findings(no_shift_and_dw2, shapes=["small", "huge"])
    assert [g[:3] for g in got] == [("non-finite", ("loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1"), name),
                                    ("pitfall", ("loss", "dz2", "db2", "dz1", "dW1", "db1"), name),
                                    ("pitfall", ("dW2",), name), ("signature", ("dW2",), None)]
    assert "dW2 matches pitfall `softmax_without_max_shift` (softmax without the max-shift) on 1 of its failing cases " \
           "tried, those of shapes huge;" in got[2][3]
    assert got[3][3].startswith("no known pitfall matches dW2. dW2 is a constant 1.5 times the truth on that case; on "
                                "the other 1 failing case(s) tried (shapes small;")


def test_the_cases_no_pitfall_explains_are_listed_in_the_order_tried():
    """db2 NaN on `small` and on `c1` (a single number there, C = 1), sign_flipped on `square`:
    the db2 line lists the cases it is about in the sweep's order, whatever their sizes."""
    def flipped_or_nan_db2(params, x, y):
        if x.shape[0] == dims("square")[0]:
            return PITFALLS["sign_flipped"].faulty(params, x, y)
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "db2": np.full_like(g.db2, np.nan)}

    assert dims("c1")[3] == 1 < dims("small")[3]
    got = findings(flipped_or_nan_db2, shapes=["small", "c1", "square"])
    assert [g[:3] for g in got] == [("non-finite", ("db2",), None), ("pitfall", ("dz2", "dW2", "dz1", "dW1", "db1"),
                                     "sign_flipped"), ("pitfall", ("db2",), "sign_flipped"), ("signature", ("db2",), None)]
    assert got[3][3] == ("no known pitfall matches db2. db2 has non-finite values; on the other 2 failing case(s) tried "
                         "(shapes small c1; dtypes float64; targets labels); fails on every case kind of the sweep")


def test_a_quantity_a_pitfall_explains_on_a_part_is_no_lost_digits_on_the_rest():
    """sign_flipped on `small`, the plain way on `confident`: the gradients match the pitfall on
    `small` and so have a wrong formula (their errors on `confident` get a signature, not "right
    formula, lost digits"); the loss, which no pitfall explains, loses digits on `confident`."""
    def flipped_or_plain(params, x, y):
        if x.shape[0] == dims("small")[0]:
            return PITFALLS["sign_flipped"].faulty(params, x, y)
        return plain_way(params, x, y)

    grads = ("dz2", "dW2", "db2", "dz1", "dW1", "db1")
    got = findings(flipped_or_plain, shapes=["small", "confident"])
    assert [g[:3] for g in got] == [("pitfall", grads, "sign_flipped"), ("precision", ("loss",), None),
                                    ("signature", grads, None)]
    assert got[1][3].startswith("loss: right formula, lost digits")
    assert "on the other 1 failing case(s) tried (shapes confident;" in got[2][3]


@pytest.mark.parametrize("name, qs", [("elementwise_softmax_derivative", "dz2, dW2, db2, dz1, dW1, db1"),
                                      ("tanh_derivative_from_z", "dz1, dW1, db1")])
def test_a_pitfall_whose_error_is_no_constant_multiple_names_no_ratio(name, qs):
    """The elementwise softmax derivative and tanh' from z change db1 by no constant multiple of the
    truth: the finding goes from the cases tried straight to where it fails, with no "db1 is ..."."""
    from scratch.diagnosis import bug_lines

    got = findings(PITFALLS[name].faulty, shapes=["small", "square"])
    bug, fix = bug_lines(name)
    assert got == [("pitfall", tuple(qs.split(", ")), name, f"{qs} match pitfall `{name}` ({PITFALLS[name].title}) on "
                    f"all 2 failing cases tried; fails on every case kind of the sweep. {bug} -> {fix}. See: python -m "
                    f"scratch pitfalls --show {name}")]
