"""Options shared by every command: one name, one meaning, one check, everywhere.

The convention: plural names for lists (``--seeds --shapes --dtypes --targets --oracles``),
``--json FILE`` and ``--plot FILE`` for outputs, ``--quiet`` for no progress bar.  Every value
is checked by argparse while parsing, so bad usage exits 2 with a message naming the option
*before* any work starts; output paths included (the folder must exist and be writable, the
extension must be one the writer supports).  Old spellings (``--dtype``, ``--shape``,
``--sizes``) are accepted as hidden aliases.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from ..cases import DTYPES, SHAPES, SPECIAL_SHAPES, TARGETS

#: Figure formats every ``--plot`` accepts (matplotlib writes each without extra packages).
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def parse_shape(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """A shape name from :data:`scratch.cases.SHAPES` or ``N,D,H,C``: ``(label, (N, D, H, C))``."""
    if text in SHAPES:
        return text, SHAPES[text]
    if text in SPECIAL_SHAPES:
        return text, SPECIAL_SHAPES[text]
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: expected a name ({', '.join(SHAPES)}) or four positive integers N,D,H,C"
        )
    return text, tuple(int(p) for p in parts)  # type: ignore[return-value]


def seed(text: str) -> int:
    """A seed: an integer >= 0 (what ``np.random.default_rng`` accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; seeds are integers >= 0")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def output_file(suffixes: Iterable[str] | None = None) -> Callable[[str], Path]:
    """An argparse ``type`` for a file to write: its folder must exist and be writable, and
    (when ``suffixes`` is given) its extension must be one of them.  Checked at parse time."""
    allowed = tuple(s.lower() for s in suffixes) if suffixes else None

    def check(text: str) -> Path:
        path = Path(text)
        if not text or text.endswith(("/", os.sep)) or path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
        if allowed and path.suffix.lower() not in allowed:
            raise argparse.ArgumentTypeError(
                f"{text!r}: unsupported extension {path.suffix or '(none)'!r}; expected one of {', '.join(allowed)}"
            )
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r}: folder {str(folder)!r} does not exist")
        if not os.access(folder, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text!r}: folder {str(folder)!r} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not writable")
        return path

    return check


def output_folder(text: str) -> Path:
    """An argparse ``type`` for a folder to write into: created if missing, but its parent must
    exist; an existing path must be a writable folder."""
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"folder {text!r} is not writable")
        return path
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: cannot create it, {str(parent)!r} is not a writable folder")
    return path


def input_folder(text: str) -> Path:
    """An argparse ``type`` for a folder to read."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder")
    return path


def _hidden_alias(p: argparse.ArgumentParser, alias: str, dest: str, **kwargs: Any) -> None:
    p.add_argument(alias, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)


def add_sweep_options(
    p: argparse.ArgumentParser,
    *,
    seeds: list[int] | None = None,
    shapes: list[str] | None = None,
    dtypes: list[str] | None = None,
    targets: list[str] | None = None,
) -> None:
    """Add ``--seeds --shapes --dtypes --targets`` (and the hidden ``--dtype``/``--shape``
    aliases) with the given defaults (default: 0..4, every named shape, both dtypes, every target
    kind).  ``args.shapes`` holds ``(label, (N, D, H, C))`` pairs."""
    seeds = list(range(5)) if seeds is None else seeds
    shapes = list(SHAPES) if shapes is None else shapes
    dtypes = list(DTYPES) if dtypes is None else dtypes
    targets = list(TARGETS) if targets is None else targets
    p.add_argument("--seeds", type=seed, nargs="+", default=seeds, metavar="SEED",
                   help=f"integers >= 0; default: {' '.join(map(str, seeds))}")
    p.add_argument("--shapes", type=parse_shape, nargs="+", default=[parse_shape(s) for s in shapes], metavar="SHAPE",
                   help=f"names ({', '.join(SHAPES)}) or N,D,H,C; default: {' '.join(shapes)}")
    _hidden_alias(p, "--shape", "shapes", type=parse_shape, nargs="+")
    p.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=dtypes, metavar="DTYPE",
                   help=f"{' '.join(DTYPES)}; default: {' '.join(dtypes)}")
    _hidden_alias(p, "--dtype", "dtypes", nargs="+", choices=list(DTYPES))
    p.add_argument("--targets", nargs="+", choices=TARGETS, default=targets, metavar="TARGET",
                   help=f"{' '.join(TARGETS)}; default: {' '.join(targets)}")


def add_json_option(p: argparse.ArgumentParser, what: str = "the full report") -> None:
    """``--json FILE``: also write ``what`` as JSON (path checked at parse time)."""
    p.add_argument("--json", type=output_file((".json",)), metavar="FILE.json", help=f"also write {what} as JSON")


def add_plot_option(p: argparse.ArgumentParser, what: str = "the figure") -> None:
    """``--plot FILE``: write ``what`` (png, svg or pdf; path checked at parse time)."""
    p.add_argument("--plot", type=output_file(PLOT_SUFFIXES), metavar="FILE.png",
                   help=f"write {what} ({', '.join(s[1:] for s in PLOT_SUFFIXES)})")
