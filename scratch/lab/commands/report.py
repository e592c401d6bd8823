"""``python -m scratch report``: one self-contained HTML page to look at, built from a fresh run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..report import write_json
from ..errors import UsageError
from ..progress import PlainProgress
from ._options import add_json_option, add_quiet_option, output_file, show_progress

#: Modules the page needs (each named with its extra when missing).
NEEDS = ("latex2mathml", "pygments", "matplotlib", "mpmath", "torch", "jax")


def register(sub: Any) -> None:
    """Add the ``report`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML page: the answer, the derivation, every check and figure",
        description="Run the comparison, the pitfalls gallery, the float32 accuracy study, the step-size study, "
        "training parity and the saturation sweep, and write one HTML file that works offline (inline CSS, SVG "
        "figures, MathML; no script, no network): the question and the answer, the derivation with the tests "
        "that check each claim, every result, and the run's provenance.  Exit 0 when every check on the page "
        "held, 1 when one failed (the page is written either way), 2 bad usage or a missing extra.",
    )
    p.add_argument("--out", type=output_file((".html", ".htm")), default=Path("report.html"), metavar="FILE.html",
                   help="the page to write (default: report.html)")
    p.add_argument("--quick", action="store_true",
                   help="a few cases of each kind (seconds, not minutes): for a quick look and the browser tests")
    add_json_option(p, "the page's numbers")
    add_quiet_option(p)
    p.set_defaults(func=run)


def progress_factory(args: argparse.Namespace) -> Any:
    """tqdm on a terminal (the plain progress line without tqdm), else None (piped, ``--quiet``)."""
    if not show_progress(args):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda **kw: PlainProgress(kw["desc"], kw.get("total"), kw.get("unit", "it"))
    return lambda **kw: tqdm(file=sys.stderr, leave=False, **kw)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch report``; return the exit status (0 ok, 1 a check failed, 2 usage)."""
    from ..page import missing

    problem = missing(NEEDS)
    if problem:
        raise UsageError(problem)
    from ..page.report_page import FULL, QUICK, collect, render

    argv = ["report", "--out", str(args.out), *(["--quick"] if args.quick else []),
            *(["--json", str(args.json)] if args.json else [])]
    run_ = collect(QUICK if args.quick else FULL, progress=progress_factory(args), argv=argv)
    html = render(run_)
    args.out.write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({len(html.encode('utf-8')) / 1e6:.2f} MB, {run_.plan.name} run, "
          f"{sum(run_.seconds.values()):.0f} s)")
    if args.json:
        write_json(args.json, run_.as_json())  # says "wrote FILE" itself
    for line in run_.failures():
        print("FAIL", line)
    return 1 if run_.failures() else 0
