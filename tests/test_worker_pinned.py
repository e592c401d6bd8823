"""scratch.worker's parent side pinned against mutmut's survivors (issue 21).

``Isolated``'s arguments (every bound at its edge, each message word for word), its log (a
temporary file named and removed, a given one kept, bytes that are not UTF-8), and the calls
announced by ``expect``: a call out of order, one skipped, one on other arrays than announced
and a second sweep on one worker each get the outputs of *their* inputs, never of another
call's.  tests/test_worker_ends.py has the ways a worker ends; test_isolation.py the kit through it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from scratch import worker as W
from scratch.cases import make_case
from scratch.network import loss_and_grads

_count = itertools.count()
RIGHT = "from scratch.network import loss_and_grads as net\n"


@pytest.fixture
def target(tmp_path):
    path = tmp_path / f"pinned_{next(_count)}.py"
    path.write_text(RIGHT)
    return f"{path}:net"


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, message", [
    ({"signature": "tuple"}, "signature must be one of params, arrays, model, got 'tuple'"),
    ({"timeout": 0}, "timeout must be a number of seconds in (0, 86400], got 0"),
    ({"timeout": 86400.5}, "timeout must be a number of seconds in (0, 86400], got 86400.5"),
    ({"timeout": "5"}, "timeout must be a number of seconds in (0, 86400], got '5'"),
    ({"load_timeout": 0}, "load_timeout must be a number of seconds in (0, 86400], got 0"),
    ({"load_timeout": float("nan")}, "load_timeout must be a number of seconds in (0, 86400], got nan"),
    ({"load_timeout": 86400.5}, "load_timeout must be a number of seconds in (0, 86400], got 86400.5"),
    ({"load_timeout": None}, "load_timeout must be a number of seconds in (0, 86400], got None"),
    ({"memory": 63}, "memory must be None or a number of MiB >= 64, got 63"),
    ({"memory": (1 << 30) + 1}, f"memory must be None or a number of MiB >= 64, got {(1 << 30) + 1}"),
    ({"memory": 64.0}, "memory must be None or a number of MiB >= 64, got 64.0"),
], ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_bad_arguments_are_refused_with_their_value(target, kw, message):
    with pytest.raises(ValueError) as err:
        W.Isolated(target, **kw)
    assert str(err.value) == message


@pytest.mark.parametrize("kw", [{"timeout": 86400}, {"timeout": 1e-3}, {"load_timeout": 86400},
                                {"load_timeout": 1e-3}, {"memory": 64}, {"memory": 1 << 30},
                                {"memory": None}, {"signature": "arrays"}], ids=str)
def test_arguments_at_their_bounds_are_accepted(target, kw):
    w = W.Isolated(target, **kw)
    try:
        for k, v in kw.items():
            assert getattr(w, k) == v
        assert w.last is None and w.calls == 0 and w.crashes == [] and w.load_error is None
    finally:
        w.close()


def test_the_working_folder_is_resolved_and_defaults_to_ours(target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = W.Isolated(target, cwd=".")
    v = W.Isolated(target)
    try:
        assert w.cwd == v.cwd == str(tmp_path.resolve())
    finally:
        w.close()
        v.close()


# --------------------------------------------------------------------------------------------
# The log
# --------------------------------------------------------------------------------------------


def test_a_temporary_log_is_named_for_the_kit_and_removed_at_close(target):
    w = W.Isolated(target)
    path = w.log_path
    assert path.parent == Path(tempfile.gettempdir()).resolve()
    assert path.name.startswith("scratch-worker-") and path.name.endswith(".log") and path.is_file()
    w.close()
    assert not path.exists()


def test_a_log_given_is_emptied_kept_and_read_with_bytes_that_are_not_utf8_replaced(target, tmp_path):
    log = tmp_path / "mine.log"
    log.write_bytes(b"left from before\n")
    w = W.Isolated(target, log=log)
    assert log.read_bytes() == b""
    log.write_bytes(b"caf\xe9 ok\n" + b"x" * 300 + b"\nthird\n")
    assert w.log_head(lines=2, width=250) == ["caf\ufffd ok", W._cut("x" * 300, 250)]
    w.close()
    assert log.is_file()


# --------------------------------------------------------------------------------------------
# Calls announced by expect: each run gets its own inputs' outputs
# --------------------------------------------------------------------------------------------


def cases3():
    return [make_case(s, (4, 3, 5, 3), np.dtype(np.float64), "labels") for s in (0, 1, 2)]


def truth(case, params=None):
    L, g = loss_and_grads(params if params is not None else case.params, case.x, case.y)
    return float(L), g.dW1


def assert_outputs_of(out, case, params=None):
    assert out.error is None, out.error
    L, dW1 = truth(case, params)
    assert float(out.outputs["loss"]) == pytest.approx(L, rel=1e-12)
    np.testing.assert_allclose(out.outputs["dW1"], dW1, rtol=1e-12)


def test_announced_calls_run_in_order(target):
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        for c in cs:
            assert_outputs_of(w.run(c.params, c.x, c.y), c)


def test_a_call_out_of_order_skips_the_ones_before_it(target):
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        assert_outputs_of(w.run(cs[0].params, cs[0].x, cs[0].y), cs[0])  # the feeder has sent them all
        assert_outputs_of(w.run(cs[2].params, cs[2].x, cs[2].y), cs[2])  # case 1 skipped
        assert_outputs_of(w.run(cs[1].params, cs[1].x, cs[1].y), cs[1])  # not announced any more


def test_a_call_on_the_announced_x_with_other_params_is_not_the_announced_one(target):
    cs = cases3()
    other = type(cs[0].params)(*(p * 1.5 for p in cs[0].params))
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        assert_outputs_of(w.run(other, cs[0].x, cs[0].y), cs[0], other)
        assert_outputs_of(w.run(cs[1].params, cs[1].x, cs[1].y), cs[1])


def test_a_call_on_the_announced_params_with_another_x_is_not_the_announced_one(target):
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        x = cs[0].x.copy() * 2.0
        out = w.run(cs[0].params, x, cs[0].y)
        assert out.error is None
        L = float(loss_and_grads(cs[0].params, x, cs[0].y)[0])
        assert float(out.outputs["loss"]) == pytest.approx(L, rel=1e-12)


def test_a_second_sweep_on_one_worker_gets_its_own_calls(target):
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        assert_outputs_of(w.run(cs[0].params, cs[0].x, cs[0].y), cs[0])  # two calls left, already sent
        w.expect([(c.params, c.x, c.y) for c in reversed(cs)])
        for c in reversed(cs):
            assert_outputs_of(w.run(c.params, c.x, c.y), c)
        assert w.calls == 4 and w.crashes == []


@pytest.fixture
def counting(tmp_path):
    """A submission that appends its process id to ``imports`` when imported, to ``calls`` per call."""
    path = tmp_path / f"counting_{next(_count)}.py"
    path.write_text(f"""
import os
from scratch.network import loss_and_grads
with open({str(tmp_path / 'imports')!r}, "a") as f:
    f.write(f"{{os.getpid()}}\\n")

def net(params, x, y):
    with open({str(tmp_path / 'calls')!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    return loss_and_grads(params, x, y)
""")
    return f"{path}:net", tmp_path / "imports", tmp_path / "calls"


def test_announced_calls_and_a_second_sweep_run_in_the_one_worker(counting):
    """No restart while the calls come as announced, nor for a second sweep once the first is done."""
    fn, imports, calls = counting
    cs = cases3()
    with W.Isolated(fn) as w:
        for sweep in (cs, cs[::-1]):
            w.expect([(c.params, c.x, c.y) for c in sweep])
            for c in sweep:
                assert_outputs_of(w.run(c.params, c.x, c.y), c)
    assert len(imports.read_text().split()) == 1
    assert set(calls.read_text().split()) == set(imports.read_text().split())


def test_a_first_call_out_of_order_before_anything_was_sent_needs_no_restart(counting):
    fn, imports, _ = counting
    cs = cases3()
    with W.Isolated(fn) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        assert_outputs_of(w.run(cs[1].params, cs[1].x, cs[1].y), cs[1])
        assert_outputs_of(w.run(cs[2].params, cs[2].x, cs[2].y), cs[2])
    assert len(imports.read_text().split()) == 1


# --------------------------------------------------------------------------------------------
# After a crash: the restart, and the last crash named
# --------------------------------------------------------------------------------------------


def fails_on_second_import(tmp_path, rest):
    """A submission whose first import works and whose every later import raises; ``rest`` is
    the rest of its source (defining ``net``)."""
    marker = tmp_path / f"imported once {next(_count)}"
    path = tmp_path / f"second_import_{next(_count)}.py"
    path.write_text(f"import os\nif os.path.exists({str(marker)!r}):\n    raise RuntimeError(\"the second import "
                    f"fails\")\nopen({str(marker)!r}, \"w\").close()\n{rest}")
    return f"{path}:net"


def test_an_import_that_fails_on_the_restart_after_a_crash_is_the_calls_error(tmp_path):
    target = fails_on_second_import(tmp_path, "\ndef net(params, x, y):\n    os._exit(4)\n")
    case = cases3()[0]
    with W.Isolated(target) as w:
        first = w.run(case.params, case.x, case.y)
        second = w.run(case.params, case.x, case.y)
    assert first.ended == "exit" and "exit status 4" in first.error
    assert second.outputs is None and second.ended == "import"
    assert second.error == w.load_error and "the second import fails" in second.error


def test_the_calls_not_run_name_the_last_crash(tmp_path):
    count = tmp_path / "count"
    path = tmp_path / f"exits_{next(_count)}.py"
    path.write_text(f"""
import os

def net(params, x, y):
    n = len(open({str(count)!r}).read()) if os.path.exists({str(count)!r}) else 0
    open({str(count)!r}, "a").write("x")
    os._exit(3 + n)
""")
    case = cases3()[0]
    with W.Isolated(f"{path}:net") as w:
        outs = [w.run(case.params, case.x, case.y) for _ in range(W.MAX_CRASHES + 1)]
    statuses = [f"exit status {3 + i}" for i in range(W.MAX_CRASHES)]
    assert [s in o.error for s, o in zip(statuses, outs)] == [True] * W.MAX_CRASHES
    assert outs[-1].error == (f"not run: the worker ended {W.MAX_CRASHES} times on earlier cases "
                              f"(last: {outs[W.MAX_CRASHES - 1].error})")


# --------------------------------------------------------------------------------------------
# The worker's environment and the feeder thread
# --------------------------------------------------------------------------------------------


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.mark.parametrize("given", BLAS_THREADS)
def test_the_worker_gets_one_blas_thread_unless_set_and_no_python_variables(tmp_path, monkeypatch, given):
    for k in BLAS_THREADS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv(given, "3")
    monkeypatch.setenv("PYTHONSOMETHING", "1")
    out = tmp_path / "env.txt"
    path = tmp_path / f"env_{next(_count)}.py"
    path.write_text(f"""
import json, os
from scratch.network import loss_and_grads

def net(params, x, y):
    with open({str(out)!r}, "w") as f:
        json.dump({{k: v for k, v in os.environ.items() if k.startswith("PYTHON") or k.endswith("_NUM_THREADS")}}, f)
    return loss_and_grads(params, x, y)
""")
    case = cases3()[0]
    with W.Isolated(f"{path}:net") as w:
        assert w.run(case.params, case.x, case.y).error is None
    import json

    assert json.loads(out.read_text()) == {k: "3" if k == given else "1" for k in BLAS_THREADS}


def test_the_feeder_is_a_named_daemon_thread_that_ends_cleanly(target, monkeypatch):
    import threading

    started, raised = [], []
    real = threading.Thread

    class Recording(real):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(threading, "Thread", Recording)
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        for c in cs:
            assert_outputs_of(w.run(c.params, c.x, c.y), c)
        feeders = [t for t in started if t.name == "scratch-worker-feeder"]
        assert len(feeders) == 1 and feeders[0].daemon is True
        feeders[0].join(10)
    assert not feeders[0].is_alive() and raised == []


def test_an_import_that_fails_on_the_restart_for_a_call_out_of_order(tmp_path):
    """Calls were sent ahead and one is skipped: the worker restarts, and its import now fails."""
    target = fails_on_second_import(tmp_path, "from scratch.network import loss_and_grads as net\n")
    cs = cases3()
    with W.Isolated(target) as w:
        w.expect([(c.params, c.x, c.y) for c in cs])
        assert_outputs_of(w.run(cs[0].params, cs[0].x, cs[0].y), cs[0])
        skipped = w.run(cs[2].params, cs[2].x, cs[2].y)
    assert skipped.outputs is None and skipped.ended == "import"
    assert skipped.error == w.load_error and "the second import fails" in skipped.error


# --------------------------------------------------------------------------------------------
# Where an error happened: the innermost frame in the submission's own file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, words", [
    ("raise ValueError('deep inside')", "raised ValueError: deep inside"),
    ("import sys; sys.exit(2)", "called sys.exit(2)"),
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
], ids=["exception", "exit", "interrupt"])
def test_an_error_in_a_helper_module_is_placed_at_the_submissions_line(tmp_path, body, words):
    folder = tmp_path / f"sub_{next(_count)}"
    folder.mkdir()
    helper = f"helper_{next(_count)}"
    (folder / f"{helper}.py").write_text(f"def boom():\n    {body}\n")
    sub = folder / "submission.py"
    sub.write_text(f"import {helper}\n\n\ndef net(params, x, y):\n    {helper}.boom()\n")
    case = cases3()[0]
    with W.Isolated(f"{sub}:net") as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error.startswith(f"{words} (at {sub.resolve()}:5)"), out.error


def test_an_error_at_import_in_a_helper_module_is_placed_where_it_raised(tmp_path):
    """At import the submission's module is not there yet: the innermost frame outside the kit,
    NumPy and the standard library is named (the helper's line)."""
    folder = tmp_path / f"sub_{next(_count)}"
    folder.mkdir()
    helper = f"helper_{next(_count)}"
    (folder / f"{helper}.py").write_text("raise ImportError('helper cannot load')\n")
    sub = folder / "submission.py"
    sub.write_text(f"\nimport {helper}\n\n\ndef net(params, x, y):\n    pass\n")
    with W.Isolated(f"{sub}:net") as w:
        pass
    assert w.load_error is not None and "helper cannot load" in w.load_error
    assert w.load_error.endswith(f"(at {(folder / (helper + '.py')).resolve()}:1)"), w.load_error


def test_code_run_by_exec_is_not_a_place(tmp_path):
    """A frame of exec'd text (``<string>``) has no file to open: the line that ran it is named."""
    sub = tmp_path / f"exec_{next(_count)}.py"
    sub.write_text("\nexec(\"raise ImportError('from a string')\")\n")
    with W.Isolated(f"{sub}:net") as w:
        pass
    assert w.load_error.endswith(f"(at {sub.resolve()}:2)"), w.load_error


# --------------------------------------------------------------------------------------------
# A worker that closes its channel; what the worker's side of a call sends back
# --------------------------------------------------------------------------------------------

#: The worker's own end of the channel to the parent: ``python -c BOOT KIT life_r p2w_r w2p_w``.
CLOSE_CHANNEL = "import os, sys; os.close(int(sys.argv[4]))"


def submission(tmp_path, body, head=""):
    path = tmp_path / f"sub_{next(_count)}.py"
    path.write_text(f"import os, sys, time\nfrom scratch.network import loss_and_grads\n{head}\n\n"
                    f"def net(params, x, y):\n    {body}\n")
    return f"{path}:net"


def test_a_worker_that_closes_its_channel_and_runs_on_is_named_and_killed_after_the_wait(tmp_path, monkeypatch):
    import time

    monkeypatch.setattr(W, "EXIT_WAIT", 0.5)
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, f"{CLOSE_CHANNEL}; time.sleep(60)"), timeout=30) as w:
        t0 = time.monotonic()
        out = w.run(case.params, case.x, case.y)
        took = time.monotonic() - t0
        assert w._proc is None  # killed, not left to sleep
    assert out.error == ("the worker process closed its channel during the call and still ran 0.5 s later "
                         "(it was killed): no result")
    assert out.ended == "exit" and w.crashes == [("exit", out.error)]
    assert took < 15, f"the parent waited {took:.1f} s for a worker that still ran"


def test_a_worker_that_closes_its_channel_and_then_exits_is_named_by_its_status(tmp_path):
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, f"{CLOSE_CHANNEL}; time.sleep(0.2); os._exit(7)")) as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error == "the worker process ended during the call with exit status 7: no result"
    assert out.ended == "exit"


@pytest.mark.parametrize("memory, hint", [
    (2048, " (the address-space limit is 2048 MiB; --memory sets it)"),
    (None, ""),
], ids=["limit", "no-limit"])
def test_a_worker_killed_by_sigkill_names_the_memory_limit_only_when_there_is_one(tmp_path, memory, hint):
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, "import signal; os.kill(os.getpid(), signal.SIGKILL)"), memory=memory) as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error == f"the worker process ended during the call with signal SIGKILL (killed: out of memory?){hint}: no result"
    assert out.ended == "signal"


def test_numpys_floating_point_warnings_in_the_call_stay_out_of_the_log(tmp_path):
    """The kit judges non-finite values itself; the log holds what the code printed."""
    target = submission(tmp_path, "print('mine'); np.exp(np.array([1000.0])); np.array([0.0]) / 0.0\n"
                                  "    return loss_and_grads(params, x, y)", head="import numpy as np")
    case = cases3()[0]
    with W.Isolated(target) as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)
        assert w.log_head() == ["mine"]


def test_an_optional_gradient_left_out_does_not_drop_the_ones_after_it(tmp_path):
    """dz1 None, dz2 returned (and wrong): dz2 reaches the parent, and is judged."""
    target = submission(tmp_path, "L, g = loss_and_grads(params, x, y)\n"
                                  "    return {'loss': L, 'dW1': g.dW1, 'db1': g.db1, 'dW2': g.dW2, 'db2': g.db2, "
                                  "'dz1': None, 'dz2': 2 * g.dz2}")
    case = cases3()[0]
    with W.Isolated(target) as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error is None, out.error
    assert out.outputs["dz1"] is None
    np.testing.assert_allclose(out.outputs["dz2"], 2 * loss_and_grads(case.params, case.x, case.y)[1].dz2, rtol=1e-12)


def test_code_that_breaks_numpys_array_equal_still_gets_its_values_judged(tmp_path):
    """The in-place check runs in the worker, on NumPy the code can patch: when it raises, the
    call's values still come back (they are judged by the parent, which the code cannot reach).
    Code that patches NumPy can hide an in-place write; docs/isolation.md says so."""
    target = submission(tmp_path, "np.array_equal = boom\n    return loss_and_grads(params, x, y)",
                        head="import numpy as np\n\n\ndef boom(*a, **k):\n    raise RuntimeError('no')")
    case = cases3()[0]
    with W.Isolated(target) as w:
        out = w.run(case.params, case.x, case.y)
    assert_outputs_of(out, case)
    assert out.problems == []


def test_an_error_while_the_returned_value_is_read_is_placed_at_the_submissions_line(tmp_path):
    """The returned mapping's own ``__getitem__`` (in the submission) calls a helper that raises:
    the place named is the submission's line, not the helper's."""
    folder = tmp_path / f"sub_{next(_count)}"
    folder.mkdir()
    helper = f"helper_{next(_count)}"
    (folder / f"{helper}.py").write_text("def boom():\n    raise SystemExit(5)\n")
    sub = folder / "submission.py"
    sub.write_text(f"""import collections.abc
import {helper}


class Result(collections.abc.Mapping):
    def __getitem__(self, k):
        {helper}.boom()

    def __iter__(self):
        return iter(["loss", "dW1", "db1", "dW2", "db2"])

    def __len__(self):
        return 5


def net(params, x, y):
    return Result()
""")
    case = cases3()[0]
    with W.Isolated(f"{sub}:net") as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error == f"returned a value the kit cannot read: called sys.exit(5) (at {sub.resolve()}:7): no result"


# --------------------------------------------------------------------------------------------
# The channel's reply, forged by the worker; a worker that ended between calls; close twice
# --------------------------------------------------------------------------------------------

WRITE_TO_PARENT = "os.write(int(sys.argv[4]), {!r})"


def test_a_reply_longer_than_any_length_is_refused_by_its_length(tmp_path):
    """Eight 0xFF bytes: 2**64 - 1 as the unsigned length the channel uses, refused before reading."""
    body = WRITE_TO_PARENT.format(b"\xff" * 8) + "; time.sleep(60)"
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, body), timeout=30) as w:
        out = w.run(case.params, case.x, case.y, max_bytes=1000)
    assert out.error == ("the worker sent something that is not a result (a reply of 18446744073709551615 bytes, "
                         "more than the 1000 the case's shapes allow)")
    assert out.ended == "garbage"



@pytest.mark.parametrize("cap", [1000, 999])
def test_a_reply_exactly_at_its_cap_is_read(tmp_path, cap):
    """The cap is inclusive: 1000 bytes under a cap of 1000 are read (and found not to be a
    result), under 999 refused by their length before reading."""
    body = WRITE_TO_PARENT.format((1000).to_bytes(8, "big") + b"\xff" * 1000) + "; time.sleep(60)"
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, body), timeout=30) as w:
        out = w.run(case.params, case.x, case.y, max_bytes=cap)
    assert out.ended == "garbage"
    if cap == 999:
        assert out.error == ("the worker sent something that is not a result (a reply of 1000 bytes, "
                             "more than the 999 the case's shapes allow)")
    else:
        assert out.error.startswith("the worker sent something that is not a result (a header of ")

def test_a_reply_that_stops_half_way_times_out_during_the_call(tmp_path):
    body = WRITE_TO_PARENT.format((100).to_bytes(8, "big") + b"{") + "; time.sleep(60)"
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, body), timeout=1) as w:
        out = w.run(case.params, case.x, case.y)
    assert out.error == ("timed out after 1 s during the call (the worker and its children were killed; "
                         "--timeout sets the limit)")
    assert out.ended == "timeout"


def test_a_worker_that_ended_after_its_reply_is_named_on_the_next_call(tmp_path):
    """A thread of the code ends the worker once the first reply is out: the next call's message
    cannot be written, and the call says how the worker ended."""
    body = ("import threading; threading.Thread(target=lambda: (time.sleep(0.3), os._exit(3))).start()\n"
            "    return loss_and_grads(params, x, y)")
    case = cases3()[0]
    with W.Isolated(submission(tmp_path, body)) as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)
        import time

        time.sleep(1.5)
        out = w.run(case.params, case.x, case.y)
    assert out.error == "the worker process ended during the call with exit status 3: no result", out.error


def test_closing_twice_closes_nothing_of_ours(target):
    import os

    w = W.Isolated(target)
    w.start()
    w.close()
    w.close()
    for fd in (0, 1, 2):
        os.fstat(fd)  # still open


def test_a_time_limit_under_a_second_still_lets_a_fast_call_through(target):
    """The limit counts down to 0, not to 1 s: a call of milliseconds passes under a 0.9 s limit."""
    case = cases3()[0]
    with W.Isolated(target, timeout=0.9) as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)



def test_the_worker_reads_no_stdin_writes_its_stderr_to_the_log_and_runs_in_its_folder(tmp_path, monkeypatch, capfd,
                                                                                          stdin_a_pipe):
    """fd level: what the code writes to fd 2 goes to the log, never to ours; fd 0 is the
    null device (a stray ``input()`` ends at once); the working folder is the one given."""
    folder = tmp_path / "given"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    target = submission(tmp_path, "os.write(2, b'to fd 2\\n')\n"
                                  "    assert os.path.samestat(os.fstat(0), os.stat(os.devnull)), 'stdin'\n"
                                  "    open('here.txt', 'w').close()\n"
                                  "    return loss_and_grads(params, x, y)")
    case = cases3()[0]
    with W.Isolated(target, cwd=folder) as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)
        assert w.log_head() == ["to fd 2"]
    out, err = capfd.readouterr()
    assert "to fd 2" not in out + err
    assert (folder / "here.txt").is_file() and not (tmp_path / "here.txt").exists()


def test_the_working_folder_and_the_submissions_folder_shadow_no_module_of_ours(tmp_path):
    """The worker runs isolated (``python -I``: no working folder on ``sys.path``, no user site),
    and imports NumPy and the kit before the submission's folder joins the path."""
    folder, mine = tmp_path / "work", tmp_path / "mine"
    for f in (folder, mine):
        f.mkdir()
        for name in ("numpy.py", "scratch.py", "json.py", "struct.py"):
            (f / name).write_text("raise ImportError('the shadow was imported')\n")
    (mine / "sub.py").write_text(RIGHT)
    case = cases3()[0]
    with W.Isolated(f"{mine / 'sub.py'}:net", cwd=folder) as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)


def test_the_worker_writes_no_bytecode_beside_the_submission(tmp_path):
    (tmp_path / "helper.py").write_text("from scratch.network import loss_and_grads\n")
    (tmp_path / "sub.py").write_text("from helper import loss_and_grads as net\n")
    case = cases3()[0]
    with W.Isolated(f"{tmp_path / 'sub.py'}:net") as w:
        assert_outputs_of(w.run(case.params, case.x, case.y), case)
    assert not (tmp_path / "__pycache__").exists()


def test_a_worker_that_cannot_start_raises_its_error_and_leaves_no_descriptor_open(target, monkeypatch):
    def refuse(*a, **k):
        raise OSError(12, "Cannot allocate memory")

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(W.subprocess, "Popen", refuse)
    w = W.Isolated(target)
    try:
        with pytest.raises(OSError) as err:
            w.start()
        assert err.value.errno == 12
    finally:
        w.close()
    assert set(os.listdir("/proc/self/fd")) <= before


@pytest.mark.parametrize("body, message", [
    ("x = 1\ndef two(a):\n    return a\n", "'{t}': '{f}' has no 'net'; its public callables: two"),
    ("net = 1\n", "'{t}': the implementation must be callable, got int"),
    ("def net(a):\n    return a\n", "'{t}': net(a) cannot be called as fn(params, x, y) (too many positional "
     "arguments); if it takes fn(W1, b1, W2, b2, x, y), say signature='arrays' (CLI: --signature arrays)"),
], ids=["missing", "not-callable", "signature"])
def test_a_target_that_cannot_be_used_is_refused_at_start_with_the_workers_words(tmp_path, body, message):
    path = tmp_path / f"unusable_{next(_count)}.py"
    path.write_text(body)
    w = W.Isolated(f"{path}:net")
    try:
        with pytest.raises(W.ImplementationUnusable) as err:
            w.start()
        assert str(err.value) == message.format(t=f"{path}:net", f=path)
        assert w.load_error is None and w._proc is None  # refused, and the worker stopped
    finally:
        w.close()


@pytest.mark.parametrize("n", [1 << 16, (1 << 16) + 1])
def test_the_imports_reply_has_a_cap_of_64_kib(tmp_path, n):
    """The reply to the import is a short header: a length past 64 KiB is refused unread."""
    path = tmp_path / f"forged_{next(_count)}.py"
    path.write_text(f"import os, sys, time\nos.write(int(sys.argv[4]), ({n}).to_bytes(8, 'big') + b'\\xff' * {n})\n"
                    "time.sleep(60)\n")
    w = W.Isolated(f"{path}:net", load_timeout=30)
    try:
        w.start()
        assert w.load_error.startswith("the worker sent something that is not a result (")
        if n > 1 << 16:
            assert w.load_error == (f"the worker sent something that is not a result (a reply of {n} bytes, more than "
                                    f"the 65536 an import's reply needs) (while importing {path}:net)")
        else:
            assert "a header of " in w.load_error
    finally:
        w.close()
