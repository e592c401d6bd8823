"""Recheck mutmut's survivors against the slow test files, and run the worker's child side.

``mutmut run`` (docs/tests.md, "Mutation testing") runs the fast test files only.  This script
takes every mutant ``mutmut results`` lists as survived, or with no tests (the worker's
child-side loop runs only in the worker process, where mutmut's stats cannot see which test
reaches it), runs the slow, subprocess-driven files against it in ``mutants/``
(``MUTANT_UNDER_TEST=NAME``: the processes the tests start inherit it and run the mutant too),
and prints which are killed there, by which test, and which still survive::

    python scripts/mutants_recheck.py                       # every survivor, two at a time
    python scripts/mutants_recheck.py --only "scratch.worker.x__serve*" --jobs 2
    python scripts/mutants_recheck.py --files tests/test_grade.py --only "scratch.grading*"
    mutmut results > saved.txt; python scripts/mutants_recheck.py --results saved.txt
    python scripts/mutants_recheck.py --status not-checked --only "scratch.worker.xǁIsolatedǁ_kill*" \
        --files tests/test_worker_pinned.py tests/test_worker_ends.py   # never reached by mutmut: fast files

Files by module unless ``--files`` says otherwise: ``scratch.worker`` -> test_isolation,
``scratch.grading`` -> test_grade, anything else -> test_check_command, test_isolation and
test_grade.  Exit status 0 when no mutant survives, 1 when some do, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOW = {"scratch.worker.": ["tests/test_isolation.py"], "scratch.grading.": ["tests/test_grade.py"]}
DEFAULT = ["tests/test_check_command.py", "tests/test_isolation.py", "tests/test_grade.py"]
#: The SIGINT tests need a foreground terminal (named by their whole names: a bare "interrupt" also
#: dropped every test with KeyboardInterrupt in a parameter id); JAX hangs a forked worker
#: (tests/mutmut_no_jax).
KEYWORDS = "not jax and not test_ctrl_c_ and not test_interrupt_exits_130"


#: ``--status`` names -> the words ``mutmut results`` prints.
STATUSES = {"survived": "survived", "no-tests": "no tests", "not-checked": "not checked", "timeout": "timeout",
            "suspicious": "suspicious"}


def survivors(pattern: str, saved: Path | None = None, statuses: tuple[str, ...] = ("survived", "no tests")) -> list[str]:
    """The mutants ``mutmut results`` lists (or listed, in the file ``saved``) with one of
    ``statuses`` (default: survived or with no tests), matching ``pattern``."""
    if saved is not None:
        out = saved.read_text()
    else:
        out = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    names = [m.group(1) for m in re.finditer(r"^\s*(\S+): (.+?)\s*$", out, re.M) if m.group(2) in statuses]
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def files_for(name: str, given: list[str] | None) -> list[str]:
    return given or next((f for prefix, f in SLOW.items() if name.startswith(prefix)), DEFAULT)


#: The process groups of the reruns running now (Ctrl-C reaches only us: :func:`main` stops them).
RUNNING: set[int] = set()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_alone(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a session of its own and kill what is left of that session at its end.

    A mutant may signal its whole process group (the worker's ``start_new_session=False``
    puts the worker in pytest's group, and the worker ends its group when it ends): in our
    group that would end this script.  Raises :class:`subprocess.TimeoutExpired` past ``timeout``."""
    # files, not pipes: a process the rerun left running could hold a pipe open past its end
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True, start_new_session=True)
        RUNNING.add(p.pid)
        try:
            p.wait(timeout=timeout)
        finally:
            _kill_group(p.pid)  # the session's other processes (a worker a mutant left running) go with it
            p.wait()
            RUNNING.discard(p.pid)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())


def run_one(name: str, files: list[str], timeout: float) -> tuple[str, str, str]:
    """(name, "killed" (a test failed, or the run timed out or crashed) / "survived" / "error", the failing test or why)."""
    env = {**os.environ, "MUTANT_UNDER_TEST": name, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT / "tests" / "mutmut_no_jax")}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-k", KEYWORDS,
           *files]
    try:
        p = run_alone(cmd, ROOT / "mutants", env, timeout)
    except subprocess.TimeoutExpired:
        return name, "killed", f"timed out after {timeout:g} s"
    if p.returncode == 0:
        return name, "survived", ""
    if p.returncode == 1:
        failed = re.search(r"^FAILED (\S+)", p.stdout, re.M)
        return name, "killed", failed.group(1) if failed else "a test failed"
    if p.returncode < 0:  # the suite would crash: e.g. a mutant's worker ended pytest's own group
        return name, "killed", f"pytest ended by {signal.Signals(-p.returncode).name}"
    return name, "error", f"pytest exit status {p.returncode}: {(p.stdout + p.stderr).strip().splitlines()[-1:]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="*", help="glob of mutant names (default: every survivor)")
    ap.add_argument("--files", nargs="+", help="test files to run (default: by module, see above)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants at a time (default 2)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant (default 600): longer is killed")
    ap.add_argument("--results", type=Path, help="a saved `mutmut results` output to read instead (the next "
                                                 "`mutmut run` after a change of the tests forgets the results)")
    ap.add_argument("--status", nargs="+", choices=list(STATUSES), default=["survived", "no-tests"],
                    help="which mutants to recheck, by mutmut's status (default: survived no-tests; not-checked: "
                         "those a stopped or narrowed run never reached)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.timeout <= 0:
        ap.error(f"--timeout must be > 0, got {args.timeout:g}")
    if not (ROOT / "mutants").is_dir():
        ap.error(f"no {ROOT / 'mutants'}: run mutmut first (docs/tests.md, 'Mutation testing')")
    missing = [f for f in args.files or [] if not (ROOT / f).is_file()]
    if missing:
        ap.error(f"no such test file: {', '.join(missing)}")
    if args.results is not None and not args.results.is_file():
        ap.error(f"--results {args.results}: no such file")
    names = survivors(args.only, args.results, tuple(STATUSES[k] for k in args.status))
    print(f"{len(names)} mutant(s) to recheck")
    counts = {"killed": 0, "survived": 0, "error": 0}
    pool = ThreadPoolExecutor(args.jobs)
    try:
        for name, status, why in pool.map(lambda n: run_one(n, files_for(n, args.files), args.timeout), names):
            counts[status] += 1
            print(f"{status:8s} {name}" + (f"  ({why})" if why else ""), flush=True)
    except KeyboardInterrupt:  # the reruns live in sessions of their own: stop them here
        pool.shutdown(wait=False, cancel_futures=True)
        for pgid in list(RUNNING):
            _kill_group(pgid)
        print(f"interrupted after {sum(counts.values())} of {len(names)}", file=sys.stderr)
        return 130
    pool.shutdown()
    print(f"killed {counts['killed']}, survived {counts['survived']}, errors {counts['error']}")
    return 1 if counts["survived"] or counts["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
