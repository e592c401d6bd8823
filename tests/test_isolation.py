"""Hostile and careless submissions (issue 19): the user's code runs in a worker process and
nothing it does becomes a pass, takes the checker down, or shows the checker's traceback.

Each probe is a few lines written to ``tmp_path`` and checked with ``python -m scratch check``
(in-process ``main``: the user's code runs in the worker either way), asserting the exit status
and the verdict's text.  Wrong code is the truth doubled (``WRONG``); right code is the truth.
Time-outs are 0.5 s; nothing sleeps longer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import scratch.testing as st
from scratch.lab.cli import main
from scratch.worker import Isolated

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]

#: Every submission starts with these: the truth and the truth doubled.
PRELUDE = '''
import os, sys, time
import numpy as np
from scratch.network import loss_and_grads as _truth

def right(p, x, y):
    return _truth(p, x, y)

def wrong(p, x, y):
    L, g = _truth(p, x, y)
    return L, {k: 2 * v for k, v in g._asdict().items()}

_calls = [0]
def nth_call():
    _calls[0] += 1
    return _calls[0]
'''

#: One case (``small``) or two (``small n1``: three calls, the first case is called twice).
ONE = ["--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels", "--quiet"]
TWO = ["--seeds", "0", "--shapes", "small", "n1", "--dtypes", "float64", "--targets", "labels", "--quiet"]


def submission(folder: Path, body: str, name: str = "sub.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path


def check(tmp_path: Path, capsys, body: str, *options: str, sweep=ONE) -> tuple[int, str, dict | None]:
    """Run ``check`` on the submission's ``fn``: (exit status, stdout + stderr, the JSON report)."""
    sub = submission(tmp_path / "student", body)
    out = tmp_path / "r.json"
    rc = main(["check", f"{sub}:fn", *sweep, "--json", str(out), *options])
    text = "".join(capsys.readouterr())
    assert "Traceback" not in text, text
    return rc, text, json.loads(out.read_text()) if out.exists() else None


# Each probe: (id, body defining fn, extra options, expected exit status, text the report must hold)
PROBES = [
    ("sys-exit-0-on-third-call", """
        def fn(p, x, y):
            if nth_call() == 3:
                sys.exit(0)
            return wrong(p, x, y)
        """, [], 1, "called sys.exit(0)"),
    ("sys-exit-0-on-third-call-right-otherwise", """
        def fn(p, x, y):
            if nth_call() == 3:
                sys.exit(0)
            return right(p, x, y)
        """, [], 1, "called sys.exit(0)"),
    ("os-exit-0-on-third-call", """
        def fn(p, x, y):
            if nth_call() == 3:
                os._exit(0)
            return right(p, x, y)
        """, [], 1, "exit status 0"),
    ("atexit-os-exit-0", """
        import atexit
        atexit.register(os._exit, 0)
        fn = wrong
        """, [], 1, "twice the truth"),
    ("patch-network-loss-and-grads-at-import", """
        import scratch.network, scratch
        scratch.network.loss_and_grads = scratch.loss_and_grads = wrong
        fn = wrong
        """, [], 1, "twice the truth"),
    ("patch-relative-error-at-call", """
        import scratch.compare
        def fn(p, x, y):
            scratch.compare.relative_error = lambda a, b: 0.0
            return wrong(p, x, y)
        """, [], 1, "twice the truth"),
    ("patch-caseresult-ok", """
        import scratch.testing
        scratch.testing.CaseResult.ok = property(lambda self: True)
        scratch.testing.Report.ok = property(lambda self: True)
        fn = wrong
        """, [], 1, "twice the truth"),
    ("patch-np-max-at-import", """
        np.max = np.amax = lambda *a, **k: 0.0
        fn = wrong
        """, [], 1, "twice the truth"),
    ("segfault", """
        import ctypes
        def fn(p, x, y):
            ctypes.string_at(0)
        """, [], 1, "SIGSEGV (segmentation fault)"),
    ("sleep-forever", """
        def fn(p, x, y):
            time.sleep(3600)
        """, ["--timeout", "0.5"], 1, "timed out after 0.5 s"),
    ("child-process-sleeps-forever", """
        import subprocess
        def fn(p, x, y):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            time.sleep(3600)
        """, ["--timeout", "0.5"], 1, "the worker and its children were killed"),
    ("non-daemon-thread-forever-right", """
        import threading
        def fn(p, x, y):
            threading.Thread(target=time.sleep, args=(3600,)).start()
            return right(p, x, y)
        """, ["--timeout", "0.5"], 0, "all passed"),
    ("sys-exit-3", """
        def fn(p, x, y):
            sys.exit(3)
        """, [], 1, "called sys.exit(3)"),
    ("keyboard-interrupt", """
        def fn(p, x, y):
            raise KeyboardInterrupt
        """, [], 1, "raised KeyboardInterrupt (at "),
    ("seterr-raise-at-import-right", """
        np.seterr(all="raise")
        import warnings; warnings.simplefilter("error")
        fn = right
        """, ["--shapes", "huge"], 0, "all passed"),
    ("close-sys-stdout-wrong", """
        def fn(p, x, y):
            if not sys.stdout.closed:
                print("closing stdout")
                sys.stdout.close(); sys.stderr.close(); os.close(1); os.close(2)
            return wrong(p, x, y)
        """, [], 1, "twice the truth"),
    ("close-sys-stdout-right", """
        def fn(p, x, y):
            if not sys.stdout.closed:
                sys.stdout.close(); os.close(1)
            return right(p, x, y)
        """, [], 0, "all passed"),
    ("string-array", """
        def fn(p, x, y):
            L, g = right(p, x, y)
            return L, {**g._asdict(), "dW1": np.array(["a"] * g.dW1.size).reshape(g.dW1.shape)}
        """, [], 1, "dW1 is an array of dtype <U1"),
    ("object-array", """
        def fn(p, x, y):
            L, g = right(p, x, y)
            return L, {**g._asdict(), "dW1": g.dW1.astype(object)}
        """, [], 1, "dW1 is an array of dtype object"),
    ("exception-whose-str-raises", """
        class Nasty(Exception):
            def __str__(self):
                raise RuntimeError("no")
        def fn(p, x, y):
            raise Nasty()
        """, [], 1, "raised Nasty: <str() of the exception raised RuntimeError>"),
    ("mapping-whose-getitem-raises", """
        from collections.abc import Mapping
        class Bad(Mapping):
            def __getitem__(self, k): raise RuntimeError("boom")
            def __iter__(self): return iter(["loss", "dW1", "db1", "dW2", "db2"])
            def __len__(self): return 5
        def fn(p, x, y):
            return Bad()
        """, [], 1, "returned a value the kit cannot read"),
    ("garbage-on-the-channel", """
        def fn(p, x, y):
            os.write(int(sys.argv[-1]), b"\\xff" * 64)
            return right(p, x, y)
        """, [], 1, "not a result"),
    ("huge-length-on-the-channel", """
        import struct
        def fn(p, x, y):
            os.write(int(sys.argv[-1]), struct.pack(">Q", 7 << 40))
            return right(p, x, y)
        """, [], 1, "more than the"),
    ("memory-limit", """
        def fn(p, x, y):
            np.ones(10 ** 10)
            return right(p, x, y)
        """, ["--memory", "1024"], 1, "MemoryError"),
    ("crash-at-import", """
        os._exit(0)
        fn = right
        """, [], 1, "while importing"),
    ("raise-at-import", """
        raise ValueError("broken at import")
        fn = right
        """, [], 1, "broken at import"),
    ("unreadable-return-on-one-case-only", """
        def fn(p, x, y):
            return None if x.shape[0] == 1 else right(p, x, y)
        """, ["--shapes", "small", "n1"], 1, "1 failed"),
    ("right-code-prints", """
        def fn(p, x, y):
            print("debug: N =", x.shape[0])
            return right(p, x, y)
        """, [], 0, "| debug: N = 4"),
]


@pytest.mark.parametrize("body, options, status, text", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_probe(tmp_path, capsys, body, options, status, text):
    rc, out, report = check(tmp_path, capsys, body, *options, sweep=TWO if "nth_call" in body else ONE)
    assert rc == status, out
    assert text in out, out
    assert report is not None and report["passed"] is (status == 0)


def test_a_crash_costs_one_case_the_rest_run_in_a_fresh_worker(tmp_path, capsys):
    marker = tmp_path / "crashed"
    rc, out, report = check(tmp_path, capsys, f"""
        import ctypes
        def fn(p, x, y):
            if not os.path.exists({str(marker)!r}):
                open({str(marker)!r}, "w").close()
                ctypes.string_at(0)
            return right(p, x, y)
        """, sweep=["--seeds", "0", "1", "2", "--shapes", "small", "--dtypes", "float64", "--targets", "labels",
                    "--quiet"])
    assert rc == 1
    assert [c["passed"] for c in report["cases"]] == [False, True, True]
    assert "SIGSEGV" in report["cases"][0]["error"] and report["cases"][0]["ended"] == "signal"


def test_after_three_crashes_the_rest_are_not_run_and_the_report_says_why(tmp_path, capsys):
    rc, out, report = check(tmp_path, capsys, """
        def fn(p, x, y):
            os._exit(7)
        """, sweep=["--seeds", "0", "1", "2", "3", "4", "--shapes", "small", "--dtypes", "float64",
                    "--targets", "labels", "--quiet"])
    assert rc == 1 and report["n_failed"] == 5
    assert "exit status 7" in report["cases"][0]["error"]
    assert report["cases"][4]["error"].startswith("not run: the worker ended 3 times")
    assert [c["ended"] for c in report["cases"]] == ["exit"] * 3 + ["not run"] * 2


def test_huge_exception_text_is_cut(tmp_path, capsys):
    rc, out, report = check(tmp_path, capsys, """
        def fn(p, x, y):
            raise ValueError("x" * 20_000_000)
        """)
    assert rc == 1 and "more characters cut" in out
    assert (tmp_path / "r.json").stat().st_size < 100_000


def test_chdir_cannot_redirect_the_report_and_a_stale_one_is_removed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text('{"passed": true}')
    sub = submission(tmp_path / "student", """
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
        fn = wrong
        """)
    assert main(["check", f"{sub}:fn", *ONE, "--json", "r.json"]) == 1
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False
    assert not (tmp_path / "student" / "r.json").exists()


def test_a_folder_with_its_own_oracles_and_numpy_shadows_nothing(tmp_path, capsys):
    folder = tmp_path / "student"
    folder.mkdir()
    for name in ("numpy.py", "oracles.py", "scratch.py", "traceback.py", "json.py"):
        (folder / name).write_text("raise ImportError('the shadow was imported')\n")
    rc, out, report = check(tmp_path, capsys, "fn = right\n")
    assert rc == 0, out
    rc, out, report = check(tmp_path, capsys, "def fn(p, x, y):\n    raise ValueError('mine')\n")
    assert rc == 1 and "raised ValueError: mine (at " in out  # the traceback module is ours, not the shadow
    import oracles

    assert Path(oracles.__file__).resolve().parent == ROOT / "oracles"


def test_the_log_beside_the_report_holds_the_prints(tmp_path, capsys):
    rc, out, report = check(tmp_path, capsys, """
        import warnings
        def fn(p, x, y):
            print("hello from the student")
            warnings.warn("careful")
            return right(p, x, y)
        """)
    assert rc == 0
    log = (tmp_path / "r.log").read_text()
    assert "hello from the student" in log and "careful" in log
    assert report["output"]["first_lines"][0] == "hello from the student"
    assert "hello from the student" not in json.dumps(report["cases"])


def test_a_missing_function_is_still_a_usage_error(tmp_path, capsys):
    sub = submission(tmp_path, "fn = right\n")
    assert main(["check", f"{sub}:nope", *ONE]) == 2
    assert "has no 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--timeout", "0"), ("--timeout", "x"), ("--memory", "10")])
def test_bad_limits_are_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "m:f", option, value])
    assert exc.value.code == 2


# --------------------------------------------------------------------------------------------
# Real processes: the exit status the shell sees, Ctrl-C
# --------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_atexit_os_exit_0_cannot_make_the_process_exit_0(tmp_path):
    sub = submission(tmp_path, "import atexit\natexit.register(os._exit, 0)\nfn = wrong\n")
    r = subprocess.run([sys.executable, "-m", "scratch", "check", f"{sub}:fn", *ONE], capture_output=True, text=True,
                       env=_env(), timeout=120)
    assert r.returncode == 1 and "twice the truth" in r.stdout and "Traceback" not in r.stderr


def test_ctrl_c_stops_the_worker_exits_130_and_leaves_no_report(tmp_path):
    marker = tmp_path / "pid"
    sub = submission(tmp_path, f"""
        def fn(p, x, y):
            open({str(marker) + '.tmp'!r}, "w").write(str(os.getpid()))
            os.replace({str(marker) + '.tmp'!r}, {str(marker)!r})
            time.sleep(3600)
        """)
    out = tmp_path / "r.json"
    out.write_text('{"passed": true}')
    proc = subprocess.Popen([sys.executable, "-m", "scratch", "check", f"{sub}:fn", *ONE, "--timeout", "60",
                             "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr and "interrupted" in stderr
    assert not out.exists() and not list(tmp_path.glob(".r.json.*"))
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)


# --------------------------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------------------------


def test_a_target_string_is_isolated_by_default(tmp_path):
    sub = submission(tmp_path, "import scratch.testing\nscratch.testing.CaseResult.ok = property(lambda s: True)\n"
                               "fn = wrong\n")
    report = st.check_implementation(f"{sub}:fn", seeds=[0], shapes=["small"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    assert not report.ok and report.implementation == f"{sub}:fn"


def test_a_hang_at_import_is_a_time_out_for_every_case(tmp_path):
    sub = submission(tmp_path, "time.sleep(3600)\nfn = right\n")
    case = st.cases([0], ["small"], ["float64"], ["labels"])[0]
    with Isolated(f"{sub}:fn", load_timeout=0.5) as worker:
        first, second = worker.run(case.params, case.x, case.y), worker.run(case.params, case.x, case.y)
    assert first.outputs is None and "timed out after 0.5 s during the import" in first.error
    assert second.error == first.error


@pytest.mark.parametrize("described, why", [
    (["<f8", [1000000000000, 1000], 8], "declaring shape"),
    (["|O", [1], 8], "dtype [|]O"),
    (["<f8", [1], 8000], "declaring shape"),
    (["|V8", [1], 8], "dtype [|]V8"),
    ("<f8", "not \\[dtype, shape, nbytes\\]"),
    (["no-such", [1], 8], "unknown dtype"),
], ids=["shape-larger-than-data", "object-dtype", "bytes-past-the-message", "void-dtype", "not-a-list", "unknown"])
def test_a_forged_array_description_is_refused_before_allocating(described, why):
    import json
    import struct

    from scratch.worker import _unpack

    head = json.dumps({"names": ["loss"], "arrays": [described]}).encode()
    with pytest.raises(ValueError, match=why):
        _unpack(struct.pack(">I", len(head)) + head + b"\x00" * 8)


def test_arrays_round_trip_big_endian_fortran_order_and_scalars():
    from scratch.worker import _pack, _unpack

    sent = [np.arange(6.0).reshape(2, 3).astype(">f8"), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
            np.float32(1.5) * np.ones((), np.float32), np.zeros((0, 3)), np.arange(4, dtype=np.int64)]
    header, got = _unpack(_pack({"op": "x"}, sent)[8:])
    assert header["op"] == "x"
    for a, b in zip(sent, got, strict=True):
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)


def test_a_callable_cannot_be_isolated():
    with pytest.raises(ValueError, match="isolate=True needs the implementation as a target string"):
        st.run_cases(lambda p, x, y: None, st.cases([0], ["small"], ["float64"], ["labels"]), isolate=True)


def test_in_process_the_reference_keeps_our_floating_point_settings():
    import scratch

    old = np.seterr(all="raise")
    try:
        report = st.check_implementation(scratch.loss_and_grads, seeds=[0], shapes=["huge"], dtypes=["float64"],
                                         targets=["labels"], blind_spots=False)
    finally:
        np.seterr(**old)
    assert report.ok, report


def test_in_process_an_unreadable_return_on_one_case_is_that_cases_failure():
    import scratch

    def fn(p, x, y):
        return None if x.shape[0] == 1 else scratch.loss_and_grads(p, x, y)

    results = st.run_cases(fn, st.cases([0], ["small", "n1"], ["float64"], ["labels"]))
    assert [r.ok for r in results] == [True, False] and "returned NoneType" in results[1].error


def test_isolated_worker_api_outcome(tmp_path):
    sub = submission(tmp_path, "fn = right\n")
    case = st.cases([0], ["small"], ["float64"], ["labels"])[0]
    with Isolated(f"{sub}:fn", timeout=5) as worker:
        outcome = worker.run(case.params, case.x, case.y)
    assert outcome.error is None and outcome.outputs["dz1"].shape == (4, 5)
    assert np.all(np.isfinite(outcome.outputs["dW1"])) and outcome.outputs["dW1"].shape == (3, 5)


# --------------------------------------------------------------------------------------------
# Under the pytest plugin
# --------------------------------------------------------------------------------------------

PLUGIN = ["--scratch-seeds", "0", "--scratch-shapes", "small", "--scratch-dtypes", "float64",
          "--scratch-targets", "labels", "soft", "-p", "no:cacheprovider", "-p", "no:benchmark"]


@pytest.fixture
def plugin_run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    def run(body: str, *args: str):
        sub = submission(pytester.path / "student", body)
        pytester.makepyfile(test_own="def test_own():\n    assert True\n")
        result = pytester.runpytest_subprocess("--scratch-impl", f"{sub}:fn", *PLUGIN, *args, timeout=120)
        assert "Traceback" not in result.stdout.str() + result.stderr.str()
        return result

    return run


@pytest.mark.parametrize("xdist", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist-n2"])
def test_plugin_patching_the_kit_never_passes(plugin_run, xdist):
    result = plugin_run("import scratch.testing, scratch.compare\n"
                        "scratch.testing.CaseResult.ok = property(lambda s: True)\n"
                        "scratch.compare.relative_error = lambda a, b: 0.0\nfn = wrong\n", *xdist)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*= scratch conformance =*", "*2 of 2 case(s) failed*", "*twice the truth*"])
    assert result.stdout.str().count("no known pitfall matches") == 1  # one diagnosis per run


def test_plugin_segfault_and_hang_are_failures_not_a_dead_run(plugin_run):
    result = plugin_run("import ctypes\n"
                        "def fn(p, x, y):\n    ctypes.string_at(0) if y.ndim == 1 else time.sleep(3600)\n",
                        "-p", "no:xdist", "--scratch-timeout", "0.5")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*SIGSEGV*", "*timed out after 0.5 s*"])


def test_plugin_exits_and_keyboard_interrupt_are_failures(plugin_run):
    result = plugin_run("def fn(p, x, y):\n"
                        "    if y.ndim == 1:\n        os._exit(0)\n"
                        "    if np.all((y == 0) | (y == 1)):\n        raise KeyboardInterrupt\n"
                        "    if np.allclose(y.sum(axis=1), 1):\n        sys.exit(0)\n"
                        "    return right(p, x, y)\n",
                        "-p", "no:xdist", "--scratch-targets", "labels", "onehot", "soft", "unnormalized")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["*exit status 0*", "*raised KeyboardInterrupt*", "*called sys.exit(0)*"])


def test_plugin_spec_options_and_rerun_by_node_id(plugin_run):
    body = ("import functools\nfrom scratch import NetworkSpec\n"
            "fn = functools.partial(_truth, spec=NetworkSpec(activation='relu', reduction='sum'))\n")
    result = plugin_run(body, "-p", "no:xdist", "--scratch-activation", "relu", "--scratch-reduction", "sum", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["scratch-conformance?s0-small-float64-labels-*PASSED*"])
    rerun = plugin_run(body, "-p", "no:xdist", "--scratch-activation", "relu", "--scratch-reduction", "sum",
                       "-v", result.stdout.str().split("scratch-conformance[")[1].split("]")[0].join(
                           ["scratch-conformance[", "]"]))
    rerun.assert_outcomes(passed=1)


# --------------------------------------------------------------------------------------------
# Ctrl-C in every command
# --------------------------------------------------------------------------------------------

#: The least each command needs to parse.
_ARGV = {"check": ["check", "m:f"], "cases": ["cases", "export", "somewhere"]}


def _commands() -> list[str]:
    import argparse

    from scratch.lab import cli

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def _interrupt(args):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command", _commands())
def test_ctrl_c_in_every_command_exits_130_without_a_traceback(command, monkeypatch, capsys):
    import argparse

    from scratch.lab import cli

    real = cli.build_parser

    def interrupting(prog=None):
        parser = real(prog)
        todo = [parser]
        while todo:  # every (nested) sub-command's func raises KeyboardInterrupt
            for action in todo.pop()._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for p in action.choices.values():
                        p.set_defaults(func=_interrupt)
                        todo.append(p)
        return parser

    monkeypatch.setattr(cli, "build_parser", interrupting)
    assert cli.main(_ARGV.get(command, [command])) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_one_worker_serves_two_sweeps_in_a_row(tmp_path):
    """`check --identify` runs its probes, then the sweep, on one worker: the second sweep's
    announced calls must be sent (they were not, once, and every call timed out)."""
    sub = tmp_path / "right.py"
    sub.write_text("from scratch.network import loss_and_grads as _t\n"
                   "def f(params, x, y):\n    return _t(params, x, y)\n")
    with Isolated(f"{sub}:f", "params", timeout=5) as worker:
        for shapes in (["small"], ["n1", "small"]):
            report = st.check_implementation(worker, seeds=[0], shapes=shapes, dtypes=["float64"],
                                             targets=["labels"], blind_spots=False)
            assert report.ok, report.summary()
            assert all(r.ended is None for r in report.results)


def test_a_report_folder_that_takes_no_file_is_a_usage_error_before_work(tmp_path, capsys):
    """/proc exists but takes no file: exit 2 naming the path, before the submission runs."""
    marker = tmp_path / "ran"
    sub = tmp_path / "s.py"
    sub.write_text(f"open({str(marker)!r}, 'w').close()\nfrom scratch.network import loss_and_grads as f\n")
    assert main(["check", f"{sub}:f", *ONE, "--json", "/proc/report.json"]) == 2
    err = capsys.readouterr().err
    assert "/proc" in err and "Traceback" not in err
    assert not marker.exists()
