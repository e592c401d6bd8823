"""The grader's scoring pinned against one-line bugs (issue 21).

``scratch.grading.scoring`` on hand-made check reports (the JSON ``python -m scratch check
--json`` writes, cut to the fields scoring reads): a quantity's points under ``all`` and
``fraction``, every reason word for word, the status of a submission that crashed, hung, was
refused or raised, the feedback text, the pitfalls another tier rules out and the class counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scratch.grading.config import parse_assignment
from scratch.grading.runner import SubmissionRun, TierRun
from scratch.grading.scoring import (QuantityScore, TierScore, _case_outcome, case_endings, case_errors, class_counts,
                                     contradicted, cut, grade_run, pitfall_tier, score_tier)
from scratch.grading.submissions import Submission

PASS = {"status": "pass", "passed": True}


def case(cid, error=None, problems=(), ended=None, **quantities):
    """One case of a check report: each quantity ``q=True`` (pass), ``q="words"`` (fails so)."""
    qs = {q: (PASS if v is True else {"status": "FAIL", "passed": False, "problem": v}) for q, v in quantities.items()}
    return {"id": cid, "passed": not error and not problems and all(v is True for v in quantities.values()),
            "error": error, "problems": list(problems), "ended": ended, "quantities": qs}


def run(tier, cases, diagnosis=(), **kw):
    passed = all(c["passed"] for c in cases if isinstance(c, dict))
    return TierRun(tier, ["check"], 0 if passed else 1, 1.5,
                   report={"cases": cases, "diagnosis": list(diagnosis), "passed": passed, "n_cases": len(cases),
                           "n_failed": sum(not c["passed"] for c in cases if isinstance(c, dict)), "summary": []}, **kw)


# --------------------------------------------------------------------------------------------
# cut, _case_outcome
# --------------------------------------------------------------------------------------------


def test_cut():
    assert cut("abc", 3) == "abc"
    assert cut("abcd", 3) == "abc... [1 more characters]"
    assert cut("x" * 2000) == "x" * 600 + "... [1,400 more characters]"
    assert cut(12345, 2) == "12... [3 more characters]"


def test_case_outcome():
    assert _case_outcome(case("a", loss=True), "loss") == (True, "")
    assert _case_outcome(case("a", error="raised KeyError: 'W1'", loss=True), "loss") == (
        False, "no result: raised KeyError: 'W1'")
    assert _case_outcome(case("a", error="e" * 400), "loss") == (False, "no result: " + cut("e" * 400, 300))
    assert _case_outcome(case("a", problems=["modified x", "second call differs"], loss=True), "loss") == (
        False, "modified x; second call differs")
    assert _case_outcome(case("a", dW1=True), "loss") == (False, "not returned")
    assert _case_outcome({"quantities": {"loss": {"status": "not checked"}}}, "loss") == (False, "not returned")
    assert _case_outcome({"quantities": {"loss": "pass"}}, "loss") == (False, "not returned")
    assert _case_outcome(case("a", loss="value: relative error 1 > 1e-10"), "loss") == (
        False, "value: relative error 1 > 1e-10")
    assert _case_outcome({"quantities": {"loss": {"status": "pass", "passed": False}}}, "loss") == (False, "failed")
    assert _case_outcome({"quantities": {"loss": {"status": "FAIL"}}}, "loss") == (False, "failed")
    assert _case_outcome({"quantities": {"loss": {"status": "pass"}}}, "loss") == (True, "")
    assert _case_outcome({}, "loss") == (False, "not returned")


# --------------------------------------------------------------------------------------------
# score_tier
# --------------------------------------------------------------------------------------------


def test_a_tier_not_run_or_without_a_report():
    t = score_tier(None, "robustness", {"loss": 1.0, "dW1": 2.0}, "all")
    assert (t.points, t.max_points, t.problem, t.seconds) == (0.0, 3.0, "not run: an earlier tier ended the submission", 0.0)
    assert t.quantities["dW1"] == QuantityScore("dW1", 0.0, 2.0, 0, 0, "not run: an earlier tier ended the submission")
    broken = TierRun("ordinary", ["check"], -11, 2.5, problem="killed by SIGSEGV")
    t = score_tier(broken, "ordinary", {"loss": 1.0}, "all")
    assert (t.problem, t.seconds, t.quantities["loss"].reason) == ("killed by SIGSEGV", 2.5, "killed by SIGSEGV")
    t = score_tier(TierRun("ordinary", ["check"], 1, 0.5), "ordinary", {"loss": 1.0}, "all")
    assert t.problem == "no report"


@pytest.mark.parametrize("scoring, dW1_points", [("all", 0.0), ("fraction", 2.0)])
def test_points_all_or_in_proportion(scoring, dW1_points):
    cases = [case("c1", loss=True, dW1=True), case("c2", loss=True, dW1="value: relative error 2 > 1e-10"),
             case("c3", loss=True, dW1=True)]
    t = score_tier(run("ordinary", cases), "ordinary", {"loss": 2.0, "dW1": 3.0}, scoring)
    assert t.quantities["loss"] == QuantityScore("loss", 2.0, 2.0, 3, 3, None)
    assert t.quantities["dW1"] == QuantityScore("dW1", dW1_points, 3.0, 2, 3,
                                                "failed on 1 of 3 case(s); first c2: value: relative error 2 > 1e-10")
    assert t.points == 2.0 + dW1_points and t.max_points == 5.0
    assert (t.n_cases, t.n_failed, t.raised, t.seconds, t.problem) == (3, 1, 0, 1.5, None)


def test_fraction_is_rounded_and_a_tier_of_no_cases_earns_its_points():
    cases = [case(f"c{i}", loss=(i == 0)) for i in range(3)]
    t = score_tier(run("ordinary", cases), "ordinary", {"loss": 1.0}, "fraction")
    assert t.quantities["loss"].points == 0.333333 and t.points == 0.333333
    empty = score_tier(run("ordinary", []), "ordinary", {"loss": 1.0}, "fraction")
    assert empty.quantities["loss"] == QuantityScore("loss", 1.0, 1.0, 0, 0, None)


def test_reasons_for_a_quantity_never_returned_and_for_raised_cases():
    cases = [case("c1", loss=True), case("c2", loss=True)]
    t = score_tier(run("ordinary", cases), "ordinary", {"loss": 1.0, "dz1": 1.0}, "all")
    assert t.quantities["dz1"].reason == "not returned (this rubric gives dz1 points)"
    cases = [case("c1", loss=True), case("c2", error="raised ValueError: no"), case("c3", error="raised ValueError: no")]
    t = score_tier(run("ordinary", cases), "ordinary", {"dz1": 1.0, "loss": 1.0}, "all")
    assert t.quantities["dz1"].reason == "failed on 3 of 3 case(s); first c1: not returned"
    assert t.quantities["loss"].reason == "failed on 2 of 3 case(s); first c2: no result: raised ValueError: no"
    assert t.raised == 2 and t.n_failed == 2


def test_diagnosis_and_pitfalls_of_a_tier():
    diag = [{"text": "t" * 700, "pitfall": "missing_mean"}, {"text": "second", "pitfall": None},
            {"text": "third", "pitfall": "missing_mean"}, "junk", {"pitfall": "sign_flipped"}]
    t = score_tier(run("ordinary", [case("c1", loss="bad")], diag), "ordinary", {"loss": 1.0}, "all")
    assert t.diagnosis == [cut("t" * 700, 600), "second", "third", ""]
    assert t.pitfalls == ["missing_mean", "sign_flipped"]


def test_tier_score_full_title_and_json():
    t = TierScore("float32", 2.0, 2.0, {})
    assert t.full and t.title == "float32 accuracy (confident, saturated cases)"
    assert not TierScore("float32", 1.999, 2.0, {}).full
    d = TierScore("ordinary", 1.0, 2.0, {"loss": QuantityScore("loss", 1.0, 2.0, 1, 2, "r")}, seconds=1.23456).as_dict()
    assert d["seconds"] == 1.235 and d["full_marks"] is False and d["quantities"]["loss"]["reason"] == "r"
    assert d["title"] == "ordinary cases"


# --------------------------------------------------------------------------------------------
# grade_run: status and message
# --------------------------------------------------------------------------------------------

ONE_TIER = parse_assignment("[rubric.ordinary]\nloss = 1\ndW1 = 1\n[rubric.robustness]\n[rubric.float32]\n")
TWO_TIERS = parse_assignment("[rubric.ordinary]\nloss = 1\n[rubric.robustness]\nloss = 1\n[rubric.float32]\n")
SUB = Submission("alice.py", Path("/subs/alice.py"), Path("/subs/alice.py"))


def grade(runs, assignment=ONE_TIER, sub=SUB, seconds=3.0):
    return grade_run(assignment, SubmissionRun(sub, runs, seconds))


def good():
    return run("ordinary", [case("c1", loss=True, dW1=True)])


def test_a_graded_submission():
    g = grade([good()])
    assert (g.status, g.message, g.score, g.max_score, g.crashed, g.timed_out) == ("graded", "", 2.0, 2.0, False, False)
    assert g.runs[0].report == {"passed": True, "n_cases": 1, "n_failed": 0, "summary": []}  # the cases dropped
    assert g.feedback() == "Score 2 / 2\nordinary cases: 2 / 2 (all 1 case(s) passed)"


def test_a_submission_with_a_problem_is_not_gradable():
    sub = Submission("bob", Path("/subs/bob"), None, "no .py file holding loss_and_grads")
    g = grade([good()], sub=sub)
    assert (g.status, g.message, g.score) == ("not gradable", "no .py file holding loss_and_grads", 0.0)
    assert g.tiers["ordinary"].problem == "no .py file holding loss_and_grads"
    assert all(q.reason == sub.problem for q in g.tiers["ordinary"].quantities.values())
    assert g.feedback().splitlines()[0] == "Score 0 / 2 (not gradable: no .py file holding loss_and_grads)"


def test_a_tier_that_timed_out():
    r = TierRun("ordinary", ["check"], -9, 60.0, timed_out=True, problem="timed out after 60 s")
    g = grade([r])
    assert (g.status, g.message, g.timed_out, g.crashed) == ("timed out", "timed out after 60 s", True, False)


def test_a_call_that_timed_out():
    r = run("ordinary", [case("c1", loss=True, dW1=True), case("c2", error="took longer than 10 s", ended="timeout")])
    g = grade([r])
    assert (g.status, g.message, g.timed_out) == ("timed out", "took longer than 10 s", True)


def test_a_refused_submission():
    r = TierRun("ordinary", ["check"], 2, 0.4, problem="check refused it: no function loss_and_grads")
    g = grade([r])
    assert (g.status, g.message, g.crashed) == ("not gradable", "check refused it: no function loss_and_grads", False)


def test_an_import_that_raised():
    r = run("ordinary", [case("c1", error="importing x raised ImportError", ended="import"),
                         case("c2", error="importing x raised ImportError", ended="import")])
    g = grade([r])
    assert (g.status, g.message, g.crashed) == ("not gradable", "importing x raised ImportError", False)


def test_a_broken_run_and_a_dead_worker_are_crashes():
    r = TierRun("ordinary", ["check"], -11, 1.0, problem="killed by SIGSEGV")
    g = grade([r])
    assert (g.status, g.message, g.crashed) == ("crashed", "ordinary: killed by SIGSEGV", True)
    dead = run("ordinary", [case("c1", error="the worker was killed by SIGKILL", ended="signal")])
    g = grade([dead])
    assert (g.status, g.message, g.crashed) == ("crashed", "the worker was killed by SIGKILL", True)


def test_an_exception_of_the_users_code_is_graded_not_crashed():
    r = run("ordinary", [case("c1", loss=True, dW1=True), case("c2", error="raised ValueError: bad")])
    g = grade([r])
    assert (g.status, g.crashed, g.score) == ("graded", False, 0.0)


def test_the_message_is_cut():
    r = TierRun("ordinary", ["check"], 2, 0.4, problem="p" * 500)
    assert grade([r]).message == cut("p" * 500, 300)


def test_the_feedback_of_a_lost_tier():
    bad = run("ordinary", [case("c1", loss=True, dW1="value: relative error 1 > 1e-10")],
              [{"text": "dW1 is twice the truth", "pitfall": None}])
    g = grade([bad])
    assert g.feedback() == ("Score 1 / 2\nordinary cases: 1 / 2 (1 of 1 case(s) failed)\n"
                            "  dW1: 0 / 1: failed on 1 of 1 case(s); first c1: value: relative error 1 > 1e-10\n"
                            "  diagnosis: dW1 is twice the truth")
    partial = parse_assignment('[rubric]\nscoring = "fraction"\n[rubric.ordinary]\nloss = 1\n'
                               "[rubric.robustness]\n[rubric.float32]\n")
    r = run("ordinary", [case("c1", loss=True), case("c2", loss="bad"), case("c3", loss=True)])
    assert grade([r], partial).feedback().splitlines()[:3] == [
        "Score 0.67 / 1", "ordinary cases: 0.67 / 1 (1 of 3 case(s) failed)",
        "  loss: 0.67 / 1: failed on 1 of 3 case(s); first c2: bad"]


def test_the_feedback_of_full_marks_with_ungraded_failures_and_of_a_tier_not_run():
    r = run("ordinary", [case("c1", loss=True, dW1=True, dz1="bad")])
    assert grade([r]).feedback() == ("Score 2 / 2\nordinary cases: 2 / 2 (1 of 1 case(s) failed on quantities "
                                     "this rubric does not grade)")
    g = grade([run("ordinary", [case("c1", loss=True)])], TWO_TIERS)
    assert g.feedback().splitlines()[-1] == "robustness (huge logits, float64): 0 / 1: not run: an earlier tier ended " \
                                            "the submission"


def test_submission_json():
    g = grade([good()], seconds=1.23456)
    d = g.as_dict()
    assert (d["submission"], d["path"], d["entry_file"], d["seconds"]) == ("alice.py", "/subs/alice.py",
                                                                          "/subs/alice.py", 1.235)
    assert d["runs"] == [{"tier": "ordinary", "command": ["check"], "returncode": 0, "seconds": 1.5,
                          "timed_out": False, "problem": None, "stderr_tail": "", "summary": []}]
    assert d["feedback"] == g.feedback() and d["pitfalls_ruled_out"] == []
    broken = grade([TierRun("ordinary", ["check"], -11, 1.0, problem="boom", stderr="Segmentation fault")]).as_dict()
    assert broken["runs"][0]["stderr_tail"] == "Segmentation fault" and broken["runs"][0]["summary"] is None
    none = Submission("x", Path("/x"), None, "why").__class__("x", Path("/x"), None, "why")
    assert grade([], sub=none).as_dict()["entry_file"] is None


# --------------------------------------------------------------------------------------------
# Pitfalls: the tier that always shows one, and those another tier rules out
# --------------------------------------------------------------------------------------------


def test_pitfall_tier():
    full = parse_assignment("")
    assert pitfall_tier("softmax_without_max_shift", full) == "robustness"
    assert pitfall_tier("float32_yhat_minus_y", full) == "float32"
    assert pitfall_tier("missing_mean", full) == "ordinary"
    assert pitfall_tier("accumulating_gradients", full) is None  # two calls: found by the repeat call
    assert pitfall_tier("no_such_pitfall", full) is None
    no_small = parse_assignment('[sweep]\nshapes = ["tall"]\n')
    assert pitfall_tier("missing_mean", no_small) is None
    f32 = parse_assignment('[sweep]\ndtypes = ["float32"]\n')
    assert pitfall_tier("missing_mean", f32) is None
    soft = parse_assignment('[sweep]\ntargets = ["soft"]\n')
    assert pitfall_tier("missing_mean", soft) is None
    assert pitfall_tier("yhat_minus_y", full) == "ordinary"  # unnormalized targets, in the default sweep
    assert pitfall_tier("missing_mean", ONE_TIER) == "ordinary"
    no_ordinary = parse_assignment("[rubric.ordinary]\n")
    assert pitfall_tier("missing_mean", no_ordinary) is None


def test_contradicted():
    full = parse_assignment("")
    passed = TierScore("robustness", 5.0, 5.0, {}, n_cases=4, n_failed=0)
    assert contradicted("softmax_without_max_shift", {"robustness": passed}, full)
    assert not contradicted("softmax_without_max_shift", {"robustness": TierScore("robustness", 5, 5, {}, n_cases=4,
                                                                                    n_failed=1)}, full)
    assert not contradicted("softmax_without_max_shift", {"robustness": TierScore("robustness", 0, 5, {}, problem="x",
                                                                                    n_cases=4)}, full)
    assert not contradicted("softmax_without_max_shift", {"robustness": TierScore("robustness", 0, 5, {})}, full)
    assert not contradicted("softmax_without_max_shift", {}, full)
    assert not contradicted("accumulating_gradients", {"robustness": passed}, full)


def test_a_pitfall_the_robustness_tier_rules_out():
    diag = [{"text": "matches softmax_without_max_shift", "pitfall": "softmax_without_max_shift"},
            {"text": "matches missing_mean", "pitfall": "missing_mean"}]
    ordinary = run("ordinary", [case("c1", loss="bad")], diag)
    robust = run("robustness", [case("h1", loss=True)])
    g = grade([ordinary, robust], TWO_TIERS)
    assert g.pitfalls == ["missing_mean"] and g.contradicted == ["softmax_without_max_shift"]
    assert g.as_dict()["pitfalls_ruled_out"] == ["softmax_without_max_shift"]


def test_case_errors_and_endings():
    r1 = run("ordinary", [case("a", error="raised X"), case("b", loss=True), "junk"])
    r2 = run("robustness", [case("c", error="killed", ended="signal"), case("d", ended="not run")])
    r3 = TierRun("float32", ["check"])
    assert case_errors([r1, r2, r3]) == ["raised X", "killed"]
    assert case_endings([r1, r2, r3], ("signal", "not run")) == ["killed", "not run"]
    assert case_endings([r1, r2, r3], ("import",)) == []


# --------------------------------------------------------------------------------------------
# class_counts
# --------------------------------------------------------------------------------------------


def test_class_counts():
    a = grade([good()])
    b = grade([run("ordinary", [case("c1", loss=True, dW1="bad")], [{"text": "t", "pitfall": "missing_mean"}])])
    c = grade([run("ordinary", [case("c1", loss="bad", dW1="bad")], [{"text": "t", "pitfall": "missing_mean"},
                                                                     {"text": "u", "pitfall": "sign_flipped"}])])
    d = grade([TierRun("ordinary", ["check"], -11, 1.0, problem="boom")])
    counts = class_counts([a, b, c, d])
    assert counts == {
        "submissions": 4, "statuses": {"graded": 3, "crashed": 1, "timed out": 0, "not gradable": 0},
        "full_marks": 1, "tiers_full_marks": {"ordinary": 1},
        "pitfalls": {"missing_mean": 2, "sign_flipped": 1}, "mean_score": round((2 + 1 + 0 + 0) / 4, 4),
    }
    assert class_counts([])["mean_score"] is None and class_counts([])["submissions"] == 0
    assert class_counts([a, b, b])["mean_score"] == 1.3333


# --------------------------------------------------------------------------------------------
# Second pass (the survivors of the second mutmut run)
# --------------------------------------------------------------------------------------------


def test_reasons_are_cut_at_300_characters():
    assert _case_outcome(case("a", loss="p" * 301), "loss") == (False, "p" * 300 + "... [1 more characters]")
    assert _case_outcome(case("a", loss="p" * 300), "loss") == (False, "p" * 300)
    assert _case_outcome(case("a", problems=["q" * 150, "r" * 149], loss=True), "loss") == (
        False, "q" * 150 + "; " + "r" * 148 + "... [1 more characters]")


def test_a_report_without_a_diagnosis():
    r = TierRun("ordinary", ["check"], 1, 1.0, report={"cases": [case("c1", loss="bad")]})
    t = score_tier(r, "ordinary", {"loss": 1.0}, "all")
    assert (t.diagnosis, t.pitfalls, t.n_cases) == ([], [], 1)


def test_json_of_a_quantity_a_tier_and_a_submission():
    assert QuantityScore("dW1", 1.5, 3.0, 1, 2, "why").as_dict() == {
        "quantity": "dW1", "points": 1.5, "max_points": 3.0, "passed": 1, "cases": 2, "reason": "why"}
    t = TierScore("ordinary", 1.0, 2.0, {}, ["d"], ["p"], "prob", 4, 1, 2, 1.23456, "page.html")
    assert t.as_dict() == {"tier": "ordinary", "title": "ordinary cases", "points": 1.0, "max_points": 2.0,
                           "full_marks": False, "problem": "prob", "n_cases": 4, "n_failed": 1, "raised": 2,
                           "seconds": 1.235, "quantities": {}, "diagnosis": ["d"], "pitfalls": ["p"],
                           "html": "page.html"}
    g = grade([run("ordinary", [case("c1", loss=True, dW1=True)])])
    d = g.as_dict()
    assert list(d) == ["submission", "path", "entry_file", "status", "score", "max_score", "crashed", "timed_out",
                       "message", "seconds", "pitfalls", "pitfalls_ruled_out", "tiers", "feedback", "runs"]
    assert (d["status"], d["score"], d["max_score"], d["crashed"], d["timed_out"], d["message"], d["pitfalls"]) == (
        "graded", 2.0, 2.0, False, False, "", [])
    assert list(d["tiers"]) == ["ordinary"] and d["tiers"]["ordinary"]["points"] == 2.0


def test_stderr_is_kept_only_for_a_run_with_a_problem():
    r = good()
    r.stderr = "some warnings"
    assert grade([r]).as_dict()["runs"][0]["stderr_tail"] == ""


def test_empty_messages_stay_empty():
    assert grade([TierRun("ordinary", ["check"], 2, 0.4)]).message == ""  # refused, no words
    assert grade([TierRun("ordinary", ["check"], -9, 9.0, timed_out=True)]).message == ""


def test_the_feedback_goes_on_after_a_tier_with_a_problem():
    g = grade([TierRun("ordinary", ["check"], -11, 1.0, problem="killed by SIGSEGV"),
               run("robustness", [case("h1", loss=True)])], TWO_TIERS)
    assert g.feedback().splitlines() == ["Score 1 / 2 (crashed: ordinary: killed by SIGSEGV)",
                                         "ordinary cases: 0 / 1: killed by SIGSEGV",
                                         "robustness (huge logits, float64): 1 / 1 (all 1 case(s) passed)"]


def test_a_float32_setting_of_an_ordinary_shape_is_shown_by_the_ordinary_tier(monkeypatch):
    import dataclasses
    from types import SimpleNamespace

    from scratch.pitfalls import PITFALLS, SETTINGS

    full = parse_assignment("")
    for name, changes, tier in (("_f32_small", {"dtype": "float32"}, "ordinary"),
                                ("_f64_confident", {"shape": "confident"}, None)):
        monkeypatch.setitem(SETTINGS, name, dataclasses.replace(SETTINGS["small"], **changes))
        monkeypatch.setitem(PITFALLS, name, SimpleNamespace(caught_on=name))
        assert pitfall_tier(name, full) == tier, name


def test_a_tiers_page_and_a_runs_seconds():
    r = good()
    r.html, r.seconds = "/out/html/alice.py/ordinary.html", 1.23456
    g = grade([r])
    assert g.tiers["ordinary"].html == "/out/html/alice.py/ordinary.html"
    assert g.as_dict()["runs"][0]["seconds"] == 1.235
