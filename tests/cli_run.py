"""One helper for tests that run a command in-process: ``run_cli(argv, capsys) -> (rc, out, err)``."""

from __future__ import annotations

from scratch.lab.cli import main


def run_cli(argv, capsys):
    """``main(argv)``'s exit status (argparse's ``SystemExit`` code included) and what it printed."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err
