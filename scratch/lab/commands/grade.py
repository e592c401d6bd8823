"""``python -m scratch grade SUBMISSIONS/ --out RESULTS/``: grade a whole class (see :mod:`scratch.grading`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._options import add_quiet_option, output_folder, positive_int, show_progress

#: Most submissions graded at once.
MAX_JOBS = 256
#: Most shards of a class.
MAX_SHARDS = 1000
FORMATS = ("csv", "gradescope")


def shard_spec(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N <= :data:`MAX_SHARDS`."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 2/4")
    ki, ni = int(k), int(n)
    if not 1 <= ki <= ni <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 <= K <= N <= {MAX_SHARDS}")
    return ki, ni


def jobs_count(text: str) -> int:
    """An integer in [1, :data:`MAX_JOBS`]."""
    n = positive_int(text)
    if n > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{n}: at most {MAX_JOBS} jobs")
    return n


def input_file(text: str) -> Path:
    """An existing, readable file."""
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    if not os.access(p, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not readable")
    return p


def input_path(text: str) -> Path:
    """An existing file or folder."""
    p = Path(text)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    return p


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def register(sub: Any) -> None:
    """Add the ``grade`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "grade",
        help="grade a class: check every submission in its own process, score it against a rubric",
        description="Check every submission of SUBMISSIONS/ (a .py file each, or a folder holding the entry "
        "point) with `check`, each in processes of its own (--jobs at a time, each under the time and memory "
        "limits of the assignment), score it against the assignment's rubric (ordinary cases; robustness: huge "
        "logits in float64; float32 accuracy: confident cases) and write RESULTS/grades.csv, one JSON report "
        "per submission (RESULTS/reports/) and a class summary.  --format gradescope grades ONE submission "
        "(a file or folder) into RESULTS/results.json; --gradescope-bundle DIR writes the setup.sh + "
        "run_autograder pair to upload.  Exit 0 when grading ran (whatever the grades), 2 bad usage, "
        "130 interrupted.  See docs/grading.md.",
    )
    p.add_argument("submissions", nargs="?", type=input_path, metavar="SUBMISSIONS",
                   help="the class's folder (one .py file or folder per student); with --format gradescope, "
                        "one submission")
    p.add_argument("--out", type=output_folder, metavar="RESULTS", help="the folder to write into (created)")
    p.add_argument("--config", type=input_file, metavar="assignment.toml",
                   help="the assignment: entry point, network, sweep, limits, rubric (default: the seed network, "
                        "see --print-config)")
    p.add_argument("--jobs", type=jobs_count, default=None, metavar="N",
                   help=f"submissions graded at once (default: the CPU count, {default_jobs()} here)")
    p.add_argument("--shard", type=shard_spec, default=None, metavar="K/N",
                   help="grade only part K of N of the sorted submissions (a CI matrix); writes grades-K-of-N.csv")
    p.add_argument("--html", action="store_true",
                   help="also write one HTML page per submission and tier (RESULTS/html/NAME/TIER.html; needs "
                        "the report and plot extras)")
    p.add_argument("--format", choices=FORMATS, default="csv",
                   help="csv: a class (grades.csv, reports, summary; default); gradescope: one submission "
                        "into RESULTS/results.json")
    p.add_argument("--gradescope-bundle", type=output_folder, metavar="DIR",
                   help="write setup.sh, run_autograder and assignment.toml into DIR (zip its contents and "
                        "upload them to Gradescope), then stop")
    p.add_argument("--print-config", action="store_true", help="print the default assignment.toml and stop")
    add_quiet_option(p)
    p.set_defaults(func=run)


def _check_takes(options: list[str]) -> bool:
    """Whether this version of ``check`` accepts ``options`` (the network options come with the family)."""
    from ..cli import build_parser

    _, extra = build_parser().parse_known_args(["check", "m:f", *options])
    return not extra


def _load(args: argparse.Namespace) -> Any:
    from ...grading import ConfigError, load_assignment

    try:
        assignment = load_assignment(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    spec_args = assignment.spec_args()
    if spec_args and not _check_takes(spec_args):
        raise UsageError(f"{assignment.source}: [network] {assignment.spec.describe()}: this version of `check` "
                         f"does not take {' '.join(a for a in spec_args if a.startswith('--'))}")
    return assignment


def _usage(args: argparse.Namespace) -> None:
    """Every combination of options checked before any work."""
    if args.gradescope_bundle is not None:
        extra = [name for name, given in (("SUBMISSIONS", args.submissions is not None), ("--out", args.out is not None),
                                          ("--shard", args.shard is not None), ("--html", args.html),
                                          ("--format", args.format != "csv")) if given]
        if extra:
            raise UsageError(f"--gradescope-bundle writes the bundle only; drop {', '.join(extra)}")
        return
    if args.submissions is None:
        raise UsageError("SUBMISSIONS is required (or --gradescope-bundle DIR, or --print-config)")
    if args.out is None:
        raise UsageError("--out RESULTS is required")
    if args.format == "gradescope":
        for name, given in (("--shard", args.shard is not None), ("--html", args.html)):
            if given:
                raise UsageError(f"--format gradescope grades one submission; {name} does not apply")
    elif not args.submissions.is_dir():
        raise UsageError(f"SUBMISSIONS {str(args.submissions)!r} is not a folder (one submission? use "
                         "--format gradescope, or put it in a folder)")
    out, subs = args.out.resolve(), args.submissions.resolve()
    if subs.is_dir() and (out == subs or subs in out.parents):
        raise UsageError("--out must not be inside SUBMISSIONS (it would be graded as a submission)")


class _Progress:
    """A tqdm bar on a terminal (the cli extra), else a progress line rewritten in place on a
    terminal, else (piped, logs) one line per submission on stderr; nothing with --quiet."""

    def __init__(self, total: int, args: argparse.Namespace) -> None:
        self.total, self.done, self.bar = total, 0, None
        self.tty = show_progress(args)
        self.lines = not self.tty and not args.quiet
        if self.tty:
            try:
                from tqdm import tqdm

                tqdm.monitor_interval = 0  # no monitor thread: the runner forks with preexec_fn
                self.bar = tqdm(total=total, desc="grade", unit="submission", file=sys.stderr, leave=False)
            except ImportError:
                pass

    def update(self, g: Any) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{g.name}: {g.score:g}/{g.max_score:g}", refresh=False)
        elif self.tty:
            print(f"\rgraded {self.done}/{self.total}", end="", file=sys.stderr, flush=True)
        elif self.lines:
            note = "" if g.status == "graded" else f" ({g.status})"
            print(f"[{self.done}/{self.total}] {g.name}: {g.score:g} / {g.max_score:g}{note} in {g.seconds:.1f} s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.tty and self.done:
            print(file=sys.stderr)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch grade``; return the exit status (0 graded, 2 usage, 130 interrupted)."""
    try:
        return _run(args)
    except KeyboardInterrupt:  # before or after the grading loop (which handles its own)
        print("\ninterrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from ...grading import DEFAULT_CONFIG

    if args.print_config:
        print(DEFAULT_CONFIG, end="")
        return 0
    _usage(args)
    assignment = _load(args)
    if args.gradescope_bundle is not None:
        from ...grading import write_bundle
        from ..report import wrote

        for path in write_bundle(args.gradescope_bundle, assignment):
            wrote(path)
        print(f"zip the folder's contents (cd {args.gradescope_bundle} && zip -r ../autograder.zip .) and upload "
              "the zip as the assignment's autograder (a wheel of this package put in the folder is installed "
              "instead of the released one)")
        return 0
    if args.html:
        from .check import require_html

        require_html(True)
    if args.format == "gradescope":
        return _gradescope(args, assignment)
    return _class(args, assignment)


def _grade(args: argparse.Namespace, assignment: Any, subs: list[Any], on_grade: Any) -> list[Any] | None:
    """Run and score ``subs``; None when interrupted (every process killed)."""
    from ...grading import grade_run, run_submissions
    from ...grading.outputs import PAGES

    jobs = min(args.jobs or default_jobs(), max(1, len(subs)))
    html_dir = (args.out / PAGES) if args.html else None
    progress = _Progress(len(subs), args)
    grades = []

    def done(sr: Any) -> None:
        g = grade_run(assignment, sr)
        on_grade(g)
        grades.append(g)
        progress.update(g)

    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        run_submissions(assignment, subs, jobs=jobs, html_dir=html_dir, on_done=done)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted: {len(grades)} of {len(subs)} submission(s) graded; every check process was stopped",
              file=sys.stderr)
        return None
    finally:
        signal.signal(signal.SIGTERM, old)
    progress.close()
    order = {s.name: i for i, s in enumerate(subs)}
    return sorted(grades, key=lambda g: order[g.name])


def _class(args: argparse.Namespace, assignment: Any) -> int:
    from ...grading import class_summary, find_submissions, grades_csv, shard
    from ...grading.outputs import REPORTS, csv_name, report_json, report_path, summary_json, write_atomic
    from ..report import wrote

    subs, ignored = find_submissions(args.submissions, assignment.file)
    if not subs:
        raise UsageError(f"no submissions in {str(args.submissions)!r}: expected .py files or folders"
                         + (f" (ignored: {', '.join(ignored[:5])})" if ignored else ""))
    total = len(subs)
    if args.shard:
        subs = shard(subs, *args.shard)
    if ignored:
        print(f"ignored (not a .py file or a folder): {', '.join(ignored[:10])}"
              + (f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""), file=sys.stderr)
    out = args.out
    (out / REPORTS).mkdir(parents=True, exist_ok=True)
    csv_path, summary_path = out / csv_name(args.shard), out / ("summary.json" if not args.shard else
                                                                f"summary-{args.shard[0]}-of-{args.shard[1]}.json")
    for stale in (csv_path, summary_path, *(report_path(out, s.name) for s in subs)):  # a file left is this run's
        stale.unlink(missing_ok=True)
    start = time.monotonic()
    grades = _grade(args, assignment, subs, lambda g: write_atomic(report_path(out, g.name), report_json(g, assignment)))
    if grades is None:
        print(f"{csv_path} not written; the reports of the submissions graded are in {out / REPORTS}", file=sys.stderr)
        return 130
    seconds = time.monotonic() - start
    write_atomic(csv_path, grades_csv(grades, assignment))
    write_atomic(summary_path, summary_json(grades, assignment))
    what = f"shard {args.shard[0]}/{args.shard[1]}: " if args.shard else ""
    print(what + class_summary(grades, assignment, seconds=seconds,
                               jobs=min(args.jobs or default_jobs(), len(subs))))
    if args.shard:
        print(f"(this shard graded {len(subs)} of the class's {total} submission(s))")
    print()
    wrote(csv_path)
    wrote(summary_path)
    print(f"wrote {len(grades)} report(s) in {out / REPORTS}" + (f" and page(s) in {out / 'html'}" if args.html else ""))
    return 0


def _gradescope(args: argparse.Namespace, assignment: Any) -> int:
    import json

    from ...formatting import json_ready
    from ...grading import one_submission, results_json
    from ...grading.outputs import write_atomic
    from ..report import wrote

    sub = one_submission(args.submissions, assignment.file)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.unlink(missing_ok=True)
    grades = _grade(args, assignment, [sub], lambda g: None)
    if grades is None:
        return 130
    g = grades[0]
    write_atomic(path, json.dumps(json_ready(results_json(g, assignment)), indent=2) + "\n")
    print(g.feedback())
    wrote(path)
    return 0
