"""``python -m scratch check``: exit 0 / 1 / 2, the report, JSON; and the pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scratch.lab.cli import main

HERE = Path(__file__).parent
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


SWEEP = ["--seeds", "0", "--shapes", "small", "n1", "--dtypes", "float64", "--targets", "labels", "--quiet"]


def test_check_passes_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["check", "user_impls:textbook", *SWEEP, "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["passed"] and data["n_cases"] == 2 and data["implementation"] == "user_impls:textbook"
    text = capsys.readouterr().out
    assert "all passed" in text and "not checked (not returned)" in text and f"wrote {out}" in text


def test_check_file_path_and_arrays_signature(capsys):
    assert main(["check", f"{HERE / 'user_impls.py'}:textbook_arrays", "--signature", "arrays", *SWEEP]) == 0


def test_check_exits_1_with_diagnosis(capsys):
    assert main(["check", "user_impls:doubled", *SWEEP]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "Diagnosis:" in out and "twice the truth" in out


@pytest.mark.parametrize("argv, message", [
    (["check", "no_such_module:f"], "cannot import 'no_such_module'"),
    (["check", "user_impls:nope"], "has no 'nope'; its public callables: argmax_targets"),
    (["check", "user_impls"], "expected module:function"),
    (["check", "user_impls:textbook", "--signature", "arrays"], "say signature='params'"),
    (["check", "user_impls:textbook", "--seeds", "-1"], "--seeds: -1 is negative"),
    (["check", "user_impls:textbook", "--json", "/no/such/folder/r.json"], "folder '/no/such/folder' does not exist"),
    (["check", "user_impls:textbook", "--json", "r.txt"], "unsupported extension '.txt'"),
    (["check", "user_impls:textbook", "--shapes", "1,2"], "four positive integers"),
    (["check", "user_impls:textbook", "--dtypes", "float16"], "invalid choice: 'float16'"),
])
def test_bad_usage_exits_2_with_a_message_before_any_work(argv, message, capsys, monkeypatch):
    import scratch.testing

    monkeypatch.setattr(scratch.testing, "run_cases", lambda *a, **k: pytest.fail("work started"))
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unusable_return_is_a_failing_case_exit_1(tmp_path, capsys):
    mod = tmp_path / "tuple_impl.py"
    mod.write_text("import user_impls\n"
                   "def f(p, x, y):\n    L, g = user_impls.textbook(p, x, y)\n    return L, tuple(g.values())\n")
    assert main(["check", f"{mod}:f", *SWEEP]) == 1  # each case's failure; the sweep goes on
    assert "the order of the gradients is unknown" in capsys.readouterr().out


def test_console_script_and_module_entry_point():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    r = subprocess.run([sys.executable, "-m", "scratch", "check", "user_impls:column_sign", *SWEEP],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1 and "sign flipped only in column(s) 0" in r.stdout, r.stderr


# --------------------------------------------------------------------------------------------
# The pytest plugin
# --------------------------------------------------------------------------------------------


PLUGIN_SWEEP = ["--scratch-seeds", "0", "--scratch-shapes", "small", "n1", "--scratch-dtypes", "float64",
                "--scratch-targets", "labels", "soft", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark"]


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester whose subprocesses import user_impls (and this checkout's scratch)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    return pytester


def _run(pytester, *args):
    pytester.makepyfile(test_own="def test_own():\n    assert 1 + 1 == 2\n")
    return pytester.runpytest_subprocess(*args, *PLUGIN_SWEEP)


def test_plugin_adds_the_sweep_with_readable_ids(pytester):
    result = _run(pytester, "--scratch-impl", "user_impls:textbook", "-v")
    result.assert_outcomes(passed=1 + 4)
    result.stdout.fnmatch_lines(["*collected 5 items*",  # the sweep's items are counted as collected
                                 "*scratch-conformance?s0-small-float64-labels?*PASSED*",
                                 "*scratch conformance*", "*blind spots*"])


def test_plugin_failure_shows_the_diagnosis(pytester):
    result = _run(pytester, "--scratch-impl", "user_impls:argmax_targets")
    result.assert_outcomes(passed=1 + 2, failed=2)
    result.stdout.fnmatch_lines(["*no known pitfall matches*", "*FAILED*scratch-conformance?s0-small-float64-soft?*"])


def test_plugin_is_inert_without_the_option(pytester):
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert "scratch-conformance" not in result.stdout.str() and "blind spots" not in result.stdout.str()


def test_plugin_bad_impl_is_a_usage_error(pytester):
    result = _run(pytester, "--scratch-impl", "user_impls:nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--scratch-impl user_impls:nope*has no 'nope'*"])
