"""How a worker ends, word for word (issue 21): each way the parent names the end of a worker
that exits, is killed by a signal, hangs, sends garbage or crashes too often.

tests/test_isolation.py proves the isolation through the whole kit; these call
:class:`scratch.worker.Isolated` directly on one case each, fast enough for the mutation run's
selection, and pin the messages a student reads.
"""

from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pytest

from scratch import worker as W
from scratch.cases import make_case
from processes import gone

_count = itertools.count()
CASE = make_case(0, (4, 3, 5, 3), np.dtype(np.float64), "labels")
RIGHT = "from scratch.network import loss_and_grads as net\n"


def submission(tmp_path, body):
    path = tmp_path / f"ends_{next(_count)}.py"
    path.write_text(textwrap.dedent(body))
    return f"{path}:net"


def outcome(tmp_path, body, **kw):
    with W.Isolated(submission(tmp_path, body), "params", **kw) as w:
        return w.run(CASE.params, CASE.x, CASE.y), w


def test_a_result_comes_back(tmp_path):
    out, w = outcome(tmp_path, RIGHT)
    assert out.error is None and out.ended is None and out.problems == []
    assert set(q for q, v in out.outputs.items() if v is not None) == {"loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2"}
    assert w.calls == 1 and w.crashes == []


@pytest.mark.parametrize("code, how, kind", [
    (0, "exit status 0 (os._exit, or an exit the kit could not catch)", "exit"),
    (3, "exit status 3", "exit"),
])
def test_an_exit_during_the_call(tmp_path, code, how, kind):
    out, w = outcome(tmp_path, f"import os\ndef net(params, x, y):\n    os._exit({code})\n")
    assert out.outputs is None and out.ended == kind
    assert out.error == f"the worker process ended during the call with {how}: no result"
    assert w.crashes == [(kind, out.error)]


@pytest.mark.parametrize("sig, how", [
    ("SIGSEGV", "signal SIGSEGV (segmentation fault)"),
    ("SIGKILL", "signal SIGKILL (killed: out of memory?) (the address-space limit is 4096 MiB; --memory sets it)"),
    ("SIGTERM", "signal SIGTERM"),
])
def test_a_signal_during_the_call(tmp_path, sig, how):
    out, _ = outcome(tmp_path, f"import os, signal\ndef net(params, x, y):\n    os.kill(os.getpid(), signal.{sig})\n",
                     memory=4096)
    assert out.ended == "signal" and out.error == f"the worker process ended during the call with {how}: no result"


def test_a_kill_without_a_memory_limit_has_no_memory_hint(tmp_path):
    out, _ = outcome(tmp_path, "import os, signal\ndef net(params, x, y):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
                     memory=None)
    assert out.error == "the worker process ended during the call with signal SIGKILL (killed: out of memory?): no result"


def test_a_hang_is_a_time_out(tmp_path):
    out, _ = outcome(tmp_path, "import time\ndef net(params, x, y):\n    time.sleep(60)\n", timeout=0.5)
    assert out.ended == "timeout"
    assert out.error == ("timed out after 0.5 s during the call (the worker and its children were killed; "
                         "--timeout sets the limit)")


def test_a_hang_at_import_is_timed_by_the_import_limit(tmp_path):
    # the import has its own limit (load_timeout); the message names that one, not the call's
    out, w = outcome(tmp_path, "import time\ntime.sleep(60)\n", timeout=30, load_timeout=0.5)
    assert out.ended == "import" and out.outputs is None
    assert w.load_error == ("timed out after 0.5 s during the import (the worker and its children were "
                            "killed; code at a module's top level runs at import: a training loop "
                            f"belongs under if __name__ == '__main__') (while importing {w.target})")


def test_an_exit_at_import(tmp_path):
    out, w = outcome(tmp_path, "import os\nos._exit(5)\n")
    assert out.ended == "import" and out.outputs is None
    assert out.error == w.load_error and "exit status 5" in out.error and "the import" in out.error


GARBAGE = """
    import struct, sys
    from scratch import worker

    def net(params, x, y):
        fd = int(sys.argv[-1])
        {write}
        import time
        time.sleep(60)
    """


@pytest.mark.parametrize("write, words", [
    ("worker._write_all(fd, struct.pack('>Q', 1 << 40))",
     "the worker sent something that is not a result (a reply of 1099511627776 bytes, more than the "),
    ("worker._write_all(fd, struct.pack('>Q', 4) + b'abcd')",
     "the worker sent something that is not a result (a header of 1633837924 bytes)"),
    ("worker._write_all(fd, worker._pack({'problems': [1]}))",
     "the worker sent something that is not a result (problems that are not text)"),
    ("worker._write_all(fd, worker._pack({'problems': 'x'}))",
     "the worker sent something that is not a result (problems that are not text)"),
    ("worker._write_all(fd, worker._pack({'names': ['loss']}, [__import__('numpy').zeros(())]))",
     "the worker sent something that is not a result (unknown or missing quantity names)"),
    ("worker._write_all(fd, worker._pack({'names': ['loss', 'dW1', 'db1', 'dW2', 'db2', 'dW1']}, "
     "[__import__('numpy').zeros(())] * 6))",
     "the worker sent something that is not a result (unknown or missing quantity names)"),
    ("worker._write_all(fd, worker._pack({'names': ['loss', 'dW1', 'db1', 'dW2', 'db2', 'dX']}, "
     "[__import__('numpy').zeros(())] * 6))",
     "the worker sent something that is not a result (unknown or missing quantity names)"),
    ("worker._write_all(fd, worker._pack({'names': ['loss', 'dW1', 'db1', 'dW2']}, "
     "[__import__('numpy').zeros(())] * 5))",
     "the worker sent something that is not a result (unknown or missing quantity names)"),
])
def test_garbage_on_the_channel_is_no_result(tmp_path, write, words):
    out, _ = outcome(tmp_path, GARBAGE.format(write=write), timeout=5)
    assert out.ended == "garbage" and out.outputs is None and out.error.startswith(words), out.error


def test_a_reply_of_the_adapters_notes_only_and_at_most_ten_problems(tmp_path):
    body = GARBAGE.format(write="worker._write_all(fd, worker._pack({'names': ['loss', 'dW1', 'db1', 'dW2', 'db2'], "
                                "'problems': ['p' * 400] * 12, 'notes': ['made up', 1]}, "
                                "[__import__('numpy').zeros(())] * 5))")
    out, _ = outcome(tmp_path, body, timeout=5)
    assert out.error is None and out.outputs.notes == ()
    assert len(out.problems) == 10 and out.problems[0] == W._cut("p" * 400, 300)


def test_an_error_reply_keeps_its_problems(tmp_path):
    body = GARBAGE.format(write="worker._write_all(fd, worker._pack({'error': 'e' * 2000, 'problems': ['modified x']}))")
    out, _ = outcome(tmp_path, body, timeout=5)
    assert out.outputs is None and out.ended is None and out.error == W._cut("e" * 2000)
    assert out.problems == ["modified x"]


def test_after_max_crashes_the_rest_is_not_run(tmp_path):
    with W.Isolated(submission(tmp_path, "import os\ndef net(params, x, y):\n    os._exit(3)\n"), "params") as w:
        outs = [w.run(CASE.params, CASE.x, CASE.y) for _ in range(W.MAX_CRASHES + 2)]
    assert [o.ended for o in outs] == ["exit"] * W.MAX_CRASHES + ["not run", "not run"]
    assert outs[-1].error == (f"not run: the worker ended {W.MAX_CRASHES} times on earlier cases "
                              f"(last: {outs[W.MAX_CRASHES - 1].error})")
    assert w.calls == W.MAX_CRASHES


def test_a_reply_larger_than_asked_is_not_read(tmp_path):
    with W.Isolated(submission(tmp_path, RIGHT), "params") as w:
        out = w.run(CASE.params, CASE.x, CASE.y, max_bytes=100)
    assert out.ended == "garbage" and out.error.startswith("the worker sent something that is not a result (a reply of ")
    assert out.error.endswith("bytes, more than the 100 the case's shapes allow)")


def test_prints_go_to_the_log_and_its_head_is_cut(tmp_path):
    body = "from scratch.network import loss_and_grads\ndef net(params, x, y):\n" \
           "    for i in range(15):\n        print(str(i) * 300)\n    return loss_and_grads(params, x, y)\n"
    with W.Isolated(submission(tmp_path, body), "params", log=tmp_path / "log.txt") as w:
        w.run(CASE.params, CASE.x, CASE.y)
        head = w.log_head()
        short = w.log_head(lines=2, width=5)
    assert len(head) == 10 and head[0] == W._cut("0" * 300, 200) and head[9] == W._cut("9" * 300, 200)
    assert short == [W._cut("0" * 48, 5)]  # it reads lines * (width + 1) * 4 bytes at most: here 48


def test_a_line_printed_just_before_a_hard_exit_reaches_the_log(tmp_path):
    body = "import os\ndef net(params, x, y):\n    print('last words')\n    os._exit(3)\n"
    with W.Isolated(submission(tmp_path, body), "params", log=tmp_path / "log.txt") as w:
        out = w.run(CASE.params, CASE.x, CASE.y)
        head = w.log_head()
    assert out.ended == "exit" and head == ["last words"]


def test_messages_larger_than_a_pipe_arrive_whole_back_to_back(tmp_path):
    """A call message of ~200 KiB (the 'large' shape) is read in several pieces; the calls are
    announced, so the next message follows at once: each must be read exactly to its end."""
    from scratch.network import loss_and_grads

    big = [make_case(s, (256, 64, 128, 10), np.dtype(np.float64), "labels") for s in (0, 1, 2)]
    with W.Isolated(submission(tmp_path, RIGHT), "params") as w:
        w.expect([(c.params, c.x, c.y) for c in big])
        outs = [w.run(c.params, c.x, c.y) for c in big]
    for c, out in zip(big, outs):
        assert out.error is None, out.error
        L, g = loss_and_grads(c.params, c.x, c.y)
        assert np.array_equal(out.outputs["loss"], L) and np.array_equal(out.outputs["dW1"], g.dW1)


@pytest.mark.parametrize("memory", [700, None])
def test_the_workers_limits_are_set(tmp_path, memory):
    import resource

    body = ("import resource\ndef net(params, x, y):\n    raise RuntimeError('limits %d %d' % ("
            "resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_FSIZE)[0]))\n")
    out, _ = outcome(tmp_path, body, memory=memory)
    ours = resource.getrlimit(resource.RLIMIT_AS)[0]
    want_as = (memory << 20) if memory else ours
    assert out.error.startswith(f"raised RuntimeError: limits {want_as} {W.MAX_FILE_MB << 20} (at "), out.error


ORPHAN_PARENT = '''
import sys
sys.path.insert(0, {repo!r})
import numpy as np
from scratch import worker as W
from scratch.cases import make_case

case = make_case(0, (4, 3, 5, 3), np.dtype(np.float64), "labels")
with W.Isolated({target!r}, "params", timeout=600) as w:
    w.run(case.params, case.x, case.y)
'''

ORPHAN_SUBMISSION = '''
import os, subprocess, time
child = subprocess.Popen(["sleep", "600"])

def net(params, x, y):
    with open({pidfile!r}, "w") as f:
        f.write(f"{{os.getpid()}} {{child.pid}}")
    time.sleep(600)
'''




def test_a_parent_killed_by_sigkill_takes_its_worker_and_the_workers_children_along(tmp_path):
    """The worker lives in a process group of its own, out of reach of a kill of the parent's
    group: when the parent dies by SIGKILL (grade's limit past the grace period, the OOM killer)
    the lifeline's end-of-file makes the worker kill its whole group, mid-call."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pidfile = tmp_path / "pids"
    sub = tmp_path / "orphan_sub.py"
    sub.write_text(ORPHAN_SUBMISSION.format(pidfile=str(pidfile)))
    repo = str(Path(__file__).resolve().parent.parent)
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_PARENT.format(repo=repo, target=f"{sub}:net")])
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.is_file() and len(pidfile.read_text().split()) == 2):
            assert parent.poll() is None and time.monotonic() < deadline, "the call never started"
            time.sleep(0.05)
        worker_pid, child_pid = map(int, pidfile.read_text().split())
        assert not gone(worker_pid, within=0.2) and not gone(child_pid, within=0.2)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        assert gone(worker_pid), "the worker outlived its parent"
        assert gone(child_pid), "the worker's child outlived the worker's parent"
    finally:
        parent.kill()
        for pid in map(int, pidfile.read_text().split()) if pidfile.is_file() else ():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
