"""scratch.testing pinned against one-line bugs (issue 21): each test fails on a mutmut survivor.

``assert_case``'s message and traceback, ``check_implementation``'s name, output and log for a
target, an open worker and a callable, the worker's defaults and limits (``_open_worker``), and
``_compare``'s zero-truth floor (bound to the case's network) and its float32-loss hint.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import scratch.testing as st
import user_impls as U
from scratch import NetworkSpec
from scratch.adapter import ImplementationError
from scratch.compare import zero_truth_floor
from scratch.network import loss_and_grads
from scratch.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Isolated

IMPLS = Path(__file__).resolve().parent / "user_impls.py"
ONE = dict(seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"], blind_spots=False)


def small_case(dtype="float64"):
    return st.cases([0], ["small"], [dtype], ["labels"])[0]


# --------------------------------------------------------------------------------------------
# assert_case
# --------------------------------------------------------------------------------------------


def test_assert_case_returns_the_passing_result():
    case = small_case()
    result = st.assert_case(U.textbook, case)
    assert isinstance(result, st.CaseResult) and result.ok and result.case is case


def test_assert_case_passes_its_options_on():
    case = small_case()
    assert st.assert_case(U.textbook_arrays, case, signature="arrays").ok
    with pytest.raises(ImplementationError, match="signature"):
        st.assert_case(U.textbook_arrays, case)


@pytest.mark.parametrize("reference", [None, "numeric"])
def test_assert_case_message_is_the_one_case_report(reference):
    case = small_case()
    kwargs = {} if reference is None else {"reference": reference}
    with pytest.raises(AssertionError) as info:
        st.assert_case(U.column_sign, case, **kwargs)
    lines = str(info.value).splitlines()
    assert lines[0] == (f"user_impls:column_sign against {reference or 'scratch'} for {NetworkSpec().describe()} "
                        f"on 1 case(s) [cases {case.id}]: 1 failed")
    assert lines[1:3] == ["", "Failures:"]
    assert any(ln.startswith("  dW2: failed on 1 of 1 case(s); first, seed 0") for ln in lines)
    assert "Blind spots" not in str(info.value)


def test_assert_case_hides_its_own_frame_from_the_traceback():
    with pytest.raises(AssertionError) as info:
        st.assert_case(U.column_sign, small_case())
    def kit(entries):  # the kit's frames (under mutmut the function runs as x_assert_case__mutmut_...)
        return [e.name for e in entries if "assert_case" in e.name and not e.name.startswith("test_")]

    assert kit(info.traceback) and not kit(info.traceback.filter(info))


def test_assert_implementation_hides_its_own_frame_too():
    with pytest.raises(AssertionError) as info:
        st.assert_implementation(U.column_sign, **ONE)
    names = [e.name for e in info.traceback.filter(info) if not e.name.startswith("test_")]
    assert not [n for n in names if "assert_implementation" in n]


# --------------------------------------------------------------------------------------------
# check_implementation: names, output and log
# --------------------------------------------------------------------------------------------


@pytest.fixture
def printing(tmp_path):
    path = tmp_path / "printing_impl.py"
    path.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(IMPLS.parent)!r})
        from user_impls import textbook

        def net(params, x, y):
            print("hello from the net")
            return textbook(params, x, y)
        """))
    return f"{path}:net"


def test_a_target_is_named_by_itself_and_its_prints_come_back(printing, tmp_path):
    log = tmp_path / "log.txt"
    report = st.check_implementation(printing, log=log, **ONE)
    assert report.ok, report.failure_message()
    assert report.implementation == printing
    assert report.output and report.output[0] == "hello from the net"
    assert report.log == str(log) and "hello from the net" in log.read_text()
    report = st.check_implementation(printing, **ONE)
    assert report.log is None and report.output[0] == "hello from the net"
    assert st.check_implementation(printing, name="mine", **ONE).implementation == "mine"


def test_a_target_run_in_process_keeps_its_name_and_has_no_log(tmp_path):
    target = f"{IMPLS}:textbook"
    report = st.check_implementation(target, isolate=False, **ONE)
    assert report.ok and report.implementation == target
    assert report.output == [] and report.log is None


def test_an_open_worker_is_named_by_its_target_with_its_log(printing, tmp_path):
    with Isolated(printing, "params", log=tmp_path / "w.txt") as worker:
        worker.start()
        report = st.check_implementation(worker, **ONE)
        named = st.check_implementation(worker, name="given", **ONE)
    assert report.ok and report.implementation == printing and named.implementation == "given"
    assert report.log == str(tmp_path / "w.txt") and report.output[0] == "hello from the net"


def test_a_callable_is_named_module_qualname_with_no_output():
    report = st.check_implementation(U.textbook, **ONE)
    assert report.implementation == "user_impls:textbook" and report.output == [] and report.log is None


def test_the_spec_may_be_a_mapping():
    report = st.check_implementation(lambda p, x, y: loss_and_grads(p, x, y, spec=NetworkSpec("relu")),
                                     spec={"activation": "relu"}, **ONE)
    assert report.ok and report.networks == [NetworkSpec("relu")]


# --------------------------------------------------------------------------------------------
# _open_worker: defaults, limits, an unusable target
# --------------------------------------------------------------------------------------------


def test_the_worker_defaults_and_the_limits_given():
    target = f"{IMPLS}:textbook"
    with st._open_worker(target, "params", None, None, None) as w:
        assert (w.timeout, w.memory, w.target, w.signature) == (DEFAULT_TIMEOUT, DEFAULT_MEMORY_MB, target, "params")
    with st._open_worker(f"{IMPLS}:textbook_arrays", "arrays", 3.5, 700, None) as w:
        assert (w.timeout, w.memory, w.signature) == (3.5, 700, "arrays")


def test_a_timeout_given_is_the_calls_limit(tmp_path):
    path = tmp_path / "slow_impl.py"
    path.write_text("import time\n\ndef net(params, x, y):\n    time.sleep(30)\n")
    report = st.check_implementation(f"{path}:net", timeout=0.5, **ONE)
    assert not report.ok and "0.5" in report.results[0].error, report.results[0].error


def test_an_unusable_target_is_an_implementation_error_and_no_worker_is_left(tmp_path):
    import multiprocessing

    path = tmp_path / "none_impl.py"
    path.write_text("x = 1\n")
    with pytest.raises(ImplementationError, match="net"):
        st._open_worker(f"{path}:net", "params", None, None, None)
    with pytest.raises(ImplementationError, match="net"):
        st.check_implementation(f"{path}:net", **ONE)
    assert multiprocessing.active_children() == []


# --------------------------------------------------------------------------------------------
# _compare: the zero-truth floor of the case's network, the float32-loss hint
# --------------------------------------------------------------------------------------------


def c1_outputs(case, loss):
    L, g = loss_and_grads(case.params, case.x, case.y, spec=case.spec)
    assert L == 0.0  # C = 1: the truth is exactly 0
    return {"loss": np.asarray(loss, case.x.dtype), **{q: getattr(g, q) for q in ("dW1", "db1", "dW2", "db2")}}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_zero_loss_is_judged_on_the_scale_of_the_cases_network(reduction):
    spec = NetworkSpec(reduction=reduction)
    case = st.cases([0], ["c1"], ["float64"], ["labels"], spec=spec)[0]
    floor = zero_truth_floor(case.params, case.x, case.y, spec)
    assert floor == zero_truth_floor(case.params, case.x, case.y, NetworkSpec()) * (8 if reduction == "sum" else 1)
    rtol = st.check_outputs(case, c1_outputs(case, 0.0)).rtol
    inside = st.check_outputs(case, c1_outputs(case, 0.5 * rtol * floor))
    outside = st.check_outputs(case, c1_outputs(case, 2.0 * rtol * floor))
    assert inside.checks["loss"].passed and inside.checks["loss"].max_rel == pytest.approx(0.5 * rtol)
    assert not outside.checks["loss"].passed
    assert st.check_outputs(case, c1_outputs(case, 0.0)).checks["loss"].max_rel == 0.0


def test_a_zero_loss_floor_only_for_the_loss():
    case = st.cases([0], ["c1"], ["float64"], ["labels"])[0]
    out = c1_outputs(case, 0.0)
    assert not np.any(out["db2"])  # C = 1: db2 is exactly 0 too, but judged with no floor
    tiny = {**out, "db2": out["db2"] + 1e-300}
    assert not st.check_outputs(case, tiny).checks["db2"].passed


def test_a_nonzero_loss_truth_has_no_floor():
    case = small_case()
    L, g = loss_and_grads(case.params, case.x, case.y)
    r = st.check_outputs(case, {"loss": L * (1 + 1e-6), **{q: getattr(g, q) for q in ("dW1", "db1", "dW2", "db2")}})
    assert not r.checks["loss"].passed and r.checks["loss"].max_rel == pytest.approx(1e-6, rel=1e-5)


HINT = (" (a Python float or float64 loss in a float32 case: return the loss in the inputs' dtype, "
        "e.g. x.dtype.type(loss))")


def test_a_float64_loss_in_a_float32_case_gets_the_hint():
    case = small_case("float32")
    L, g = loss_and_grads(case.params, case.x, case.y)
    grads = {q: getattr(g, q) for q in ("dW1", "db1", "dW2", "db2")}
    c = st.check_outputs(case, {"loss": np.float64(L), **grads}).checks["loss"]
    assert not c.passed and c.problem.startswith("dtype") and c.problem.endswith(HINT)
    assert c.problem.count(HINT) == 1
    ok = st.check_outputs(case, {"loss": L, **grads}).checks["loss"]
    assert ok.passed
    # only the loss, only float64: a float64 gradient or a float16 loss gets the plain message
    d = st.check_outputs(case, {"loss": L, **{**grads, "dW1": grads["dW1"].astype(np.float64)}}).checks["dW1"]
    assert not d.passed and HINT not in d.problem
    h = st.check_outputs(case, {"loss": np.float16(L), **grads}).checks["loss"]
    assert not h.passed and HINT not in h.problem
    f64 = st.check_outputs(small_case(), {"loss": np.float32(1.0), **grads}).checks["loss"]
    assert HINT not in f64.problem


# --------------------------------------------------------------------------------------------
# get_reference: the names, the numeric method, the member bound
# --------------------------------------------------------------------------------------------


def test_an_unknown_reference_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        st.get_reference("tensorflow")
    assert str(err.value) == f"reference must be one of {', '.join(st.REFERENCES)}, got 'tensorflow'"


@pytest.mark.parametrize("name", ["numeric", "torch"])
def test_an_oracle_reference_is_bound_to_the_member(name):
    spec = NetworkSpec("relu", reduction="sum")
    ref = st.get_reference(name, spec)
    assert ref.keywords == ({"method": "complex", "spec": spec} if name == "numeric" else {"spec": spec})


# --------------------------------------------------------------------------------------------
# run_cases and check_implementation in a worker: every option reaches it
# --------------------------------------------------------------------------------------------


@pytest.fixture
def arrays_target(tmp_path):
    """A submission with the arrays signature that prints, and writes its process id."""
    path = tmp_path / "arrays_impl.py"
    path.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(IMPLS.parent)!r})
        from user_impls import textbook_arrays

        def net(W1, b1, W2, b2, x, y):
            print("arrays here")
            with open({str(tmp_path / "pid")!r}, "w") as f:
                f.write(str(os.getpid()))
            return textbook_arrays(W1, b1, W2, b2, x, y)
        """))
    return f"{path}:net", tmp_path / "pid"


def test_run_cases_in_a_worker_gets_the_signature_cases_reference_progress_and_log(arrays_target, tmp_path):
    import os

    target, pidfile = arrays_target
    case_list = st.cases([0, 1], ["small"], ["float64"], ["labels"])
    seen = []

    def progress(it):
        seen.append(len(it))
        return it

    def off(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L * 2, g

    log = tmp_path / "log.txt"
    results = st.run_cases(target, case_list, signature="arrays", reference=off, progress=progress, log=log)
    assert [r.case for r in results] == case_list and seen == [2]
    assert all(r.error is None and r.failed() == ["loss"] for r in results), [r.error for r in results]
    assert "arrays here" in log.read_text()
    assert int(pidfile.read_text()) != os.getpid()  # a worker ran it
    report = st.check_implementation(target, signature="arrays", progress=progress, **ONE)
    assert report.ok and report.signature == "arrays" and seen == [2, 1]


def test_a_memory_limit_given_reaches_the_worker(tmp_path):
    path = tmp_path / "killed_impl.py"
    path.write_text("import os, signal\n\ndef net(params, x, y):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    for run in (lambda: st.run_cases(f"{path}:net", [small_case()], memory=700)[0],
                lambda: st.check_implementation(f"{path}:net", memory=700, **ONE).results[0]):
        assert "the address-space limit is 700 MiB" in run().error


def test_run_cases_timeout_is_the_calls_limit(tmp_path):
    path = tmp_path / "slow_impl.py"
    path.write_text("import time\n\ndef net(params, x, y):\n    time.sleep(30)\n")
    assert "0.5 s" in st.run_cases(f"{path}:net", [small_case()], timeout=0.5)[0].error


def test_isolate_true_runs_a_target_in_a_worker_and_refuses_a_callable(arrays_target):
    import os

    target, pidfile = arrays_target
    assert st.check_implementation(target, signature="arrays", isolate=True, **ONE).ok
    assert int(pidfile.read_text()) != os.getpid()
    assert st.check_implementation(target, signature="arrays", isolate=False, **ONE).ok
    assert int(pidfile.read_text()) == os.getpid()
    assert st.check_implementation(U.textbook, isolate=False, **ONE).ok
    for call in (lambda: st.check_implementation(U.textbook, isolate=True, **ONE),
                 lambda: st.run_cases(U.textbook, [small_case()], isolate=True)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == ("isolate=True needs the implementation as a target string ('package.module:function' "
                                  "or 'path/file.py:function'), not a function: a worker imports it itself")


# --------------------------------------------------------------------------------------------
# _run: what it cannot read
# --------------------------------------------------------------------------------------------


class Raising(dict):
    def __getitem__(self, key):
        raise RuntimeError("no such gradient today")


def test_a_return_value_that_raises_when_read_is_the_cases_error():
    def net(params, x, y):
        return 1.0, Raising(dW1=1, db1=1, dW2=1, db2=1)

    out, error, problems = st._run(net, "params", small_case())
    assert out is None and problems == []
    assert error == "returned a value the kit cannot read: RuntimeError: no such gradient today"


def test_arrays_that_are_not_numbers_are_the_cases_error():
    def net(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW1": g.dW1.astype("U3"), "db2": g.db2.astype("datetime64[s]")}

    out, error, _ = st._run(net, "params", small_case())
    assert out is None
    assert error == "dW1 has dtype <U3; db2 has dtype datetime64[s]: expected arrays of floating-point numbers"


# --------------------------------------------------------------------------------------------
# The report's text
# --------------------------------------------------------------------------------------------


def required_only(params, x, y):
    L, g = loss_and_grads(params, x, y)
    return L, {q: getattr(g, q) for q in ("dW1", "db1", "dW2", "db2")}


def test_a_quantity_not_returned_has_a_row_of_zeros():
    rows = st.check_implementation(required_only, **ONE).summary_rows()
    assert [r for r in rows if r["quantity"] in ("dz1", "dz2")] == [
        {"quantity": q, "dtype": "float64", "cases": 0, "failed": 0, "status": "not checked (not returned)"}
        for q in ("dz2", "dz1")]


def test_a_header_without_networks_names_none():
    report = st.Report("mine", "scratch", "params", {"seeds": [0, 1]}, [])
    assert report._header() == "mine against scratch on 0 case(s) [seeds 0 1]: all passed"


def test_the_summary_layout_header_blank_table_then_sections(capsys):
    passing = st.check_implementation(U.textbook, seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"])
    lines = passing.summary().split("\n")
    assert lines[0] == passing._header() and lines[1] == "" and lines[2].startswith("quantity")
    at = lines.index("Blind spots: this sweep could not reveal these known mistakes (a pass here says nothing about "
                     "them; add the shapes, dtypes and targets named to the sweep to cover them):")
    assert lines[at - 1] == ""
    assert "Notes:" not in lines and "Failures:" not in lines


def test_notes_of_a_passing_report_keep_the_table_and_a_failing_one_has_no_notes():
    def reference(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, g._replace(db1=g.db1 * (1 + 1e-6))

    passing = st.check_implementation(U.textbook, reference=reference, **ONE)
    assert passing.ok and [d.kind for d in passing.diagnosis] == ["reference"]
    lines = passing.summary().split("\n")
    assert lines[0] == passing._header() and lines[2].startswith("quantity")
    assert lines[lines.index("Notes:") - 1] == "" and lines[lines.index("Notes:") + 1] == f"  {passing.diagnosis[0]}"

    def doubled_dw1(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW1": 2 * g.dW1}

    failing = st.check_implementation(doubled_dw1, reference=reference, **ONE)
    assert not failing.ok and [d.kind for d in failing.diagnosis][0] == "reference" and len(failing.diagnosis) > 1
    text = failing.summary().split("\n")
    assert "Notes:" not in text and "Diagnosis:" in text


def test_every_input_written_is_named_in_one_line():
    def writes_two(params, x, y):
        out = loss_and_grads(params, x, y)
        params[0][0, 0] += 1.0
        x[0, 0] += 1.0
        return out[0], out[1]._asdict()

    report = st.check_implementation(writes_two, **ONE)
    assert "  on 1 case(s): modified its input W1 in place; modified its input x in place (first: " in report.summary()


def test_a_failure_without_a_worst_element_ends_at_its_problem():
    def transposed(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {**g._asdict(), "dW1": g.dW1.T}

    report = st.check_implementation(transposed, **ONE)
    c = report.results[0].checks["dW1"]
    assert c.worst_index is None
    line = next(ln for ln in report.summary().split("\n") if ln.startswith("  dW1: failed"))
    assert line.endswith(f": {c.problem}")


# --------------------------------------------------------------------------------------------
# check_case: a case without a result, values the comparison cannot take, the second call
# --------------------------------------------------------------------------------------------


def test_a_case_without_a_result_keeps_its_tolerance_error_and_problems():
    from scratch.tolerances import oracle_rtol

    case = small_case()

    def writes_then_returns_garbage(params, x, y):
        x[0, 0] += 1.0
        return "no gradients here"

    r = st.check_case(writes_then_returns_garbage, case)
    assert r.case is case and r.rtol == oracle_rtol(np.dtype(np.float64), case.dims)
    assert r.error and r.checks == {} and r.problems == ["modified its input x in place"] and r.ended is None


def test_a_worker_that_ended_is_said_so_on_the_case(tmp_path):
    path = tmp_path / "exits_impl.py"
    path.write_text("import os\n\ndef net(params, x, y):\n    os._exit(3)\n")
    with Isolated(f"{path}:net", "params") as w:
        r = st.check_case(w, small_case())
    assert r.ended == "exit" and "exit status 3" in r.error


def test_values_the_comparison_cannot_take_are_the_cases_error(monkeypatch):
    def cannot(case, got, ref, rtol):
        raise RuntimeError("x" * 300)

    monkeypatch.setattr(st, "_compare", cannot)
    case = small_case()

    def writes(params, x, y):
        out = U.textbook(params, x, y)
        y[0] += 1
        return out

    r = st.check_case(writes, case)
    assert r.case is case and r.rtol > 0 and r.checks == {}
    assert r.error == f"returned values the kit cannot compare (RuntimeError: {'x' * 200})"
    assert r.problems == ["modified its input y in place"]


class Accumulating:
    """Gradients added into buffers kept between calls (the gallery's accumulating_gradients)."""

    def __init__(self):
        self.acc = None

    def __call__(self, params, x, y):
        L, g = loss_and_grads(params, x, y)
        d = g._asdict()
        self.acc = d if self.acc is None else {q: self.acc[q] + d[q] for q in d}
        return L, dict(self.acc)


def test_the_second_call_names_every_quantity_that_changed_and_the_last_ones_ratio():
    r = st.check_case(Accumulating(), small_case(), repeat=True)
    assert r.problems == ["a second call on the same inputs returned different dz2, dW2, db2, dz1, dW1, db1 (second "
                          "db1 = 2 x the first: state kept between calls)"]
    assert r.repeat_ratio == pytest.approx(2.0, rel=1e-12)


def test_a_second_call_of_another_shape_or_that_raises_is_a_problem():
    calls = []

    def reshapes(params, x, y):
        L, g = loss_and_grads(params, x, y)
        calls.append(1)
        return L, {**g._asdict(), "dW1": g.dW1 if len(calls) == 1 else g.dW1[:2]}

    r = st.check_case(reshapes, small_case(), repeat=True)
    assert r.problems == ["a second call on the same inputs returned different dW1 (second dW1 = nan x the first: "
                          "state kept between calls)"]
    once = []

    def raises_second(params, x, y):
        once.append(1)
        if len(once) > 1:
            raise ValueError("only once")
        return U.textbook(params, x, y)

    r = st.check_case(raises_second, small_case(), repeat=True)
    assert len(r.problems) == 1 and r.problems[0].startswith("a second call on the same inputs raised ValueError: only once")


def test_in_process_sweeps_get_the_signature_and_progress(arrays_target):
    seen = []

    def progress(it):
        seen.append(len(it))
        return it

    case_list = st.cases([0, 1], ["small"], ["float64"], ["labels"])
    results = st.run_cases(U.textbook_arrays, case_list, signature="arrays", progress=progress)
    assert all(r.ok for r in results) and seen == [2]
    report = st.check_implementation(U.textbook_arrays, signature="arrays", progress=progress, **ONE)
    assert report.ok and report.signature == "arrays" and seen == [2, 1]


def test_a_target_is_checked_against_the_reference_given(arrays_target):
    target, _ = arrays_target

    def off(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L * 2, g

    report = st.check_implementation(target, signature="arrays", reference=off, **ONE)
    # the cases were run against `off`: its loss, off the truth, was re-judged (and said so)
    assert report.ok and [(d.kind, d.quantities) for d in report.diagnosis] == [("reference", ("loss",))]
    assert report.reference.endswith("<locals>.off")
