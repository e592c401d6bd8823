"""scratch.testing: the conformance kit's API, the return shapes it accepts, the report."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pytest

import scratch
import scratch.testing as st
from scratch.adapter import ImplementationError, read_outputs

import user_impls as U

SMALL = dict(seeds=[0], shapes=["small", "n1"], dtypes=["float64"], targets=["labels", "soft"])


@pytest.mark.parametrize("fn", [scratch.loss_and_grads, lambda p, x, y: scratch.loss_and_grads(p, x, y, route="staged"),
                                U.textbook], ids=["scratch-fused", "scratch-staged", "textbook"])
def test_correct_implementations_pass_the_default_sweep_without_diagnosis(fn):
    report = st.check_implementation(fn, blind_spots=False)
    assert report.ok, report.failure_message()
    assert len(report.results) == 5 * 10 * 2 * 4 and report.diagnosis == []
    assert all(np.isfinite(c.max_rel) for r in report.results for c in r.checks.values())


@pytest.mark.parametrize("oracle", ["torch", "jax"])
def test_oracles_pass_as_user_implementations(oracle):
    import oracles

    report = st.check_implementation(oracles.get(oracle), seeds=[0, 1], blind_spots=False)
    assert report.ok, report.failure_message()


def test_arrays_signature_and_single_mapping():
    report = st.check_implementation(U.textbook_arrays, signature="arrays", **SMALL)
    assert report.ok, report.failure_message()


Grads4 = namedtuple("Grads4", "dW1 db1 dW2 db2")


@dataclass
class GradsDC:
    dW1: np.ndarray
    db1: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray


@pytest.mark.parametrize("wrap", [
    lambda L, g: (L, g),
    lambda L, g: (L, Grads4(**g)),
    lambda L, g: (L, GradsDC(**g)),
    lambda L, g: {"loss": L, **g},
    lambda L, g: (float(L), g),
], ids=["tuple-dict", "tuple-namedtuple", "tuple-dataclass", "mapping", "python-float-loss"])
def test_accepted_return_shapes(wrap):
    def fn(p, x, y):
        return wrap(*U.textbook(p, x, y))

    report = st.check_implementation(fn, **SMALL)
    assert report.ok, report.failure_message()
    assert report.not_returned == ("dz1", "dz2")
    rows = {(s["quantity"], s["status"]) for s in report.summary_rows()}
    assert ("dz1", "not checked (not returned)") in rows and ("dW1", "pass") in rows


def test_scratch_grads_checks_dz1_and_dz2():
    report = st.check_implementation(scratch.loss_and_grads, **SMALL)
    assert report.not_returned == () and all("dz2" in r.checks and "dz1" in r.checks for r in report.results)


@pytest.mark.parametrize("ret, message", [
    ((1.0, (np.zeros(2),) * 4), "a plain sequence has no names, so the order of the gradients is unknown"),
    ((1.0, {"dW1": 0, "db1": 0, "dW2": 0}), "missing db2"),
    ((1.0, {"dw1": np.zeros(1), "db1": np.zeros(1), "dW2": np.zeros(1), "db2": np.zeros(1)}), "did you mean 'dw1' for dW1"),
    ((1.0, {"dW1": [[1.0]], "db1": np.zeros(1), "dW2": np.zeros(1), "db2": np.zeros(1)}), "dW1 is a list"),
    (np.zeros(3), "returned ndarray (3,) float64"),
    ((1.0, 2.0, 3.0), "returned tuple of 3"),
    ({"dW1": np.zeros(1)}, "returned dict with keys ['dW1']"),
], ids=["tuple-of-4", "missing-key", "typo", "list", "array", "3-tuple", "mapping-without-loss"])
def test_unreadable_returns_say_what_was_returned_and_expected(ret, message):
    with pytest.raises(ImplementationError, match="expected|list") as info:
        read_outputs(ret)
    assert message in str(info.value)


def test_unreadable_return_is_the_cases_failure_and_the_sweep_goes_on():
    report = st.check_implementation(lambda p, x, y: (1.0, (1, 2, 3, 4)), **SMALL)
    assert not report.ok and all(r.error.startswith("returned (loss, tuple of 4") for r in report.results)
    assert "s0-small-float64-labels" in [r.case.id for r in report.failures()]


def test_wrong_signature_is_reported_before_any_case():
    calls = []

    def fn(params, x, y):
        calls.append(1)
        return U.textbook(params, x, y)

    with pytest.raises(ImplementationError, match="say signature='params'"):
        st.check_implementation(fn, signature="arrays", **SMALL)
    assert not calls


def test_wrong_shape_and_python_float_in_float32_are_failures_with_messages():
    report = st.check_implementation(U.transposed_dW2, seeds=[0], shapes=["small"], dtypes=["float32"], targets=["labels"])
    assert not report.ok and "shape: got (3, 5), expected (5, 3)" in report.failure_message()
    report = st.check_implementation(lambda p, x, y: (float(U.textbook(p, x, y)[0]), U.textbook(p, x, y)[1]),
                                     seeds=[0], shapes=["small"], dtypes=["float32"], targets=["labels"])
    assert not report.ok
    assert "a Python float or float64 loss in a float32 case" in report.failure_message()


def test_declared_subset_is_checked_on_exactly_that():
    report = st.check_implementation(U.textbook, seeds=[3], shapes=["c10"], dtypes=("float64",), targets=("labels",))
    assert [r.case.id for r in report.results] == ["s3-c10-float64-labels"]


def test_exceptions_and_side_effects_are_failures_not_crashes():
    report = st.check_implementation(U.raises_on_c1, seeds=[0], shapes=["small", "c1"], dtypes=["float64"], targets=["labels"])
    assert not report.ok and [r.case.shape for r in report.failures()] == ["c1"]
    assert "raised ValueError: C must be >= 2" in report.failure_message()
    report = st.check_implementation(U.modifies_x, **SMALL)
    assert not report.ok and "modified its input x in place" in report.failure_message()


def test_assert_implementation_message_lists_quantity_error_case_worst_element_and_diagnosis():
    def bad(p, x, y):
        L, g = U.textbook(p, x, y)
        return L, {**g, "db1": g["db1"] / x.shape[0]}

    with pytest.raises(AssertionError) as info:
        st.assert_implementation(bad, **SMALL)
    msg = str(info.value)
    for part in ("db1: failed on", "relative error 0.75 > 1e-10", "seed 0, shape small (N=4, D=3, H=5, C=3), float64, labels",
                 "worst element db1[", "got ", "expected ", "matches pitfall `bias_gradient_by_mean`"):
        assert part in msg, (part, msg)
    assert st.assert_implementation(U.textbook, **SMALL).ok


def test_report_json_holds_every_case_and_quantity():
    report = st.check_implementation(U.doubled, **SMALL)
    data = json.loads(report.to_json())
    assert data["passed"] is False and data["n_cases"] == len(report.results) == 4
    q = data["cases"][0]["quantities"]
    assert q["dz1"] == {"status": "not checked", "reason": "not returned"}
    assert {"max_abs", "max_rel", "rtol", "passed", "worst_index", "worst_got", "worst_ref"} <= set(q["dW1"])
    assert data["diagnosis"] and data["diagnosis"][0]["kind"] in {"pitfall", "signature"}


@pytest.mark.parametrize("reference", ["torch", "jax", "numeric"])
def test_any_oracle_can_be_the_reference(reference):
    report = st.check_implementation(U.textbook, seeds=[0], shapes=["small"], dtypes=["float64", "float32"],
                                     targets=["labels"], reference=reference, blind_spots=False)
    assert report.ok and report.reference == reference, report.failure_message()


def test_cases_are_parametrize_ready_and_deterministic():
    a, b = st.cases(seeds=[1], shapes=["seed", "confident", "huge", (2, 3, 4, 5)]), st.cases(
        seeds=[1], shapes=["seed", "confident", "huge", (2, 3, 4, 5)])
    ids = [str(c) for c in a]
    assert len(set(ids)) == len(ids) and "s1-N2D3H4C5-float32-soft" in ids
    assert not any("confident" in i and ("soft" in i or "unnormalized" in i) for i in ids)
    assert all(np.array_equal(u.x, v.x) and np.array_equal(u.params.W1, v.params.W1) for u, v in zip(a, b))
    assert all(np.any(c.params.b1 != 0) and np.any(c.params.b2 != 0) for c in a)


@pytest.mark.parametrize("case", st.cases(seeds=[0], shapes=["small", "c10"], dtypes=["float64"]), ids=str)
def test_documented_user_pattern(case):
    """The pattern the README gives for a user's own test file."""
    st.assert_case(U.textbook, case)


def test_assert_case_fails_with_the_kit_message():
    case = st.cases(seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"])[0]
    with pytest.raises(AssertionError, match="no known pitfall matches dW2"):
        st.assert_case(U.column_sign, case)


def test_deterministic_nan_results_are_not_called_stateful():
    from scratch.pitfalls import PITFALLS

    report = st.check_implementation(PITFALLS["softmax_without_max_shift"].faulty, seeds=[0], shapes=["huge"],
                                     dtypes=["float64"], targets=["labels"], blind_spots=False)
    assert not report.ok and not any(r.problems for r in report.results)
    assert report.results[0].repeat_ratio is None


def test_state_kept_between_calls_is_found_by_the_repeat_call():
    from scratch.pitfalls import AccumulatingGradients

    report = st.check_implementation(AccumulatingGradients(), seeds=[0], shapes=["small"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    assert "second dW1 = 2 x the first" in report.failure_message() or "= 2 x the first" in report.failure_message()
    assert report.diagnosis[0].pitfall == "accumulating_gradients"


def test_workspace_views_overwritten_by_the_next_call_are_kept_per_case():
    """scratch's own fast path returns views of its buffers: the kit keeps a copy of each result."""
    workspaces = {}

    def fast(p, x, y):
        key = (x.shape, p.W2.shape, x.dtype)
        ws = workspaces.setdefault(key, scratch.Workspace(*x.shape, *p.W2.shape, dtype=x.dtype))
        return scratch.loss_and_grads(p, x, y, workspace=ws)

    report = st.check_implementation(fast, seeds=[0, 1, 2], shapes=["small", "c10"], blind_spots=False)
    assert report.ok, report.failure_message()
    a, b = report.results[0], report.results[1]
    assert a.case.dims == b.case.dims and not np.array_equal(a.got["dW1"], b.got["dW1"])
