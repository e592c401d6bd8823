"""``python -m scratch check module:function``: check someone else's implementation of the network."""

from __future__ import annotations

import argparse
from typing import Any

from ...adapter import SIGNATURES, ImplementationError, check_signature, load_function
from ...testing import REFERENCES, check_implementation, get_reference
from ..report import wrote
from . import UsageError
from ._options import add_json_option, add_quiet_option, add_sweep_options, case_progress, output_file  # noqa: F401

#: Modules the ``--html`` page needs (each named with its extra when missing).
HTML_NEEDS = ("pygments", "matplotlib", "latex2mathml")


def register(sub: Any) -> None:
    """Add the ``check`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "check",
        help="check YOUR implementation's loss and gradients, and name the mistake",
        description="Run an implementation of the network on a sweep of cases, compare its loss and gradients "
        "with the reference on the same arrays, diagnose what fails (which known pitfall it matches, or its "
        "signature) and list the sweep's blind spots.  Exit 0 all pass, 1 any mismatch, 2 bad usage.",
    )
    p.add_argument("target", metavar="module:function",
                   help="the implementation: package.module:function or path/to/file.py:function")
    p.add_argument("--signature", choices=list(SIGNATURES), default="params",
                   help="; ".join(f"{k}: {v}" for k, v in SIGNATURES.items()) + " (default: params)")
    add_sweep_options(p)
    p.add_argument("--reference", choices=REFERENCES, default="scratch", help="default: scratch")
    add_json_option(p)
    add_html_option(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def add_html_option(p: argparse.ArgumentParser) -> None:
    """``--html FILE``: also write the report as one self-contained page (path checked at parse time)."""
    p.add_argument("--html", type=output_file((".html", ".htm")), metavar="FILE.html",
                   help="also write the report as a self-contained HTML page, with a heatmap of each failing "
                        "gradient's elementwise error (needs the report and plot extras)")


def require_html(path: Any) -> None:
    """A missing extra for ``--html`` is a usage error (exit 2) before any work."""
    if path:
        from ..page import missing

        problem = missing(HTML_NEEDS)
        if problem:
            raise UsageError(f"--html: {problem}")


def load_reference(name: str) -> None:
    """Fail early (usage, exit 2) when the reference's framework is missing."""
    import oracles

    try:
        get_reference(name)
    except oracles.MissingFramework as exc:
        raise UsageError(f"--reference {name}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch check``; return the exit status (0 ok, 1 a mismatch, 2 usage)."""
    try:
        fn = load_function(args.target)
        check_signature(fn, args.signature)
    except ImplementationError as exc:
        raise UsageError(str(exc)) from exc
    load_reference(args.reference)
    require_html(args.html)
    try:
        report = check_implementation(
            fn, seeds=args.seeds, shapes=[s for s in args.shapes], dtypes=args.dtypes, targets=args.targets,
            reference=args.reference, signature=args.signature, name=args.target,
            progress=case_progress(args, "check"))
    except (ImplementationError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    return finish(report, args.json, args.html, argv=["check", args.target, "--html", str(args.html)])


def finish(report: Any, json_path: Any, html_path: Any = None, *, argv: list[str] | None = None) -> int:
    """Print a conformance report, write it as JSON and as an HTML page when asked; the exit
    status (0 ok, 1 a mismatch)."""
    print(report)
    if json_path:
        json_path.write_text(report.to_json() + "\n")
        wrote(json_path)
    if html_path:
        from ..page.check_page import render

        html_path.write_text(render(report, argv), encoding="utf-8")
        wrote(html_path)
    return 0 if report.ok else 1
