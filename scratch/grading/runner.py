"""Running ``python -m scratch check`` on each submission, ``jobs`` at a time, never hanging.

Each tier of each submission is one ``check`` command in its own process (a fresh
interpreter), started in its own session (so its whole process group can be killed) with:

- an empty working folder of its own (never the student's folder: ``python -m`` puts the
  working folder first on ``sys.path``, and a student's ``scratch.py`` or ``numpy.py`` must not
  shadow ours);
- an address-space limit (``RLIMIT_AS``, ``[limits] memory``) and a file-size limit
  (``RLIMIT_FSIZE``, :data:`MAX_FILE_BYTES`: a flood of prints cannot fill the disk) set in
  the child before it executes Python (``preexec_fn``; safe because the grader runs no other threads: the
  progress bar's monitor thread is switched off);
- a wall-clock deadline shared by all the submission's tiers (``[limits] time``): at the
  deadline the whole process group is killed (SIGKILL) and the submission is flagged as timed
  out;
- one BLAS thread (``OPENBLAS_NUM_THREADS=1`` etc., unless set), since ``--jobs`` already
  fills the cores; no ``.pyc`` files written into the student's folder.

Its report is written to a fresh path in a private temporary folder and read back only when
the exit status and the report agree (exit 0 with ``passed: true``, exit 1 with ``passed:
false``, and exactly the tier's cases); anything else is a failure of the submission, never
a pass.  The loop polls the running processes (no threads), so a crash, a hang or a flood of
output from one never stops the others.  On ``KeyboardInterrupt`` every running process group
is killed before the exception goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import Assignment, TierSweep
from .submissions import Submission

#: Seconds between two looks at the running processes.
POLL_S = 0.02
#: Seconds a check process gets after SIGTERM (to stop its worker) before SIGKILL.
TERM_GRACE = 2.0
#: At most this many characters of a process's stderr/stdout are kept (the end of it).
TAIL_CHARS = 2000
#: Largest report read back (a bigger one is a failure of the submission, not a memory problem of ours).
MAX_REPORT_BYTES = 64 << 20
#: Largest file a check process may write (its output logs, its report, its page): 256 MiB.
MAX_FILE_BYTES = 256 << 20
#: Environment variables set for each check process unless already set.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class TierRun:
    """One ``check`` run: the ``tier``, the ``command``, its ``returncode`` (negative: killed
    by that signal; None: not run), ``seconds``, whether it ``timed_out``, the ``report`` read
    back (None when there is no usable one) and ``problem`` (why not), the ends of its
    ``stderr`` and ``stdout``, and the ``html`` page it wrote (when asked)."""

    tier: str
    command: list[str]
    returncode: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    report: dict[str, Any] | None = None
    problem: str | None = None
    stderr: str = ""
    stdout: str = ""
    html: str | None = None

    @property
    def not_gradable(self) -> bool:
        """``check`` refused the submission as bad usage (exit 2: it does not import, has no
        entry point, the wrong signature, or returned something unreadable)."""
        return self.returncode == 2


@dataclass
class SubmissionRun:
    """Every tier run of one submission (``runs``, in tier order; a tier not reached has
    ``returncode`` None), and the total wall-clock ``seconds``."""

    submission: Submission
    runs: list[TierRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def timed_out(self) -> bool:
        return any(r.timed_out for r in self.runs)


def signal_name(code: int) -> str:
    """``SIGSEGV`` for 11 (the number when unknown)."""
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def check_command(assignment: Assignment, submission: Submission, tier: TierSweep, json_path: Path,
                  html_path: Path | None = None) -> list[str]:
    """The ``python -m scratch check`` command grading ``submission`` on ``tier``."""
    assert submission.entry_file is not None
    target = f"{submission.entry_file.resolve()}:{assignment.entry_point}"
    cmd = [sys.executable, "-m", "scratch", "check", target, "--signature", assignment.signature,
           *tier.check_args(), *assignment.spec_args(), "--json", str(json_path), "--quiet"]
    if html_path is not None:
        cmd += ["--html", str(html_path)]
    return cmd


def child_env() -> dict[str, str]:
    """The environment of a check process: ours, one BLAS thread, no bytecode written, and
    (when this package runs from a source checkout) that checkout first on ``PYTHONPATH``,
    so that the check that grades is the grader's own code."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    for var in THREAD_VARS:
        env.setdefault(var, "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def _limits(mb: int | None) -> Callable[[], None]:
    """What the child runs between fork and exec: the address-space limit (``mb`` MiB; None:
    none) and :data:`MAX_FILE_BYTES` per file written (Python ignores SIGXFSZ, so a flood of
    output fails in the submission with ``OSError: File too large`` instead of filling the disk)."""
    import resource

    def apply() -> None:
        if mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))

    return apply


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_CHARS))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return ("..." if size > TAIL_CHARS else "") + text


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (what a failing command said last)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def read_report(run: TierRun, json_path: Path, expected_ids: Sequence[str]) -> None:
    """Fill ``run.report`` from ``json_path`` when the exit status and the report agree, else
    ``run.problem``."""
    rc = run.returncode
    assert rc is not None
    if rc == 2:
        said = last_line(run.stderr)
        run.problem = f"check refused it: {said.split(': error: ', 1)[-1] or '(no message)'}"
        return
    if rc < 0:
        run.problem = f"crashed: killed by {signal_name(-rc)}"
        return
    if rc not in (0, 1):
        run.problem = f"crashed: the check process exited with status {rc}"
        return
    try:
        if json_path.stat().st_size > MAX_REPORT_BYTES:
            run.problem = f"crashed: a report of {json_path.stat().st_size:,} bytes"
            return
        report = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        run.problem = f"crashed: check exited with status {rc} without writing its report"
        return
    except (OSError, ValueError, RecursionError) as exc:
        run.problem = f"crashed: the report cannot be read ({type(exc).__name__})"
        return
    if not isinstance(report, dict) or not isinstance(report.get("cases"), list):
        run.problem = "crashed: the report is not a check report"
        return
    if bool(report.get("passed")) != (rc == 0):
        run.problem = f"crashed: check exited with status {rc} but its report says passed={report.get('passed')!r}"
        return
    ids = [c.get("id") if isinstance(c, dict) else None for c in report["cases"]]
    if sorted(map(str, ids)) != sorted(expected_ids):
        said = last_line(run.stderr)
        run.problem = (f"crashed: the report holds {len(ids)} case(s), not the tier's {len(expected_ids)}"
                       + (f" ({said})" if said else ""))
        return
    run.report = report


class _Job:
    """The tiers of one submission, run one after the other under one deadline."""

    def __init__(self, assignment: Assignment, submission: Submission, work: Path, index: int,
                 expected: dict[str, list[str]], html_dir: Path | None) -> None:
        self.a, self.sub, self.work, self.index = assignment, submission, work, index
        self.expected, self.html_dir = expected, html_dir
        self.result = SubmissionRun(submission)
        self.start = time.monotonic()
        self.deadline = self.start + assignment.time_limit
        self.pending = deque(assignment.tiers)
        self.proc: subprocess.Popen | None = None
        self.current: TierRun | None = None
        self.tier_start = 0.0
        self.files: tuple[Path, Path, Path] | None = None
        self.done = False

    def begin(self) -> None:
        """Start the first tier (called once the job is in the runner's list, so that an
        interrupt from here on kills what it started)."""
        if self.sub.entry_file is None:  # nothing to run
            self._finish()
        else:
            self._start_next()

    def _start_next(self) -> None:
        if not self.pending:
            self._finish()
            return
        tier = self.pending.popleft()
        base = self.work / f"{self.index}-{tier.name}"
        cwd = Path(str(base) + ".cwd")
        cwd.mkdir()
        json_path, out, err = Path(str(base) + ".json"), Path(str(base) + ".out"), Path(str(base) + ".err")
        html = None
        if self.html_dir is not None:
            html = self.html_dir / self.sub.name / f"{tier.name}.html"
            html.parent.mkdir(parents=True, exist_ok=True)
            html.unlink(missing_ok=True)  # a page left from an earlier run is not this run's
        cmd = check_command(self.a, self.sub, tier, json_path, html)
        self.current = TierRun(tier.name, cmd, html=str(html) if html else None)
        self.files = (json_path, out, err)
        self.tier_start = time.monotonic()
        try:
            with open(out, "wb") as fo, open(err, "wb") as fe:
                self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                             env=child_env(), start_new_session=True,
                                             preexec_fn=_limits(self.a.memory_mb))
        except (OSError, subprocess.SubprocessError) as exc:  # e.g. the memory limit too small to start
            self.current.returncode, self.current.problem = -1, f"crashed: could not start check: {exc}"
            self.current.html = None  # no page was written
            self.result.runs.append(self.current)
            self.proc = self.current = None
            self._start_next()

    def poll(self) -> bool:
        """Advance: True once every tier has run (or the deadline passed)."""
        if self.done:
            return True
        assert self.proc is not None and self.current is not None and self.files is not None
        rc = self.proc.poll()
        now = time.monotonic()
        if rc is None:
            if now < self.deadline:
                return False
            self.kill()
            self.current.timed_out = True
            self.current.problem = f"timed out: killed after the limit of {self.a.time_limit:g} s"
        run = self.current
        run.returncode, run.seconds = (rc if rc is not None else self.proc.returncode), now - self.tier_start
        json_path, out, err = self.files
        run.stderr, run.stdout = _tail(err), _tail(out)
        if not run.timed_out:
            read_report(run, json_path, self.expected[run.tier])
        if run.html and not (run.report and Path(run.html).is_file()):
            run.html = None
        self.result.runs.append(run)
        self.proc = self.current = None
        if run.timed_out or run.not_gradable:  # the rest would fail the same way (or has no time left)
            self.pending.clear()
        self._start_next()
        return self.done

    def kill(self) -> None:
        """Stop the running check and reap it: SIGTERM to its process group first (``check``
        then stops its worker, which lives in a process group of its own, and the worker's
        children with it), SIGKILL to the group after :data:`TERM_GRACE` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    self.proc.wait(timeout=TERM_GRACE)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:  # the group may outlive its leader: nothing of it stays
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc is not None:
            self.proc.wait()

    def _finish(self) -> None:
        self.result.seconds = time.monotonic() - self.start
        self.done = True


def run_submissions(
    assignment: Assignment,
    submissions: Sequence[Submission],
    *,
    jobs: int,
    html_dir: Path | None = None,
    on_done: Callable[[SubmissionRun], None] | None = None,
) -> list[SubmissionRun]:
    """Run every tier of every submission, ``jobs`` submissions at a time.

    Parameters
    ----------
    assignment : the validated config (tiers, limits, entry point, network).
    submissions : from :func:`scratch.grading.submissions.find_submissions`.
    jobs : how many submissions run at once (>= 1).
    html_dir : when given, each tier also writes ``html_dir/NAME/TIER.html`` (check's ``--html``).
    on_done : called with each :class:`SubmissionRun` as it finishes (progress, reports).

    Returns
    -------
    list of SubmissionRun, in the order of ``submissions``.

    On ``KeyboardInterrupt`` (or any exception) every running process group is killed and
    reaped, the temporary folder removed, and the exception raised again.
    """
    import shutil

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    expected = {t.name: [c.id for c in t.cases(assignment.spec)] for t in assignment.tiers}
    work = Path(tempfile.mkdtemp(prefix="scratch-grade-"))
    queue = deque(enumerate(submissions))
    active: list[_Job] = []
    results: dict[int, SubmissionRun] = {}
    try:
        while queue or active:
            while queue and len(active) < jobs:
                i, sub = queue.popleft()
                job = _Job(assignment, sub, work, i, expected, html_dir)
                active.append(job)
                job.begin()
            for job in list(active):
                if job.poll():
                    active.remove(job)
                    results[job.index] = job.result
                    if on_done is not None:
                        on_done(job.result)
            if active:
                time.sleep(POLL_S)
    finally:
        for job in active:
            job.kill()
        shutil.rmtree(work, ignore_errors=True)
    return [results[i] for i in range(len(submissions))]
