"""scripts/mutants_recheck.py: bad usage exits 2 before any work; survivors read from
``mutmut results``; each rerun classified killed / survived / error (mutmut is not run here)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from processes import gone

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def script(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("mutants_recheck_under_test", ROOT / "scripts" / "mutants_recheck.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    return mod


@pytest.mark.parametrize("argv, words", [
    (["--jobs", "0"], "--jobs must be >= 1, got 0"), (["--timeout", "0"], "--timeout must be > 0, got 0"),
    ([], "run mutmut first"), (["--jobs", "x"], "invalid int value"),
    (["--status", "dead"], "argument --status: invalid choice: 'dead'"),
])
def test_bad_usage_exits_2_before_any_work(script, monkeypatch, capsys, argv, words):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and words in err and "Traceback" not in err


def test_a_missing_test_file_is_named(script, tmp_path, monkeypatch, capsys):
    (tmp_path / "mutants").mkdir()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as info:
        script.main(["--files", "tests/nope.py"])
    assert info.value.code == 2 and "no such test file: tests/nope.py" in capsys.readouterr().err


RESULTS = """\
    scratch.worker.x__serve__mutmut_3: no tests
    scratch.worker.x__serve__mutmut_4: survived
    scratch.diagnosis.x__pattern__mutmut_9: survived
    scratch.diagnosis.x__pattern__mutmut_10: timeout
    scratch.grading.config.x__seeds__mutmut_1: not checked
"""


def test_survivors_are_read_from_mutmut_results(script, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: SimpleNamespace(stdout=RESULTS, returncode=0))
    assert script.survivors("*") == ["scratch.worker.x__serve__mutmut_3", "scratch.worker.x__serve__mutmut_4",
                                     "scratch.diagnosis.x__pattern__mutmut_9"]
    assert script.survivors("scratch.worker*") == ["scratch.worker.x__serve__mutmut_3",
                                                   "scratch.worker.x__serve__mutmut_4"]


def test_survivors_from_a_saved_listing(script, tmp_path, monkeypatch):
    saved = tmp_path / "saved.txt"
    saved.write_text(RESULTS)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("mutmut run"))
    assert script.survivors("scratch.diagnosis*", saved) == ["scratch.diagnosis.x__pattern__mutmut_9"]


def test_other_statuses_are_read_when_asked_for(script, tmp_path, monkeypatch):
    saved = tmp_path / "saved.txt"
    saved.write_text(RESULTS)
    assert script.survivors("*", saved, ("not checked", "timeout")) == ["scratch.diagnosis.x__pattern__mutmut_10",
                                                                         "scratch.grading.config.x__seeds__mutmut_1"]
    seen = []
    monkeypatch.setattr(script, "run_one", lambda n, files, timeout: (seen.append(n), (n, "killed", "t"))[1])
    (tmp_path / "mutants").mkdir()
    assert script.main(["--results", str(saved), "--status", "not-checked"]) == 0
    assert seen == ["scratch.grading.config.x__seeds__mutmut_1"]


def test_a_missing_saved_listing_is_usage(script, tmp_path, capsys):
    (tmp_path / "mutants").mkdir()
    with pytest.raises(SystemExit) as info:
        script.main(["--results", str(tmp_path / "none.txt")])
    assert info.value.code == 2 and "--results" in capsys.readouterr().err


def test_files_by_module(script):
    assert script.files_for("scratch.worker.x__serve__mutmut_1", None) == ["tests/test_isolation.py"]
    assert script.files_for("scratch.grading.config.x__seeds__mutmut_1", None) == ["tests/test_grade.py"]
    assert script.files_for("scratch.diagnosis.x__pattern__mutmut_1", None) == script.DEFAULT
    assert script.files_for("scratch.worker.x__serve__mutmut_1", ["a.py"]) == ["a.py"]


@pytest.mark.parametrize("rc, stdout, status, why", [
    (0, "5 passed", "survived", ""),
    (1, "F\nFAILED tests/test_isolation.py::test_x - AssertionError\n1 failed", "killed", "tests/test_isolation.py::test_x"),
    (1, "1 failed", "killed", "a test failed"),
    (5, "no tests ran", "error", "pytest exit status 5: ['no tests ran']"),
    (-9, "....", "killed", "pytest ended by SIGKILL"),
])
def test_each_rerun_is_classified(script, monkeypatch, rc, stdout, status, why):
    seen = {}

    def fake(cmd, cwd, env, timeout):
        seen.update(cwd=cwd, env=env, timeout=timeout)
        return SimpleNamespace(returncode=rc, stdout=stdout, stderr="")

    monkeypatch.setattr(script, "run_alone", fake)
    assert script.run_one("scratch.m.x_f__mutmut_1", ["tests/t.py"], 10) == ("scratch.m.x_f__mutmut_1", status, why)
    assert seen["env"]["MUTANT_UNDER_TEST"] == "scratch.m.x_f__mutmut_1" and seen["cwd"] == script.ROOT / "mutants"
    assert seen["timeout"] == 10


def test_a_rerun_past_its_time_is_killed(script, monkeypatch):
    def slow(cmd, cwd, env, timeout):
        raise subprocess.TimeoutExpired(cmd, timeout)

    monkeypatch.setattr(script, "run_alone", slow)
    assert script.run_one("n", ["t.py"], 2.5) == ("n", "killed", "timed out after 2.5 s")


def test_a_rerun_that_kills_its_process_group_does_not_end_the_script(script, tmp_path):
    """A mutant's worker may end its whole group (the worker's start_new_session=False): the
    rerun runs in a session of its own, so the group is not ours."""
    code = "import os, signal; print('out'); os.killpg(0, signal.SIGKILL)"
    p = script.run_alone([sys.executable, "-c", code], tmp_path, dict(os.environ), 60)
    assert p.returncode == -signal.SIGKILL and p.stdout == "out\n"  # and we are still here


def test_what_a_rerun_leaves_running_is_killed_with_it(script, tmp_path):
    pid_file = tmp_path / "pid"
    code = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f" open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60 if sys.argv[1] == 'hang' else 0)")
    for how in ("ends", "hang"):
        start = time.monotonic()
        if how == "hang":
            with pytest.raises(subprocess.TimeoutExpired):
                script.run_alone([sys.executable, "-c", code, how], tmp_path, dict(os.environ), 1.5)
        else:
            assert script.run_alone([sys.executable, "-c", code, how], tmp_path, dict(os.environ), 60).returncode == 0
        assert time.monotonic() - start < 30
        assert gone(int(pid_file.read_text()))




def test_the_script_runs_as_a_command_and_says_what_it_does():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutants_recheck.py"), "--help"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and "Recheck mutmut's survivors" in p.stdout


def test_ctrl_c_exits_130(script, tmp_path, monkeypatch, capsys):
    (tmp_path / "mutants").mkdir()
    monkeypatch.setattr(script, "survivors", lambda *a: ["n1", "n2"])

    def interrupted(*a):
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "run_one", interrupted)
    assert script.main([]) == 130
    assert "interrupted after 0 of 2" in capsys.readouterr().err


def test_ctrl_c_stops_the_reruns_running(script, tmp_path, monkeypatch, capsys):
    """The reruns run in sessions of their own, out of reach of the terminal's Ctrl-C: the
    script kills their groups itself, and does not wait for them."""
    (tmp_path / "mutants").mkdir()
    pid_file = tmp_path / "pid"
    monkeypatch.setattr(script, "survivors", lambda *a: ["n1", "n2"])

    def run_one(name, files, timeout):
        if name == "n2":  # a rerun that would take a minute
            code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
            script.run_alone([sys.executable, "-c", code], tmp_path, dict(os.environ), 120)
            return name, "killed", "t"
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "run_one", run_one)
    start = time.monotonic()
    assert script.main(["--jobs", "2"]) == 130
    assert time.monotonic() - start < 20 and gone(int(pid_file.read_text()))
    assert "interrupted after 0 of 2" in capsys.readouterr().err
