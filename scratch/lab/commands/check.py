"""``python -m scratch check module:function``: check someone else's implementation of the network."""

from __future__ import annotations

import argparse
from typing import Any

from ...adapter import SIGNATURES, ImplementationError
from ...argtypes import number
from ...testing import REFERENCES, check_implementation, get_reference
from ..report import wrote
from ..errors import UsageError
from ._options import (add_json_option, add_quiet_option, add_spec_options, add_sweep_options, case_progress,  # noqa: F401
                       output_file, show_progress, spec_from_args)

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
    add_spec_options(p)
    p.add_argument("--identify", action="store_true",
                   help="first find which member of the family (activation, reduction, L2 and its lambda) the "
                        "implementation computes, then check it against that member (takes no network option "
                        "but --l2-form, the form lambda is reported in)")
    p.add_argument("--reference", choices=REFERENCES, default="scratch", help="default: scratch")
    add_json_option(p)
    add_html_option(p)
    add_quiet_option(p)
    add_isolation_options(p)
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    v = number(text, float, "a number of seconds")
    if not 0 < v <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds in (0, 86400]")
    return v


def _mebibytes(text: str) -> int:
    v = number(text, int, "a whole number of MiB")
    if v != 0 and not 64 <= v <= 1 << 30:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MiB >= 64, or 0 for no limit")
    return v


def add_isolation_options(p: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS`` and ``--memory MIB``: the limits of the worker process the
    implementation runs in (see :mod:`scratch.worker`)."""
    from ...worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

    g = p.add_argument_group("isolation (the implementation runs in its own worker process)")
    g.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"per call; past it the worker and its children are killed and the case fails "
                        f"(default: {DEFAULT_TIMEOUT:g})")
    g.add_argument("--memory", type=_mebibytes, default=DEFAULT_MEMORY_MB, metavar="MIB",
                   help=f"the worker's address-space limit; 0: none (default: {DEFAULT_MEMORY_MB})")


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
    """Run ``python -m scratch check``; return the exit status (0 every case ran and passed,
    1 any failure of the implementation, crashes and time-outs included, 2 usage).

    The implementation always runs in a worker process (:class:`scratch.worker.Isolated`);
    the report paths are resolved and stale reports removed before it starts."""
    from ...worker import ImplementationUnusable, Isolated, parse_target
    from ..outputs import claim

    try:
        parse_target(args.target)
    except ImplementationUnusable as exc:
        raise UsageError(str(exc)) from exc
    spec = spec_from_args(args)
    if args.identify and not spec.is_seed:
        raise UsageError(f"--identify finds the network itself; drop the network options (got {spec.describe()}; "
                         "only --l2-form goes with --identify: the form lambda is reported in)")
    load_reference(args.reference)
    require_html(args.html)
    json_path, html_path = claim([args.json, args.html])
    log_path = claim([(json_path or html_path).with_suffix(".log")])[0] if json_path or html_path else None
    try:
        worker = Isolated(args.target, args.signature, timeout=args.timeout, memory=args.memory or None, log=log_path)
    except ImplementationUnusable as exc:
        raise UsageError(str(exc)) from exc
    sweep = dict(seeds=args.seeds, shapes=[s for s in args.shapes], dtypes=args.dtypes, targets=args.targets,
                 reference=args.reference, signature=args.signature, name=args.target)
    try:
        try:
            worker.start()
        except ImplementationUnusable as exc:
            raise UsageError(str(exc)) from exc
        if args.identify:
            from ...identify import identify

            report = identify(worker, l2_form=args.l2_form or "half", progress=case_progress(args, "identify"), **sweep).report
        else:
            report = check_implementation(worker, spec=spec, progress=case_progress(args, "check"), **sweep)
    except (ImplementationError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    finally:
        worker.close()
    if log_path is not None and log_path.exists() and log_path.stat().st_size == 0:
        log_path.unlink()  # nothing printed: no empty log beside the report
    if log_path is None or not log_path.exists():
        report.log = None
    return finish(report, json_path, html_path, argv=["check", args.target, "--html", str(args.html)])


def finish(report: Any, json_path: Any, html_path: Any = None, *, argv: list[str] | None = None) -> int:
    """Print a conformance report, write it as JSON and as an HTML page when asked (each
    atomically: a temporary file renamed into place); the exit status (0 every case ran and
    passed, 1 any failure)."""
    from ..outputs import write_atomic

    print(report)
    if json_path:
        write_atomic(json_path, report.to_json() + "\n")
        wrote(json_path)
    if html_path:
        from ..page.check_page import render

        write_atomic(html_path, render(report, argv))
        wrote(html_path)
    return 0 if report.ok else 1
