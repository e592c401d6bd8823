"""The grader's run loop on real ``check`` processes, pinned (issue 21): a small class of one-case
tiers, fast enough for the mutation run's selection (tests/test_grade.py is the whole story).

A submission's tiers run in order under one deadline, a time-out or a refusal stops the rest,
results come back in the class's order whatever finishes first, the pages are written only
for tiers with a report, and a check that cannot start is a crash of that tier.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from scratch.grading import runner as R
from scratch.grading.config import parse_assignment
from scratch.grading.submissions import Submission

CONFIG = ('[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n'
          "[rubric.ordinary]\nloss = 1\n[rubric.robustness]\nloss = 1\n[rubric.float32]\n")
A = parse_assignment(CONFIG)
GOOD = "from scratch.network import loss_and_grads\n"


def sub(tmp_path, name, body):
    path = tmp_path / "class" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return Submission(path.name, path, path)


def test_a_class_in_order_with_each_tier_run(tmp_path):
    subs = [sub(tmp_path, "a_good", GOOD), sub(tmp_path, "b_none", "x = 1\n"), sub(tmp_path, "c_good", GOOD)]
    done = []
    results = R.run_submissions(A, subs, jobs=2, on_done=lambda sr: done.append(sr.submission.name))
    assert [r.submission for r in results] == subs and sorted(done) == sorted(s.name for s in subs)
    good = results[0]
    assert [r.tier for r in good.runs] == ["ordinary", "robustness"]
    for r in good.runs:
        assert (r.returncode, r.problem, r.timed_out, r.html) == (0, None, False, None), r.stderr
        assert r.report["passed"] and [c["id"] for c in r.report["cases"]] == \
            [c.id for c in A.tier(r.tier).cases(A.spec)]
        assert r.command[:5] == R.check_command(A, subs[0], A.tier(r.tier), Path("x"))[:5] and r.seconds > 0
    assert good.seconds >= sum(r.seconds for r in good.runs) * 0.5 and not good.timed_out
    refused = results[1]
    assert len(refused.runs) == 1 and refused.runs[0].not_gradable  # the robustness tier is not run
    assert refused.runs[0].problem.startswith("check refused it: ")


def test_a_submission_past_the_time_limit_is_killed_and_its_other_tiers_not_run(tmp_path):
    slow = parse_assignment(CONFIG + "[limits]\ntime = 1.5\n")
    hang = sub(tmp_path, "hang", "import time\ndef loss_and_grads(params, x, y):\n    time.sleep(60)\n")
    (sr,) = R.run_submissions(slow, [hang], jobs=1)
    assert len(sr.runs) == 1 and sr.timed_out and sr.runs[0].timed_out and sr.runs[0].report is None
    assert sr.runs[0].problem == "timed out: killed after the limit of 1.5 s"
    assert 1.5 <= sr.seconds < 15


def test_pages_are_written_for_tiers_with_a_report(tmp_path):
    html = tmp_path / "html"
    old = html / "a_good.py" / "ordinary.html"
    old.parent.mkdir(parents=True)
    old.write_text("a page of an earlier run")
    (sr,) = R.run_submissions(A, [sub(tmp_path, "a_good", GOOD)], jobs=1, html_dir=html)
    for r in sr.runs:
        assert r.html == str(html / "a_good.py" / f"{r.tier}.html") and Path(r.html).is_file()
    assert "a page of an earlier run" not in old.read_text()
    (bad,) = R.run_submissions(A, [sub(tmp_path, "b_none", "x = 1\n")], jobs=1, html_dir=html)
    assert bad.runs[0].html is None and not (html / "b_none.py" / "ordinary.html").exists()


def test_a_check_that_cannot_start_is_a_crash_of_each_tier(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError(12, "Cannot allocate memory")

    with monkeypatch.context() as m:
        m.setattr(R.subprocess, "Popen", refuse)
        (sr,) = R.run_submissions(A, [sub(tmp_path, "a_good", GOOD)], jobs=1)
    assert [r.tier for r in sr.runs] == ["ordinary", "robustness"]
    for r in sr.runs:
        assert (r.returncode, r.report, r.problem) == (-1, None, "crashed: could not start check: [Errno 12] Cannot "
                                                                 "allocate memory")
    tiny = dataclasses.replace(A, memory_mb=1)  # 1 MiB: the interpreter starts and cannot run
    (sr,) = R.run_submissions(tiny, [sub(tmp_path, "a_good", GOOD)], jobs=1)
    assert all(r.problem and r.problem.startswith("crashed: ") and r.report is None for r in sr.runs)


def test_the_work_folder_is_removed(tmp_path, monkeypatch):
    import tempfile

    made = []
    real = tempfile.mkdtemp

    def spy(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    R.run_submissions(A, [sub(tmp_path, "a_good", GOOD)], jobs=1)
    assert made and not Path(made[0]).exists()


def test_an_exception_in_the_loop_kills_what_runs(tmp_path):
    class Stop(Exception):
        pass

    hang = sub(tmp_path, "hang", "import time\ndef loss_and_grads(params, x, y):\n    time.sleep(60)\n")
    started = []

    def boom(sr):
        raise Stop

    real_poll = R._Job.poll

    def poll(self):
        started.append(self.proc)
        if len(started) > 20:
            raise Stop
        return real_poll(self)

    import unittest.mock

    with unittest.mock.patch.object(R._Job, "poll", poll), pytest.raises(Stop):
        R.run_submissions(A, [hang], jobs=1, on_done=boom)
    procs = [p for p in started if p is not None]
    assert procs and all(p.poll() is not None for p in procs)  # killed and reaped
