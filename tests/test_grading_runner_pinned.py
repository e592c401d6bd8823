"""The grader's runner pinned against one-line bugs (issue 21).

``read_report`` (when a check's exit status and its report agree, and each way they do not,
word for word), ``check_command``, ``child_env``, the limits set between fork and exec, the
ends of a log kept, ``last_line`` and ``signal_name``; ``run_submissions``'s refusal of no jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scratch.grading import runner as R
from scratch.grading.config import parse_assignment
from scratch.grading.submissions import Submission

A = parse_assignment('[assignment]\nentry_point = "grads"\nsignature = "arrays"\n[network]\nactivation = "relu"\n'
                     '[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n')
IDS = ["s0-small-float64-labels"]


def tier_run(rc, stderr=""):
    return R.TierRun("ordinary", ["check"], rc, stderr=stderr)


def report_file(tmp_path, data, name="r.json") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def read(tmp_path, rc, data=None, stderr="", ids=IDS):
    run = tier_run(rc, stderr)
    path = report_file(tmp_path, data) if data is not None else tmp_path / "missing.json"
    R.read_report(run, path, ids)
    return run


def test_agreeing_reports(tmp_path):
    data = {"passed": True, "cases": [{"id": IDS[0]}]}
    run = read(tmp_path, 0, data)
    assert run.report == data and run.problem is None
    data = {"passed": False, "cases": [{"id": "b"}, {"id": "a"}]}
    run = read(tmp_path, 1, data, ids=["a", "b"])
    assert run.report == data and run.problem is None


@pytest.mark.parametrize("rc, data, stderr, problem", [
    (2, None, "usage: ...\npython -m scratch check: error: no function grads in x.py\n\n",
     "check refused it: no function grads in x.py"),
    (2, None, "", "check refused it: (no message)"),
    (2, None, "plain last line", "check refused it: plain last line"),
    (-11, None, "", "crashed: killed by SIGSEGV"),
    (-9, None, "", "crashed: killed by SIGKILL"),
    (3, None, "", "crashed: the check process exited with status 3"),
    (0, None, "", "crashed: check exited with status 0 without writing its report"),
    (1, "{not json", "", "crashed: the report cannot be read (JSONDecodeError)"),
    (0, [1, 2], "", "crashed: the report is not a check report"),
    (0, {"passed": True, "cases": {}}, "", "crashed: the report is not a check report"),
    (0, {"passed": False, "cases": [{"id": IDS[0]}]}, "", "crashed: check exited with status 0 but its report says "
                                                          "passed=False"),
    (1, {"passed": True, "cases": [{"id": IDS[0]}]}, "", "crashed: check exited with status 1 but its report says "
                                                         "passed=True"),
    (1, {"cases": [{"id": IDS[0]}]}, "", None),
    (0, {"passed": True, "cases": []}, "", "crashed: the report holds 0 case(s), not the tier's 1"),
    (0, {"passed": True, "cases": [{"id": IDS[0]}, {"id": IDS[0]}]}, "last words\n",
     "crashed: the report holds 2 case(s), not the tier's 1 (last words)"),
    (0, {"passed": True, "cases": [{"id": "other"}]}, "", "crashed: the report holds 1 case(s), not the tier's 1"),
    (0, {"passed": True, "cases": ["s0-small-float64-labels"]}, "", "crashed: the report holds 1 case(s), not the "
                                                                    "tier's 1"),
])
def test_disagreeing_reports(tmp_path, rc, data, stderr, problem):
    run = read(tmp_path, rc, data, stderr)
    assert run.problem == problem
    assert (run.report is None) == (problem is not None)


def test_a_report_too_large_is_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "MAX_REPORT_BYTES", 10)
    run = read(tmp_path, 0, {"passed": True, "cases": [{"id": IDS[0]}]})
    assert run.problem == f"crashed: a report of {(tmp_path / 'r.json').stat().st_size:,} bytes" and run.report is None
    monkeypatch.setattr(R, "MAX_REPORT_BYTES", (tmp_path / "r.json").stat().st_size)
    assert read(tmp_path, 0, {"passed": True, "cases": [{"id": IDS[0]}]}).problem is None


def test_an_unreadable_report_is_a_crash(tmp_path):
    p = tmp_path / "r.json"
    p.write_bytes(b"\xff\xfe{")
    run = tier_run(0)
    R.read_report(run, p, IDS)
    assert run.problem == "crashed: the report cannot be read (UnicodeDecodeError)"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    run = tier_run(0)
    R.read_report(run, deep, IDS)
    assert run.problem in ("crashed: the report cannot be read (RecursionError)", "crashed: the report is not a check report")


def test_last_line_and_signal_name():
    assert R.last_line("a\n  b  \n\n   \n") == "b"
    assert R.last_line("") == "" and R.last_line("\n \n") == ""
    assert R.signal_name(11) == "SIGSEGV" and R.signal_name(9) == "SIGKILL" and R.signal_name(999) == "signal 999"


def test_tail_keeps_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "TAIL_CHARS", 5)
    p = tmp_path / "log"
    p.write_bytes(b"0123456789")
    assert R._tail(p) == "...56789"
    p.write_bytes(b"01234")
    assert R._tail(p) == "01234"
    p.write_bytes(b"\xff" + b"abcd")
    assert R._tail(p) == "\ufffdabcd"
    assert R._tail(tmp_path / "none") == ""


def test_check_command(tmp_path):
    entry = tmp_path / "alice.py"
    sub = Submission("alice.py", entry, entry)
    tier = A.tiers[0]
    cmd = R.check_command(A, sub, tier, tmp_path / "r.json")
    assert cmd == [sys.executable, "-m", "scratch", "check", f"{entry.resolve()}:grads", "--signature", "arrays",
                   "--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels",
                   "--activation", "relu", "--reduction", "mean", "--json", str(tmp_path / "r.json"), "--quiet"]
    with_html = R.check_command(A, sub, tier, tmp_path / "r.json", tmp_path / "p.html")
    assert with_html == cmd + ["--html", str(tmp_path / "p.html")]


def test_child_env(monkeypatch):
    monkeypatch.setenv("PYTHONSTARTUP", "/x.py")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/extra")
    env = R.child_env()
    assert "PYTHONSTARTUP" not in env and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["OMP_NUM_THREADS"] == "3" and env["OPENBLAS_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "1"
    assert env["NUMEXPR_NUM_THREADS"] in ("1", os.environ.get("NUMEXPR_NUM_THREADS"))
    root = str(Path(R.__file__).resolve().parents[2])
    assert env["PYTHONPATH"] == os.pathsep.join([root, "/extra"])
    monkeypatch.delenv("PYTHONPATH")
    assert R.child_env()["PYTHONPATH"] == root
    assert os.environ.get("PYTHONSTARTUP") == "/x.py"  # ours untouched


@pytest.mark.parametrize("mb", [None, 700])
def test_limits_are_set_in_the_child(mb):
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_FSIZE)[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=R._limits(mb),
                         check=True).stdout.split()
    import resource

    assert int(out[1]) == R.MAX_FILE_BYTES
    assert int(out[0]) == (mb << 20 if mb else resource.getrlimit(resource.RLIMIT_AS)[0])


def test_run_submissions_needs_a_job():
    with pytest.raises(ValueError) as info:
        R.run_submissions(A, [], jobs=0)
    assert str(info.value) == "jobs must be >= 1, got 0"
    assert R.run_submissions(A, [], jobs=1) == []


def test_a_submission_without_an_entry_file_runs_nothing():
    sub = Submission("bob", Path("/nowhere/bob"), None, "no .py file")
    done = []
    (sr,) = R.run_submissions(A, [sub], jobs=2, on_done=done.append)
    assert sr.runs == [] and sr.submission is sub and done == [sr] and not sr.timed_out


def test_a_refusal_keeps_everything_after_the_first_error_marker(tmp_path):
    run = read(tmp_path, 2, None, "python -m scratch check: error: bad value: error: nested\n")
    assert run.problem == "check refused it: bad value: error: nested"


@pytest.mark.parametrize("where", ["site-packages", "dist-packages"])
def test_an_installed_package_adds_nothing_to_the_path(monkeypatch, where):
    monkeypatch.setattr(R, "__file__", f"/usr/lib/python3/{where}/scratch/grading/runner.py")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert "PYTHONPATH" not in R.child_env()
    monkeypatch.setattr(R, "__file__", f"/home/me/checkout/scratch/grading/runner.py")
    assert R.child_env()["PYTHONPATH"] == "/home/me/checkout"


def test_the_child_writes_no_bytecode_and_a_missing_startup_file_is_fine(monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONSTARTUP", raising=False)
    env = R.child_env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and "PYTHONSTARTUP" not in env
