"""``python -m scratch <command>``: every command lives in its own module under
:mod:`scratch.commands` and registers itself through ``register(subparsers)``, which adds a
sub-parser whose ``func(args) -> int`` returns the exit status (0 ok, 1 a check failed,
2 bad usage)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from . import commands
from .commands import UsageError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per module in :mod:`scratch.commands`."""
    parser = argparse.ArgumentParser(prog="python -m scratch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
