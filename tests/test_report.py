"""The report's words, table and JSON pinned (issue 21: the mutmut survivors of scratch/testing.py).

A report is read by people and parsed by autograders, so its text and its JSON are part of the
verdict.  Each test plants one known mistake (``dW1`` doubled, an exception, a write into an
input), works out by hand what the report must say about it, and compares: the counts, the
relative error (for ``2 g`` against ``g`` it is exactly ``max|g| / (2 max|g|) = 0.5``), the
worst element (where ``|got - ref|`` is largest, i.e. where ``|g|`` is), the case named first,
the table's cells and every JSON field.  Expected values come from the planted mistake and the
definitions in the docstrings, never from the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import scratch.testing as st
from scratch.adapter import NOTE_BIAS_ROWS
from scratch.compare import QUANTITIES
from scratch.diagnosis import BlindSpot, Finding
from scratch.network import loss_and_grads
from scratch.spec import SEED, NetworkSpec
from scratch.tolerances import FLOAT64_ORACLE_RTOL

SWEEP = dict(seeds=[0, 1], shapes=["small"], dtypes=["float64", "float32"], targets=["labels"])
HEADERS = ["quantity", "dtype", "cases", "worst rel err", "tolerance", "err/tol", "status"]
SMALL_0 = "seed 0, shape small (N=4, D=3, H=5, C=3), float64, labels"
SMALL_0_F32 = "seed 0, shape small (N=4, D=3, H=5, C=3), float32, labels"


def scratch_grads(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, g._asdict()


def doubled_dW1(params, x, y):
    """dW1 = 2 x the truth on every case; everything else scratch's own."""
    L, g = scratch_grads(params, x, y)
    g["dW1"] = 2 * g["dW1"]
    return L, g


def without_dz(params, x, y):
    """Correct, but dz1 and dz2 (optional) left out."""
    L, g = scratch_grads(params, x, y)
    del g["dz1"], g["dz2"]
    return L, g


def raises_in_float32(params, x, y):
    if x.dtype == np.float32:
        raise ValueError("float32 is not supported")
    return scratch_grads(params, x, y)


RAISED = (f"raised ValueError: float32 is not supported "
          f"(at tests/test_report.py:{raises_in_float32.__code__.co_firstlineno + 2})")


def report_of(fn, name="impl", **kw):
    return st.check_implementation(fn, name=name, blind_spots=kw.pop("blind_spots", False), **(SWEEP | kw))


def table(text):
    """The summary's table as {(quantity, dtype): [cells...]}, read by splitting on 2+ spaces."""
    import re

    lines = text.splitlines()
    start = next(i for i, t in enumerate(lines) if t.startswith("quantity  "))
    assert re.split(r"\s{2,}", lines[start]) == HEADERS
    rows = {}
    for t in lines[start + 1:]:
        if not t:
            break
        cells = re.split(r"\s{2,}", t)
        rows[cells[0], cells[1]] = cells[2:]
    return rows


@pytest.fixture(scope="module")
def doubled():
    return report_of(doubled_dW1)


# --------------------------------------------------------------------------------------------
# The header and the table
# --------------------------------------------------------------------------------------------


def test_header_names_the_implementation_reference_network_count_and_sweep(doubled):
    assert doubled.summary().splitlines()[0] == (
        "impl against scratch for tanh, reduction mean, no L2 (the seed network) on 4 case(s) "
        "[seeds 0 1, shapes small, dtypes float64 float32, targets labels]: 4 failed")


def test_header_of_a_pass_says_all_passed():
    report = report_of(scratch_grads, seeds=[3], dtypes=["float64"])
    assert report.ok
    assert report.summary().splitlines()[0].endswith("on 1 case(s) [seeds 3, shapes small, dtypes float64, targets labels]: all passed")


def test_the_table_has_one_row_per_quantity_and_dtype_in_order(doubled):
    text = doubled.summary()
    assert list(table(text)) == [(q, d) for d in ("float64", "float32") for q in QUANTITIES]


def test_the_failing_row_shows_the_worst_error_tolerance_ratio_and_count(doubled):
    rtol = FLOAT64_ORACLE_RTOL
    row = table(doubled.summary())["dW1", "float64"]
    assert row == ["2", "0.5", f"{rtol:.2g}", f"{0.5 / rtol:.2g}", "FAIL (2 of 2)"]


def test_a_quantity_equal_to_the_reference_shows_zero_error(doubled):
    """The float64 loss is scratch's own: error 0, printed as 0 (not 0e+00), status pass."""
    rtol = FLOAT64_ORACLE_RTOL
    assert table(doubled.summary())["loss", "float64"] == ["2", "0", f"{rtol:.2g}", "0", "pass"]


def test_float32_rows_show_the_range_of_per_case_tolerances():
    """Two shapes give two float32 tolerances: the cell is ``min..max``, each to 2 digits."""
    report = report_of(doubled_dW1, shapes=["small", "n1"], dtypes=["float32"])
    rtols = sorted({r.rtol for r in report.results})
    assert len(rtols) == 2, rtols
    worst = max(r.checks["dW1"].max_rel for r in report.results)
    assert abs(worst - 0.5) < 1e-6  # float32 rounding of a doubled gradient: 0.5 to float32 precision
    ratio = max(r.checks["dW1"].max_rel / r.rtol for r in report.results)
    assert table(report.summary())["dW1", "float32"] == [
        "4", f"{worst:.2g}", f"{rtols[0]:.2g}..{rtols[1]:.2g}", f"{ratio:.2g}", "FAIL (4 of 4)"]


def test_summary_rows_hold_the_numbers_behind_the_table(doubled):
    rtol = FLOAT64_ORACLE_RTOL
    rows = {(s["quantity"], s["dtype"]): s for s in doubled.summary_rows()}
    assert rows["dW1", "float64"] == {"quantity": "dW1", "dtype": "float64", "cases": 2, "failed": 2, "max_rel": 0.5,
                                      "max_abs": rows["dW1", "float64"]["max_abs"], "worst_ratio": 0.5 / rtol,
                                      "rtol_min": rtol, "rtol_max": rtol, "status": "FAIL (2 of 2)"}
    # max_abs: the largest |2g - g| = max|g| over the two cases
    truth = [loss_and_grads(r.case.params, r.case.x, r.case.y)[1].dW1 for r in doubled.results if r.case.dtype == "float64"]
    assert rows["dW1", "float64"]["max_abs"] == max(float(np.max(np.abs(g))) for g in truth)
    assert rows["db1", "float64"]["failed"] == 0 and rows["db1", "float64"]["status"] == "pass"
    assert rows["loss", "float64"]["max_rel"] == 0.0 and rows["loss", "float64"]["worst_ratio"] == 0.0


def test_quantities_not_returned_and_not_computed_have_their_own_rows():
    """dz1/dz2 left out: 'not checked (not returned)'; no result at all (an exception): the
    required quantities say 'not checked (no result)'."""
    text = report_of(without_dz).summary()
    rows = table(text)
    assert rows["dz1", "float64"] == ["0", "-", "-", "-", "not checked (not returned)"]
    assert rows["dz2", "float32"] == ["0", "-", "-", "-", "not checked (not returned)"]
    rows = table(report_of(raises_in_float32).summary())
    assert rows["dW1", "float32"] == ["0", "-", "-", "-", "not checked (no result)"]
    assert rows["dz1", "float32"] == ["0", "-", "-", "-", "not checked (not returned)"]
    assert rows["dW1", "float64"][-1] == "pass"


def test_an_infinite_error_prints_as_inf():
    def nan_db2(params, x, y):
        L, g = scratch_grads(params, x, y)
        g["db2"] = np.full_like(g["db2"], np.nan)
        return L, g

    row = table(report_of(nan_db2, dtypes=["float64"]).summary())["db2", "float64"]
    assert row[1] == "inf" and row[3] == "inf" and row[4] == "FAIL (2 of 2)"


# --------------------------------------------------------------------------------------------
# Failures, diagnosis, notes, blind spots, printed output
# --------------------------------------------------------------------------------------------


def test_the_failure_line_names_the_count_first_case_problem_and_worst_element(doubled):
    first = doubled.results[0]
    assert first.case.describe() == SMALL_0
    g = loss_and_grads(first.case.params, first.case.x, first.case.y)[1].dW1
    i, j = np.unravel_index(np.argmax(np.abs(g)), g.shape)  # |2g - g| = |g| is largest where |g| is
    rtol = FLOAT64_ORACLE_RTOL
    line = (f"  dW1: failed on 4 of 4 case(s); first, {SMALL_0}: value: relative error 0.5 > {rtol:.3g}; "
            f"worst element dW1[{i}, {j}]: got {2 * g[i, j]:.6g}, expected {g[i, j]:.6g}")
    lines = doubled.summary().splitlines()
    assert lines[lines.index("Failures:") + 1] == line
    assert [t for t in lines if t.startswith("  d") and "failed on" in t] == [line]  # only dW1 fails


def test_the_loss_worst_element_has_no_index():
    def off_loss(params, x, y):
        L, g = scratch_grads(params, x, y)
        return 2 * L, g

    report = report_of(off_loss, dtypes=["float64"])
    L = loss_and_grads(report.results[0].case.params, report.results[0].case.x, report.results[0].case.y)[0]
    line = next(t for t in report.summary().splitlines() if t.startswith("  loss: failed on"))
    assert line.endswith(f"; worst element loss: got {2 * L:.6g}, expected {L:.6g}")
    assert "failed on 2 of 2 case(s)" in line


def test_exceptions_are_counted_and_the_first_is_quoted():
    report = report_of(raises_in_float32)
    lines = report.summary().splitlines()
    assert lines[lines.index("Failures:") + 1] == (
        f"  no result on 2 case(s); first, {SMALL_0_F32}: {RAISED}")
    assert report.summary().splitlines()[0].endswith(": 2 failed")


def test_problems_are_counted_and_the_first_case_named():
    def writes_x(params, x, y):
        out = scratch_grads(params, x, y)
        x[0, 0] += 1.0
        return out

    report = report_of(writes_x, dtypes=["float64"])
    lines = report.summary().splitlines()
    line = lines[lines.index("Failures:") + 1]
    assert line.startswith("  on 2 case(s): ") and line.endswith(f" (first: {SMALL_0})")
    assert "modified its input x in place" in line


def test_the_diagnosis_follows_the_failures(doubled):
    lines = doubled.summary().splitlines()
    k = lines.index("Diagnosis:")
    assert lines[k - 1] == "" and lines[k + 1:k + 1 + len(doubled.diagnosis)] == [f"  {d}" for d in doubled.diagnosis]
    assert doubled.diagnosis and "dW1 is twice the truth" in str(doubled.diagnosis[0])


def test_notes_are_listed_once_each_in_order_of_first_use():
    def bias_rows(params, x, y):
        L, g = scratch_grads(params, x, y)
        g["db1"], g["db2"] = g["db1"][None, :], g["db2"][None, :]
        return L, g

    report = report_of(bias_rows)
    assert report.ok and report.notes == [NOTE_BIAS_ROWS]
    lines = report.summary().splitlines()
    k = lines.index("Notes (conventions accepted):")
    assert lines[k - 1] == "" and lines[k + 1] == f"  {NOTE_BIAS_ROWS}" and NOTE_BIAS_ROWS not in "".join(lines[k + 2:])
    assert report.failure_message().splitlines()[1:] == ["", "Notes (conventions accepted):", f"  {NOTE_BIAS_ROWS}"]


def test_a_passing_report_with_a_diagnosis_shows_it_under_notes():
    """A reference that lost digits and was re-judged: the report passes and says why."""
    report = report_of(scratch_grads, dtypes=["float64"])
    report.diagnosis = [Finding(("dz2",), "reference", "the reference lost digits")]
    lines = report.summary().splitlines()
    assert lines[-2:] == ["Notes:", "  the reference lost digits"] and lines[-3] == ""
    assert "Diagnosis:" not in lines and "Failures:" not in lines


def test_blind_spots_in_the_header_and_below():
    report = report_of(scratch_grads, dtypes=["float64"], blind_spots=True)
    n = len(report.blind_spots)
    assert n >= 1 and all(isinstance(b, BlindSpot) for b in report.blind_spots)
    lines = report.summary().splitlines()
    assert lines[0].endswith(f": all passed; {n} known mistake(s) this sweep cannot reveal (blind spots below)")
    k = next(i for i, t in enumerate(lines) if t.startswith("Blind spots: "))
    assert lines[k] == ("Blind spots: this sweep could not reveal these known mistakes (a pass here says nothing "
                        "about them; add the shapes, dtypes and targets named to the sweep to cover them):")
    assert lines[k + 1:k + 1 + n] == [f"  {b}" for b in report.blind_spots]
    b = report.blind_spots[0]
    assert str(b) == f"`{b.pitfall}` ({b.title}): {b.why}; it shows on {b.shows_on}"


def test_printed_output_and_the_log_are_shown_last():
    report = report_of(scratch_grads, dtypes=["float64"])
    report.output, report.log = ["hello", "epoch 1"], "/tmp/log.txt"
    assert report.summary().splitlines()[-4:] == [
        "", "The implementation printed (all of it in /tmp/log.txt); its first lines:", "  | hello", "  | epoch 1"]
    report.log = None
    assert report.summary().splitlines()[-3] == "The implementation printed; its first lines:"


def test_the_identification_sentence_comes_first():
    report = report_of(scratch_grads, dtypes=["float64"])
    report.identification = {"sentence": "This is the ReLU network."}
    assert report.summary().splitlines()[:2] == ["This is the ReLU network.", ""]
    assert report.failure_message().splitlines()[0] == "This is the ReLU network."
    assert json.loads(report.to_json())["identification"] == {"sentence": "This is the ReLU network."}


def test_the_failure_message_is_the_summary_without_the_table(doubled):
    msg = doubled.failure_message().splitlines()
    assert msg[0] == doubled.summary().splitlines()[0]
    assert not any(t.startswith("quantity  ") for t in msg)
    assert msg[1:] == doubled._failure_lines()
    with pytest.raises(AssertionError) as info:
        st.assert_implementation(doubled_dW1, name="impl", blind_spots=False, **SWEEP)
    assert str(info.value) == doubled.failure_message()


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def test_json_top_level(doubled):
    data = json.loads(doubled.to_json())
    assert data["implementation"] == "impl" and data["reference"] == "scratch" and data["signature"] == "params"
    assert data["sweep"] == {"seeds": [0, 1], "shapes": ["small"], "dtypes": ["float64", "float32"], "targets": ["labels"]}
    assert data["network"] == [SEED.as_dict()] and data["network_described"] == [SEED.describe()]
    assert data["notes"] == [] and "identification" not in data
    assert data["passed"] is False and data["n_cases"] == 4 and data["n_failed"] == 4 and data["not_returned"] == []
    assert data["summary"] == doubled.summary_rows()
    assert data["diagnosis"] == [d.as_dict() for d in doubled.diagnosis] and data["diagnosis"][0]["quantities"] == ["dW1"]
    assert data["blind_spots"] == [] and data["output"] == {"first_lines": [], "log": None}
    assert len(data["cases"]) == 4
    assert json.loads(doubled.to_json(indent=None)) == data and "\n" not in doubled.to_json(indent=None)
    assert doubled.to_json().startswith('{\n  "implementation"')  # indent 2 by default


def test_json_case(doubled):
    case = json.loads(doubled.to_json())["cases"][0]
    rtol = FLOAT64_ORACLE_RTOL
    assert {k: case[k] for k in ("id", "seed", "shape", "dims", "dtype", "target", "network", "rtol", "passed",
                                 "error", "problems", "ended")} == {
        "id": "s0-small-float64-labels", "seed": 0, "shape": "small", "dims": [4, 3, 5, 3], "dtype": "float64",
        "target": "labels", "network": SEED.as_dict(), "rtol": rtol, "passed": False, "error": None, "problems": [],
        "ended": None}
    q = case["quantities"]
    assert list(q) == list(QUANTITIES)
    assert q["dW1"]["status"] == "fail" and q["dW1"]["passed"] is False and q["dW1"]["max_rel"] == 0.5
    assert q["dW1"]["quantity"] == "dW1" and q["dW1"]["rtol"] == rtol and q["dW1"]["problem"].startswith("value: ")
    assert q["db1"]["status"] == "pass" and q["db1"]["passed"] is True and q["db1"]["problem"] is None


def test_json_case_of_quantities_not_returned_and_of_an_exception():
    data = json.loads(report_of(without_dz).to_json())
    assert data["not_returned"] == ["dz1", "dz2"]
    q = data["cases"][0]["quantities"]
    assert q["dz1"] == {"status": "not checked", "reason": "not returned"} == q["dz2"]
    assert list(q) == [k for k in QUANTITIES]
    data = json.loads(report_of(raises_in_float32).to_json())
    bad = data["cases"][2]
    assert bad["dtype"] == "float32" and bad["passed"] is False
    assert bad["error"] == RAISED and bad["quantities"] == {}
    assert data["n_failed"] == 2 and data["cases"][0]["passed"] is True


def test_non_finite_numbers_are_strings_in_json():
    def inf_loss(params, x, y):
        _, g = scratch_grads(params, x, y)
        return float("inf"), g

    data = json.loads(report_of(inf_loss, dtypes=["float64"]).to_json())
    assert data["cases"][0]["quantities"]["loss"]["max_rel"] == "inf"
    assert data["summary"][0]["worst_ratio"] == "inf"


# --------------------------------------------------------------------------------------------
# Names, the sweep's description, CaseResult
# --------------------------------------------------------------------------------------------


class CallableThing:
    def __call__(self, params, x, y):
        return scratch_grads(params, x, y)


def test_default_names():
    """module:qualname; the bare qualname for __main__; a callable object by its type's name."""
    assert report_of(doubled_dW1, name=None).implementation == f"{__name__}:doubled_dW1"
    thing = CallableThing()
    assert report_of(thing, name=None, dtypes=["float64"]).implementation == f"{__name__}:CallableThing"
    fn = lambda params, x, y: scratch_grads(params, x, y)  # noqa: E731
    fn.__module__ = "__main__"
    assert report_of(fn, name=None, dtypes=["float64"]).implementation == "test_default_names.<locals>.<lambda>"
    fn.__module__ = None
    assert report_of(fn, name=None, dtypes=["float64"]).implementation == "test_default_names.<locals>.<lambda>"


def test_a_callable_reference_is_named_and_a_string_reference_kept():
    report = st.check_implementation(scratch_grads, reference="numeric", blind_spots=False,
                                     seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"])
    assert report.reference == "numeric"
    results = st.run_cases(scratch_grads, st.cases([0], ["small"], ["float64"], ["labels"]), reference=loss_and_grads)
    report = st.make_report(results, scratch_grads, loss_and_grads, "params", sweep_desc={}, blind_spots=False)
    assert report.reference == "scratch.network:loss_and_grads" and report.implementation == f"{__name__}:scratch_grads"


def test_the_sweep_description_lists_each_shape_once_and_dtype_names():
    report = st.check_implementation(scratch_grads, seeds=[0], shapes=["small", "n1", "small"], dtypes=[np.float64],
                                     targets=["labels"], blind_spots=False)
    assert report.sweep == {"seeds": [0], "shapes": ["small", "n1"], "dtypes": ["float64"], "targets": ["labels"]}


def test_an_empty_sweep_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^the sweep is empty: give at least one seed, shape, dtype and target kind "
                                         r"\(the 'confident' shape has labels and onehot targets only\)$"):
        st.check_implementation(scratch_grads, seeds=[], blind_spots=False)


def test_networks_are_listed_once_each():
    relu = NetworkSpec(activation="relu")
    results = [*st.run_cases(scratch_grads, st.cases([0, 1], ["small"], ["float64"], ["labels"])),
               *st.run_cases(scratch_grads, st.cases([0], ["small"], ["float64"], ["labels"], spec=relu))]
    report = st.make_report(results, scratch_grads, "scratch", "params", sweep_desc={}, blind_spots=False)
    assert report.networks == [SEED, relu]
    assert report.summary().splitlines()[0].startswith(
        f"{__name__}:scratch_grads against scratch for {SEED.describe()}; {relu.describe()} on 3 case(s)")


def test_case_result_failed_lists_quantities_in_order(doubled):
    def two_wrong(params, x, y):
        L, g = scratch_grads(params, x, y)
        g["db1"], g["dz2"] = 3 * g["db1"], 3 * g["dz2"]
        return L, g

    r = report_of(two_wrong, dtypes=["float64"]).results[0]
    assert r.failed() == ["dz2", "db1"] and not r.ok
    assert doubled.results[0].failed() == ["dW1"]
    ok = report_of(scratch_grads, dtypes=["float64"]).results[0]
    assert ok.ok and ok.failed() == []
