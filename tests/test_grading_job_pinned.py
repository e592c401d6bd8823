"""The grader's job loop pinned with a stand-in for ``check`` (issue 21).

tests/test_grading_run_pinned.py runs the real ``check``; its processes take seconds, so it
cannot afford to ask each question of the loop on its own.  Here ``check_command`` is replaced
by a short script (the "submission" file itself, run with the report's path, the page's path
and the tier's name), so each test pins one thing the loop promises, fast: the process it
starts (its own empty folder, no stdin, its own session, the limits, the child environment,
its output kept apart from ours), what happens at the deadline (SIGTERM to the group, SIGKILL
after the grace, nothing of the group left), how many run at once, when a page is kept, and
that stopping a job that runs nothing is harmless.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scratch.grading import runner as R
from scratch.grading.config import parse_assignment
from scratch.grading.submissions import Submission
from processes import gone

# a member other than the seed network: the case ids the loop expects carry its tag
A = parse_assignment('[network]\nactivation = "relu"\n'
                     '[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n'
                     "[rubric.ordinary]\nloss = 1\n[rubric.robustness]\nloss = 1\n[rubric.float32]\n")
IDS = {t.name: [c.id for c in t.cases(A.spec)] for t in A.tiers}
assert [t.name for t in A.tiers] == ["ordinary", "robustness"] and all(i.endswith("-relu") for i in IDS["ordinary"])

PRELUDE = """\
import json, os, resource, signal, subprocess, sys, time
json_path, html_path, tier = sys.argv[1], sys.argv[2], sys.argv[3]
IDS, FACTS, NAME = {ids}, {facts!r}, {name!r}

def report(passed=True):
    with open(json_path, "w") as f:
        json.dump({{"passed": passed, "cases": [{{"id": i}} for i in IDS[tier]]}}, f)

def page():
    with open(html_path, "w") as f:
        f.write("<p>page</p>")

def fact(**kw):
    with open(FACTS, "a") as f:
        f.write(json.dumps(dict(kw, sub=NAME, tier=tier)) + "\\n")
"""


@pytest.fixture
def stand_in(monkeypatch):
    """``check_command`` replaced: each tier runs the submission file as a script."""
    def command(assignment, submission, tier, json_path, html_path=None):
        return [sys.executable, str(submission.entry_file), str(json_path), str(html_path or ""), tier.name]

    monkeypatch.setattr(R, "check_command", command)


def script(tmp_path, name, body) -> Submission:
    facts = tmp_path / "facts.jsonl"
    path = tmp_path / "class" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(PRELUDE.format(ids=json.dumps(IDS), facts=str(facts), name=name) + textwrap.dedent(body))
    return Submission(path.name, path, path)


def facts(tmp_path) -> list[dict]:
    path = tmp_path / "facts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []





def test_each_check_runs_in_a_folder_of_its_own_with_no_stdin_in_its_own_session(tmp_path, monkeypatch,
                                                                                   capfd, stand_in, stdin_a_pipe):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("PYTHONSTARTUP", str(tmp_path / "startup.py"))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    body = """
        fact(cwd=os.getcwd(), files=os.listdir("."),
             stdin_null=os.path.samestat(os.fstat(0), os.stat(os.devnull)),
             leader=os.getpgid(0) == os.getpid() == os.getsid(0),
             startup=os.environ.get("PYTHONSTARTUP"), bytecode=os.environ.get("PYTHONDONTWRITEBYTECODE"),
             address=resource.getrlimit(resource.RLIMIT_AS), fsize=resource.getrlimit(resource.RLIMIT_FSIZE))
        with open("left.txt", "w") as f:
            f.write("a file the check leaves in its folder")
        print("to stdout " + tier)
        print("to stderr " + tier, file=sys.stderr)
        report()
    """
    (sr,) = R.run_submissions(dataclasses.replace(A, memory_mb=3000), [script(tmp_path, "a", body)], jobs=1)
    assert [r.tier for r in sr.runs] == ["ordinary", "robustness"]
    for r in sr.runs:
        assert (r.returncode, r.problem, r.timed_out) == (0, None, False) and r.report["passed"], r.stderr
        assert (r.stdout, r.stderr) == (f"to stdout {r.tier}\n", f"to stderr {r.tier}\n")
    out, err = capfd.readouterr()
    assert "to stdout" not in out + err and "to stderr" not in out + err  # the check's output is not ours
    seen = facts(tmp_path)
    assert len(seen) == 2 and seen[0]["cwd"] != seen[1]["cwd"]
    for f in seen:
        assert f["files"] == [] and Path(f["cwd"]) != here and not Path(f["cwd"]).exists()  # fresh, then removed
        assert f["stdin_null"] and f["leader"] and f["startup"] is None and f["bytecode"] == "1"
        assert f["address"] == [3000 << 20, 3000 << 20] and f["fsize"] == [R.MAX_FILE_BYTES] * 2
    assert os.listdir(here) == []  # nothing lands in the grader's own folder


@pytest.mark.parametrize("jobs", [1, 2])
def test_no_more_than_jobs_submissions_run_at_once(tmp_path, stand_in, jobs):
    body = """
        fact(at=time.monotonic(), what="start")
        time.sleep(0.3)
        fact(at=time.monotonic(), what="end")
        report()
    """
    subs = [script(tmp_path, name, body) for name in "abc"]
    results = R.run_submissions(A, subs, jobs=jobs)
    assert [r.submission for r in results] == subs and all(len(r.runs) == 2 for r in results)
    running, most = 0, 0
    for f in sorted(facts(tmp_path), key=lambda f: (f["at"], f["what"] == "start")):
        running += 1 if f["what"] == "start" else -1
        most = max(most, running)
    assert most == jobs


def test_at_the_deadline_the_group_gets_sigterm_and_nothing_of_it_is_left(tmp_path, monkeypatch, stand_in):
    monkeypatch.setattr(R, "TERM_GRACE", 0.5)
    ready = tmp_path / "ready"
    body = f"""
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                  "signal.SIG_IGN); open({str(ready)!r}, 'w').close(); time.sleep(60)"])
        while not os.path.exists({str(ready)!r}):
            time.sleep(0.01)
        fact(child=child.pid)
        time.sleep(60)
    """
    (sr,) = R.run_submissions(dataclasses.replace(A, time_limit=1.0), [script(tmp_path, "a", body)], jobs=1)
    assert sr.timed_out and len(sr.runs) == 1  # the second tier is not run
    run = sr.runs[0]
    assert run.timed_out and run.report is None and run.problem == "timed out: killed after the limit of 1 s"
    assert run.returncode == -signal.SIGTERM  # it ended at SIGTERM, its status kept
    (f,) = facts(tmp_path)
    assert gone(f["child"])  # a child that ignores SIGTERM is killed with the group


def test_a_check_that_ignores_sigterm_gets_sigkill_after_the_grace(tmp_path, monkeypatch, stand_in):
    monkeypatch.setattr(R, "TERM_GRACE", 0.5)
    body = """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        fact(up=True)
        time.sleep(60)
    """
    (sr,) = R.run_submissions(dataclasses.replace(A, time_limit=1.0), [script(tmp_path, "a", body)], jobs=1)
    assert facts(tmp_path) and sr.timed_out and sr.runs[0].returncode == -signal.SIGKILL
    assert 1.0 <= sr.seconds < 8


def test_a_page_is_kept_only_for_a_tier_with_a_report(tmp_path, stand_in):
    pages = tmp_path / "pages" / "not" / "made"  # the folders are made as needed
    body = """
        page()
        if tier == "ordinary":
            report()
        else:
            sys.exit(3)  # a page, and no report: a crash
    """
    (sr,) = R.run_submissions(A, [script(tmp_path, "a", body)], jobs=1, html_dir=pages)
    ordinary, robustness = sr.runs
    assert ordinary.html == str(pages / "a.py" / "ordinary.html") and ordinary.problem is None
    assert robustness.problem == "crashed: the check process exited with status 3" and robustness.html is None


def test_stopping_a_job_that_runs_nothing_is_harmless(tmp_path, monkeypatch, stand_in):
    sub = script(tmp_path, "a", "report()\n")
    work = tmp_path / "work"
    work.mkdir()
    fresh = R._Job(A, sub, work, 0, IDS, None)
    fresh.kill()  # never begun
    assert fresh.proc is None

    job = R._Job(A, sub, work, 1, IDS, None)
    job.begin()
    while not job.poll():
        time.sleep(0.01)
    assert [r.problem for r in job.result.runs] == [None, None]
    job.kill()  # every tier ran
    assert job.poll() is True and job.proc is None

    def refuse(*a, **k):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(R.subprocess, "Popen", refuse)
    broken = R._Job(A, sub, work, 2, IDS, tmp_path / "pages")
    broken.begin()  # no tier could start
    broken.kill()
    assert broken.poll() is True and broken.proc is None
    assert [(r.returncode, r.html) for r in broken.result.runs] == [(-1, None), (-1, None)]


def test_an_error_of_the_callback_is_not_hidden_by_stopping_the_others(tmp_path, monkeypatch, stand_in):
    class Stop(Exception):
        pass

    def refuse(*a, **k):
        raise OSError(12, "Cannot allocate memory")

    def stop(sr):
        raise Stop

    monkeypatch.setattr(R.subprocess, "Popen", refuse)
    subs = [script(tmp_path, "a", "report()\n"), script(tmp_path, "b", "report()\n"),
            Submission("c", tmp_path / "c", None, "no .py file")]
    with pytest.raises(Stop):  # b and c are finished but still listed when a's callback raises
        R.run_submissions(A, subs, jobs=3, on_done=stop)
