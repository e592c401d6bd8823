"""The command line: ``python -m scratch COMMAND`` (or the ``scratch-backprop`` console script).

Every command lives in its own module under :mod:`scratch.lab.commands` and registers itself
through ``register(subparsers)``, which adds a sub-parser whose ``func(args) -> int`` returns
the exit status: 0 ok, 1 a check failed, 2 bad usage (reported before any work starts).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import signal
import sys
import threading
from typing import Any, Iterator, Sequence

from . import commands
from .errors import UsageError
from .commands._options import check_sweep_size, did_you_mean, end_lists

#: What ``--help`` says above the list of commands.
DESCRIPTION = ("A two-layer tanh/softmax network with every gradient derived by hand in NumPy, checked "
               "against PyTorch, JAX and numerical differentiation.  Pick a command; COMMAND --help "
               "lists its options.")
#: Below the list of commands.
EPILOG = ("Exit status: 0 ok, 1 a check failed, 2 bad usage or a missing optional package (named in the "
          "message).  Options mean the same everywhere: --seeds --shapes --dtypes --targets --oracles take "
          "lists, --json FILE and --plot FILE write files, --quiet hides progress bars.")


def default_prog() -> str:
    """``scratch-backprop`` when run as the console script, else ``python -m scratch``."""
    return "scratch-backprop" if os.path.basename(sys.argv[0] or "").startswith("scratch-backprop") else "python -m scratch"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per module in :mod:`scratch.lab.commands`.

    ``prog`` names the program in usage lines (default :func:`default_prog`).
    """
    parser = argparse.ArgumentParser(prog=prog or default_prog(), description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    for command_parser in sub.choices.values():  # so that main() can report errors with the command's usage
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def _close_lists(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Find the (sub-)command's parser in ``argv``; a mistyped command name is a usage error with
    a "did you mean" (exit 2); then :func:`~scratch.lab.commands._options.end_lists` on the rest."""
    p, i = parser, 0
    while i < len(argv):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or argv[i].startswith("-"):
            break
        choices = subs[0].choices
        if argv[i] not in choices:
            p.error(f"unknown command {argv[i]!r}{did_you_mean(argv[i], choices)} "
                    f"(choose from {', '.join(choices)})")
        p, i = choices[argv[i]], i + 1
    return argv[:i] + end_lists(p, argv[i:])


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """``argv`` (default ``sys.argv[1:]``) parsed as :func:`main` reads it: the lists closed
    before a positional (:func:`_close_lists`); bad usage exits 2 (``SystemExit``)."""
    parser = build_parser(prog)
    args, extra = parser.parse_known_args(_close_lists(parser, list(sys.argv[1:] if argv is None else argv)))
    if extra:
        args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (what ``grade``'s time limit and most supervisors send first) ends a command the way
    Ctrl-C does: its ``with`` blocks stop the worker processes (each in a process group of its
    own, out of reach of a kill of ours) and no report is left half-written.  Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; return the exit status.

    An unknown option is reported by the command's own parser (its usage line), and a
    :class:`~scratch.lab.errors.UsageError` raised by a command exits 2 with its message.  Ctrl-C
    (``KeyboardInterrupt``) ends every command with 130 (128 + SIGINT) and one line, no traceback:
    worker processes are stopped by their ``with`` blocks and reports are written atomically, so
    none is left half-written.  A reader
    that closes the pipe early (``| head``) ends the command quietly with 141 (128 + SIGPIPE, as a
    shell tool would), not a ``BrokenPipeError`` traceback.
    """
    try:
        args = parse_args(argv, prog)
    except KeyboardInterrupt:
        print("interrupted", file=sys.__stderr__)
        return 130
    command = args.command_parser
    try:
        check_sweep_size(args)
        with _sigterm_interrupts():
            return int(args.func(args))
    except UsageError as exc:
        print(f"{command.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        try:
            print(f"{command.prog}: interrupted", file=sys.__stderr__)
        except (OSError, ValueError):
            pass
        return 130
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
