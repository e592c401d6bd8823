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
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ...argtypes import integer_at_least, parse_shape, seed
from ...cases import DTYPES, SHAPES, TARGETS
from . import UsageError

#: Figure formats every ``--plot`` accepts (matplotlib writes each without extra packages).
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return integer_at_least(text, 1, "{} must be >= 1")


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


def add_seeds_option(p: argparse.ArgumentParser, default: list[int] | None = None) -> None:
    """``--seeds SEED ...`` (integers >= 0; default 0..4) and the hidden alias ``--seed``."""
    default = list(range(5)) if default is None else default
    p.add_argument("--seeds", type=seed, nargs="+", default=default, metavar="SEED",
                   help=f"integers >= 0; default: {' '.join(map(str, default))}")
    _hidden_alias(p, "--seed", "seeds", type=seed, nargs="+")


def add_shapes_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--shapes SHAPE ...`` (names or ``N,D,H,C``; default every named shape) and the hidden
    aliases ``--shape`` and ``--sizes``.  ``args.shapes`` holds ``(label, (N, D, H, C))`` pairs."""
    default = list(SHAPES) if default is None else default
    p.add_argument("--shapes", type=parse_shape, nargs="+", default=[parse_shape(s) for s in default], metavar="SHAPE",
                   help=f"names ({', '.join(SHAPES)}) or N,D,H,C; default: {' '.join(default)}")
    for alias in ("--shape", "--sizes"):
        _hidden_alias(p, alias, "shapes", type=parse_shape, nargs="+")


def add_dtypes_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--dtypes DTYPE ...`` (float64, float32; default both) and the hidden alias ``--dtype``."""
    default = list(DTYPES) if default is None else default
    p.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=default, metavar="DTYPE",
                   help=f"{' '.join(DTYPES)}; default: {' '.join(default)}")
    _hidden_alias(p, "--dtype", "dtypes", nargs="+", choices=list(DTYPES))


def add_targets_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--targets TARGET ...`` (default every target kind) and the hidden alias ``--target``."""
    default = list(TARGETS) if default is None else default
    p.add_argument("--targets", nargs="+", choices=TARGETS, default=default, metavar="TARGET",
                   help=f"{' '.join(TARGETS)}; default: {' '.join(default)}")
    _hidden_alias(p, "--target", "targets", nargs="+", choices=TARGETS)


def add_sweep_options(
    p: argparse.ArgumentParser,
    *,
    seeds: list[int] | None = None,
    shapes: list[str] | None = None,
    dtypes: list[str] | None = None,
    targets: list[str] | None = None,
) -> None:
    """Add ``--seeds --shapes --dtypes --targets`` (and their hidden singular aliases) with the
    given defaults (default: 0..4, every named shape, both dtypes, every target kind).
    ``args.shapes`` holds ``(label, (N, D, H, C))`` pairs."""
    add_seeds_option(p, seeds)
    add_shapes_option(p, shapes)
    add_dtypes_option(p, dtypes)
    add_targets_option(p, targets)


def add_oracles_option(p: argparse.ArgumentParser, choices: Sequence[str], default: Sequence[str]) -> None:
    """``--oracles NAME ...`` (space- or comma-separated, see :func:`add_flat_names_option`).
    Left out, ``args.oracles`` is None: the command runs the installed ones of ``default`` (see
    :func:`load_installed`); named, every one must be installed."""
    add_flat_names_option(p, "--oracles", choices, metavar="ORACLE",
                          help=f"some of {' '.join(choices)} (space- or comma-separated); "
                          f"default: those of {' '.join(default)} that are installed")


class _FlatNames(argparse.Action):
    """Flatten the words of a :func:`name_list` option (``a b`` = ``a,b``) into one list; a name
    given twice is an error naming the option."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        names = [n for group in values for n in group]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise argparse.ArgumentError(self, f"{', '.join(twice)} listed twice")
        setattr(namespace, self.dest, names)


def add_flat_names_option(p: argparse.ArgumentParser, flag: str, choices: Sequence[str], *, help: str,
                          metavar: str = "NAME") -> None:
    """A list option ``flag`` of names from ``choices``, space- or comma-separated (``--oracles
    torch jax`` = ``--oracles torch,jax``, as ``train --frameworks numpy,jax``), read as a flat
    list (None when left out)."""
    p.add_argument(flag, type=name_list(choices), nargs="+", default=None, metavar=metavar, action=_FlatNames,
                   help=help)


def name_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse ``type`` for one word of a list option: a name from ``choices``, or several
    joined by commas (``numpy,jax``).  Pair it with ``nargs="+"`` and :func:`flat_names`."""

    def check(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in choices]
        if not names or bad:
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {', '.join(map(repr, bad)) or '(none given)'}: expected some of {', '.join(choices)}"
            )
        return names

    return check


def add_names_option(p: argparse.ArgumentParser, flag: str, choices: Sequence[str], help: str) -> None:
    """A list option ``flag`` taking names from ``choices``, space- or comma-separated
    (``--frameworks numpy jax`` = ``--frameworks numpy,jax``).  Left out, its value is None
    (the command then uses the installed ones, see :func:`load_installed`); read it with
    :func:`flat_names`."""
    p.add_argument(flag, type=name_list(choices), nargs="+", default=None, metavar="NAME",
                   help=f"some of {' '.join(choices)} (space- or comma-separated); {help}")


def flat_names(value: list[list[str]] | None, flag: str) -> list[str] | None:
    """The names given to an :func:`add_names_option` option, flattened; a name given twice is
    a :class:`UsageError`."""
    if value is None:
        return None
    names = [n for group in value for n in group]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{flag}: {', '.join(twice)} listed twice")
    return names


def add_json_option(p: argparse.ArgumentParser, what: str = "the full report") -> None:
    """``--json FILE``: also write ``what`` as JSON (path checked at parse time)."""
    p.add_argument("--json", type=output_file((".json",)), metavar="FILE.json", help=f"also write {what} as JSON")


def add_plot_option(p: argparse.ArgumentParser, what: str = "the figure") -> None:
    """``--plot FILE``: write ``what`` (png, svg or pdf; path checked at parse time)."""
    p.add_argument("--plot", type=output_file(PLOT_SUFFIXES), metavar="FILE.png",
                   help=f"write {what} ({', '.join(s[1:] for s in PLOT_SUFFIXES)})")


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bar (there is none when stderr is not a terminal either)."""
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw a progress bar: stderr is a terminal and ``--quiet`` was not given."""
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def load_installed(names: Sequence[str] | None, default: Sequence[str], load: Callable[[str], Any],
                   *, option: str = "--oracles", at_least_one: bool = True, hint: str = "") -> dict[str, Any]:
    """Load each of ``names`` with ``load`` (which raises ``ImportError`` naming the extra when
    a framework is missing).

    Parameters
    ----------
    names : list of str or None
        What the user asked for; None when the option was left out.
    default : list of str
        What to try when ``names`` is None.
    load : callable
        ``name -> object``; raises ``ImportError`` (e.g. :class:`oracles.MissingFramework`)
        whose message names the pip extra.
    option : str
        The option's name, for the messages.
    at_least_one : bool
        Whether loading none of them is an error.
    hint : str
        Appended to that error (what runs without the extras).

    Returns
    -------
    dict
        name -> loaded object, in the given order.

    Raises
    ------
    UsageError
        A name the user asked for is not installed, or (left out, ``at_least_one``) none of
        ``default`` is.
        Left out, a missing one is skipped with a line on stderr saying so.
    """
    loaded: dict[str, Any] = {}
    skipped: list[str] = []
    for name in default if names is None else names:
        try:
            loaded[name] = load(name)
        except ImportError as exc:
            if names is not None:
                raise UsageError(str(exc)) from exc
            skipped.append(str(exc))
    if not loaded and at_least_one:
        raise UsageError(f"none of {' '.join(default)} is installed ({option} left out): " + "; ".join(skipped)
                         + (f"; {hint}" if hint else ""))
    by_hint: dict[str, list[str]] = {}  # several names behind one missing extra: its hint said once
    for why in dict.fromkeys(skipped):
        what, sep, hint = why.partition(": pip install ")
        by_hint.setdefault(sep + hint, []).append(what if sep else why)
    for hint, whats in by_hint.items():
        print(f"skipped: {'; '.join(whats)}{hint}", file=sys.stderr)
    return loaded


@contextmanager
def progress_bar(desc: str, total: int, enabled: bool, unit: str = "it") -> Iterator[Any]:
    """A tqdm bar on stderr (``bar.update(n)``, ``bar.set_postfix(...)``), or None when
    ``enabled`` is false or tqdm (the ``cli`` extra) is not installed."""
    if not enabled:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    with tqdm(total=total, desc=desc, file=sys.stderr, unit=unit, leave=False) as bar:
        yield bar


def _l2_value(text: str) -> float:
    """A finite lambda >= 0."""
    import math

    from ...spec import MAX_L2

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or not 0.0 <= v <= MAX_L2:
        raise argparse.ArgumentTypeError(f"{text!r}: lambda must be a finite number in [0, {MAX_L2:g}]")
    return v


def _alpha_value(text: str) -> float:
    """A leaky ReLU slope in [0, 1)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: the leaky ReLU slope must be in [0, 1)")
    return v


def add_spec_options(p: argparse.ArgumentParser) -> None:
    """The family member (:class:`scratch.NetworkSpec`), the same five options everywhere:
    ``--activation --alpha --l2 --l2-form --l2-biases --reduction``; default the seed network."""
    from ...activations import ACTIVATIONS
    from ...spec import L2_FORMS, REDUCTIONS

    g = p.add_argument_group("network (the member of the family; default the seed network: tanh, mean, no L2)")
    g.add_argument("--activation", choices=ACTIVATIONS, default="tanh", help="hidden activation (default: tanh)")
    g.add_argument("--alpha", type=_alpha_value, default=None, metavar="A",
                   help="leaky_relu's negative slope, in [0, 1) (default: 0.01)")
    g.add_argument("--l2", type=_l2_value, default=0.0, metavar="LAMBDA", help="L2 coefficient lambda (default: 0)")
    g.add_argument("--l2-form", choices=L2_FORMS, default="half",
                   help="half: (lambda/2)||W||^2, gradient lambda W; full: lambda||W||^2, gradient 2 lambda W "
                        "(default: half)")
    g.add_argument("--l2-biases", action="store_true", help="regularize the biases too (default: weights only)")
    g.add_argument("--reduction", choices=REDUCTIONS, default="mean", help="loss over samples (default: mean)")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`scratch.NetworkSpec` of :func:`add_spec_options`'s options; a combination the
    spec refuses (``--alpha`` without ``--activation leaky_relu``) raises :class:`UsageError`."""
    from ...spec import NetworkSpec

    kwargs: dict[str, Any] = dict(activation=args.activation, l2=args.l2, l2_form=args.l2_form,
                                  l2_biases=args.l2_biases, reduction=args.reduction)
    if args.alpha is not None:
        if args.activation != "leaky_relu":
            raise UsageError(f"--alpha {args.alpha:g}: the slope belongs to --activation leaky_relu, "
                             f"not {args.activation}")
        kwargs["alpha"] = args.alpha
    try:
        return NetworkSpec(**kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
