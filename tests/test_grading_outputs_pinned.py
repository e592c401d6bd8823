"""What the grader writes, pinned against one-line bugs (issue 21).

``grades.csv`` (columns, cells, formula-safe names), the per-submission JSON, the class summary
word for word, ``summary.json``, atomic writes, Gradescope's ``results.json`` (each test's name,
number, status and output) and its validator on each rule, and the bundle's files and modes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from scratch.grading import gradescope as gs
from scratch.grading import outputs as out
from scratch.grading.config import parse_assignment
from scratch.grading.runner import SubmissionRun, TierRun
from scratch.grading.scoring import grade_run
from scratch.grading.submissions import Submission
from test_grading_scoring_pinned import case, run

A = parse_assignment('[assignment]\ntitle = "HW3"\n[rubric.ordinary]\nloss = 1\ndW1 = 2\n[rubric.robustness]\n'
                     "loss = 1\n[rubric.float32]\n")


def graded(name, runs, seconds=2.0, problem=None):
    sub = Submission(name, Path(f"/subs/{name}"), None if problem else Path(f"/subs/{name}"), problem)
    return grade_run(A, SubmissionRun(sub, runs, seconds))


def full(name="alice.py"):
    return graded(name, [run("ordinary", [case("c1", loss=True, dW1=True)]), run("robustness", [case("h1", loss=True)])])


def half(name="bob.py"):
    diag = [{"text": "dW1 is N times the truth", "pitfall": "missing_mean"}]
    return graded(name, [run("ordinary", [case("c1", loss=True, dW1="value: relative error 3 > 1e-10",
                                               error=None)], diag),
                         run("robustness", [case("h1", loss="not finite: 1 NaN")],
                             [{"text": "overflow", "pitfall": "softmax_without_max_shift"}])], seconds=1.234)


def crashed(name="carol.py"):
    return graded(name, [TierRun("ordinary", ["check"], -11, 0.5, problem="killed by SIGSEGV")])


# --------------------------------------------------------------------------------------------
# grades.csv
# --------------------------------------------------------------------------------------------


def test_csv_names_and_columns():
    assert out.csv_name(None) == "grades.csv" and out.csv_name((2, 5)) == "grades-2-of-5.csv"
    assert out.report_path(Path("/r"), "alice.py") == Path("/r/reports/alice.py.json")
    assert out.csv_columns(A) == ["submission", "status", "score", "max_score", "ordinary", "ordinary.loss",
                                  "ordinary.dW1", "robustness", "robustness.loss", "pitfalls", "seconds", "crashed",
                                  "timed_out", "raised", "message"]


@pytest.mark.parametrize("text, safe", [("=1+2", "'=1+2"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"),
                                        ("\tx", "'\tx"), ("\rx", "'\rx"), ("x=1", "x=1"), ("", "")])
def test_spreadsheet_safe(text, safe):
    assert out.spreadsheet_safe(text) == safe


def test_csv_rows():
    rows = list(csv.DictReader(io.StringIO(out.grades_csv([full(), half(), crashed("=cmd()")], A))))
    assert rows[0] == {"submission": "alice.py", "status": "graded", "score": "4", "max_score": "4", "ordinary": "3",
                       "ordinary.loss": "1", "ordinary.dW1": "2", "robustness": "1", "robustness.loss": "1",
                       "pitfalls": "", "seconds": "2.00", "crashed": "0", "timed_out": "0", "raised": "0", "message": ""}
    assert rows[1]["score"] == "1" and rows[1]["ordinary.dW1"] == "0" and rows[1]["seconds"] == "1.23"
    assert rows[1]["pitfalls"] == "missing_mean;softmax_without_max_shift"
    assert rows[2]["submission"] == "'=cmd()" and rows[2]["status"] == "crashed" and rows[2]["crashed"] == "1"
    assert rows[2]["message"] == "ordinary: killed by SIGSEGV"
    text = out.grades_csv([full()], A)
    assert text.count("\n") == 2 and "\r" not in text


def test_the_raised_count_and_a_formula_message():
    g = graded("dave.py", [run("ordinary", [case("c1", error="raised ValueError: x"), case("c2", error="raised V")]),
                           run("robustness", [case("h1", error="raised V")])])
    row = out.csv_row(g)
    assert row["raised"] == 3
    g.message = "-1 points"
    assert out.csv_row(g)["message"] == "'-1 points"


# --------------------------------------------------------------------------------------------
# JSON, summary
# --------------------------------------------------------------------------------------------


def test_report_json():
    data = json.loads(out.report_json(half(), A))
    assert data["assignment"] == {"title": "HW3", "config": "(default)", "network": A.spec.as_dict()}
    assert data["submission"] == "bob.py" and data["score"] == 1.0
    assert out.report_json(half(), A).endswith("}\n")


def test_class_summary_word_for_word():
    text = out.class_summary([full(), half(), crashed()], A, seconds=3.0, jobs=2)
    lines = text.splitlines()
    assert lines[0] == ("3 submission(s): 2 graded, 1 crashed; mean score 1.67 / 4; 1 with full marks "
                        "(3.0 s, 1.00 s per submission, 2 at a time)")
    assert "Most common diagnosed mistakes (submissions):" in lines
    assert "     1  missing_mean  (missing 1/N)" in lines
    assert lines[-2:] == ["Not graded normally:", "  carol.py: crashed: ordinary: killed by SIGSEGV"]
    assert out.class_summary([full()], A, seconds=1.0).splitlines()[0].endswith("(1.0 s, 1.00 s per submission)")
    assert out.class_summary([full()], A).splitlines()[0] == "1 submission(s): 1 graded; mean score 4 / 4; 1 with full marks"
    assert "No known mistake diagnosed." in out.class_summary([full()], A)
    assert out.class_summary([], A, seconds=1.0).splitlines()[0] == "0 submission(s): none; 0 with full marks"


def test_class_summary_tier_table_and_its_limits():
    text = out.class_summary([full(), half()], A)
    table = [ln for ln in text.splitlines() if ln.startswith(("ordinary cases", "robustness"))]
    assert [ln.split()[-3:] for ln in table] == [["1", "of", "2"], ["1", "of", "2"]]
    assert table[0].split()[2] == "3" and table[1].split()[-4] == "1"
    many = [crashed(f"s{i}.py") for i in range(12)]
    lines = out.class_summary(many, A, top=10).splitlines()
    assert lines[-1] == "  ... and 2 more (see grades.csv)" and lines[-2] == "  s9.py: crashed: ordinary: killed by SIGSEGV"
    assert sum(ln.startswith("  s") for ln in lines) == 10
    diag = [graded(f"p{i}.py", [run("ordinary", [case("c", loss="x")], [{"text": "t", "pitfall": p}])])
            for i, p in enumerate(["missing_mean", "missing_mean", "sign_flipped", "unknown_one"])]
    lines = out.class_summary(diag, A, top=2).splitlines()
    counted = [ln for ln in lines if ln.startswith("     ")]
    assert counted == ["     2  missing_mean  (missing 1/N)",
                       "     1  sign_flipped  (sign flipped: y - yhat)"]
    assert "     1  unknown_one" in out.class_summary(diag, A).splitlines()


def test_summary_json():
    data = json.loads(out.summary_json([full(), half()], A))
    assert data["max_score"] == 4.0 and data["submissions"] == 2
    assert data["tiers"] == {"ordinary": {"title": "ordinary cases", "points": 3.0, "full_marks": 1},
                             "robustness": {"title": "robustness (huge logits, float64)", "points": 1.0,
                                            "full_marks": 1}}


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    p = out.write_atomic(tmp_path / "a.txt", "héllo\r\n")
    assert p == tmp_path / "a.txt" and p.read_bytes() == "héllo\r\n".encode()
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]
    with pytest.raises(TypeError):
        out.write_atomic(tmp_path / "b.txt", 5)  # type: ignore[arg-type]
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


# --------------------------------------------------------------------------------------------
# Gradescope
# --------------------------------------------------------------------------------------------


def test_results_json_tests():
    data = gs.results_json(half(), A)
    assert gs.validate_results(data) == []
    assert data["score"] == 1.0 and data["execution_time"] == 1.23 and data["output"] == half().feedback()
    assert [(t["name"], t["number"], t["score"], t["max_score"], t["status"], t["tags"]) for t in data["tests"]] == [
        ("ordinary cases: loss", "1.1", 1.0, 1.0, "passed", ["ordinary", "loss"]),
        ("ordinary cases: dW1", "1.2", 0.0, 2.0, "failed", ["ordinary", "dW1"]),
        ("robustness (huge logits, float64): loss", "2.1", 0.0, 1.0, "failed", ["robustness", "loss"]),
    ]
    assert data["tests"][0]["output"] == "passed on all 1 case(s)"
    assert data["tests"][1]["output"] == ("failed on 1 of 1 case(s); first c1: value: relative error 3 > 1e-10\n"
                                          "diagnosis: dW1 is N times the truth")
    assert all(t["visibility"] == "visible" for t in data["tests"])
    assert data["extra_data"] == {"status": "graded", "max_score": 4.0,
                                  "pitfalls": ["missing_mean", "softmax_without_max_shift"], "crashed": False,
                                  "timed_out": False}
    hidden = parse_assignment('[gradescope]\nvisibility = "hidden"\n')
    assert {t["visibility"] for t in gs.results_json(half(), hidden)["tests"]} == {"hidden"}


GOOD = {"score": 1.0, "tests": [{"name": "a", "score": 1.0, "max_score": 2.0, "output": "", "visibility": "visible",
                                 "status": "passed"}]}


def with_test(**changes):
    return {**GOOD, "tests": [{**GOOD["tests"][0], **changes}]}


@pytest.mark.parametrize("data, errors", [
    (GOOD, []),
    ([], ["results must be an object, got list"]),
    ({**GOOD, "score": "1"}, ["score must be a number, got '1'", ]),
    ({**GOOD, "score": True}, ["score must be a number, got True"]),
    ({"score": 0, "tests": {}}, ["tests must be a list, got dict"]),
    ({"score": 0}, ["tests must be a list, got NoneType"]),
    ({"score": 0, "tests": [3]}, ["tests[0] must be an object"]),
    (with_test(name=""), ["tests[0].name must be a non-empty string"]),
    (with_test(name=5), ["tests[0].name must be a non-empty string"]),
    (with_test(score=None), ["tests[0].score must be a number, got None"]),
    (with_test(max_score=False), ["tests[0].max_score must be a number, got False"]),
    (with_test(score=3.0), ["tests[0]: score 3.0 outside [0, max_score 2.0]", "the tests' scores add up to 3.0, "
                                                                               "not the score 1.0"]),
    (with_test(score=-0.5), ["tests[0]: score -0.5 outside [0, max_score 2.0]", "the tests' scores add up to -0.5, "
                                                                                 "not the score 1.0"]),
    (with_test(score=2.0, max_score=2.0), ["the tests' scores add up to 2.0, not the score 1.0"]),
    (with_test(output=3), ["tests[0].output must be a string"]),
    (with_test(visibility="secret"), ["tests[0].visibility 'secret' not one of visible, hidden, after_due_date, "
                                      "after_published"]),
    (with_test(status="ok"), ["tests[0].status 'ok' not passed or failed"]),
    ({**GOOD, "score": 1.0 + 1e-7}, []),
    ({**GOOD, "score": 1.0 + 1e-5}, ["the tests' scores add up to 1.0, not the score 1.00001"]),
    ({"score": 5.0, "tests": []}, []),
])
def test_validate_results(data, errors):
    assert gs.validate_results(data) == errors


def test_validate_results_defaults():
    bare = {"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1}]}
    assert gs.validate_results(bare) == []


def test_bundle(tmp_path):
    folder = tmp_path / "new" / "bundle"
    paths = gs.write_bundle(folder, A)
    assert [p.name for p in paths] == ["setup.sh", "run_autograder", "assignment.toml"]
    assert (folder / "assignment.toml").read_text() == A.text
    for p in paths[:2]:
        mode = p.stat().st_mode
        assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH and mode & stat.S_IRGRP \
            and mode & stat.S_IROTH
    assert not paths[2].stat().st_mode & stat.S_IXUSR
    setup = (folder / "setup.sh").read_text()
    assert f"python3 -m venv {gs.VENV}" in setup and f'{gs.VENV}/bin/pip install "{gs._requirement()}"' in setup
    assert gs._requirement().startswith("scratch-backprop[cli]")
    runner = (folder / "run_autograder").read_text()
    assert 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in runner and f"if [ -x {gs.VENV}/bin/python ]" in runner
    gs.write_bundle(folder, A)  # again, into the same folder
    assert sorted(os.listdir(folder)) == ["assignment.toml", "run_autograder", "setup.sh"]


# --------------------------------------------------------------------------------------------
# Second pass (the survivors of the second mutmut run)
# --------------------------------------------------------------------------------------------


def test_write_atomic_writes_beside_the_target(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst)))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    out.write_atomic(tmp_path / "grades.csv", "x")
    ((src, dst),) = seen
    assert dst == tmp_path / "grades.csv" and src.parent == tmp_path
    assert src.name.startswith(".grades.csv.") and src.name.endswith(".tmp")


def test_write_atomic_is_utf8_whatever_the_locale(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "out.txt"
    code = f"from scratch.grading.outputs import write_atomic; write_atomic({str(target)!r}, 'h\\u00e9llo \\u2713')"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    check = subprocess.run([sys.executable, "-c", "import locale; print(locale.getpreferredencoding(False))"],
                           env=env, capture_output=True, text=True).stdout.strip()
    assert check.lower() in ("ansi_x3.4-1968", "ascii", "us-ascii")  # the locale's own encoding is not UTF-8
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    assert target.read_bytes() == "héllo ✓".encode()


def test_json_files_are_indented_by_two():
    assert out.report_json(full(), A).startswith('{\n  "assignment": {\n    "title": "HW3"')
    assert out.summary_json([full()], A).startswith('{\n  "submissions": 1,\n  "statuses": {\n    "graded": 1')


def test_class_summary_layout():
    lines = out.class_summary([full()], A).splitlines()
    assert lines[1] == "" and lines[2].split() == ["tier", "points", "full", "marks"]
    assert lines[-2:] == ["", "No known mistake diagnosed."]
    with_pitfall = out.class_summary([half()], A).splitlines()
    i = with_pitfall.index("Most common diagnosed mistakes (submissions):")
    assert with_pitfall[i - 1] == ""
    flagged = out.class_summary([crashed()], A).splitlines()
    i = flagged.index("Not graded normally:")
    assert flagged[i - 1] == ""
    assert "0 of 0" in out.class_summary([], A)
    assert json.loads(out.summary_json([], A))["tiers"]["ordinary"]["full_marks"] == 0


def test_class_summary_lists_ten_flagged_by_default_and_exactly_top_without_a_more_line():
    eleven = [crashed(f"s{i:02d}.py") for i in range(11)]
    lines = out.class_summary(eleven, A).splitlines()
    assert lines[-1] == "  ... and 1 more (see grades.csv)" and sum(ln.startswith("  s") for ln in lines) == 10
    ten = out.class_summary(eleven[:10], A).splitlines()
    assert not any(ln.startswith("  ...") for ln in ten) and sum(ln.startswith("  s") for ln in ten) == 10


def test_results_json_lists_every_diagnosis_line():
    g = graded("x.py", [run("ordinary", [case("c1", loss="bad", dW1=True)],
                            [{"text": "first", "pitfall": None}, {"text": "second", "pitfall": None}]),
                        run("robustness", [case("h1", loss=True)])])
    test = gs.results_json(g, A)["tests"][0]
    assert test["output"] == "failed on 1 of 1 case(s); first c1: bad\ndiagnosis: first\ndiagnosis: second"


@pytest.mark.parametrize("data, errors", [
    ({"score": 0, "tests": [3, {"name": "", "score": 0, "max_score": 1}]},
     ["tests[0] must be an object", "tests[1].name must be a non-empty string"]),
    ({"score": 1e6 + 1, "tests": [{"name": "a", "score": 1e6, "max_score": 1e6}]}, []),  # within 1e-6 of the total
    ({"score": 1e6 + 1.5, "tests": [{"name": "a", "score": 1e6, "max_score": 1e6}]},
     ["the tests' scores add up to 1000000.0, not the score 1000001.5"]),
    ({"score": 1.0 + 1.5e-6, "tests": [{"name": "a", "score": 1.0, "max_score": 1.0}]},
     ["the tests' scores add up to 1.0, not the score 1.0000015"]),
    ({"score": 0.5, "tests": [{"name": "a", "score": 1e6, "max_score": 1e6}]},
     ["the tests' scores add up to 1000000.0, not the score 0.5"]),
])
def test_validate_results_second_pass(data, errors):
    assert gs.validate_results(data) == errors


def test_the_requirement_pins_the_installed_version():
    from importlib.metadata import version

    assert gs._requirement() == f"scratch-backprop[cli]=={version('scratch-backprop')}"
