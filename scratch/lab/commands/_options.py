"""Options shared by every command: one name, one meaning, one check, everywhere.

The convention: plural names for lists (``--seeds --shapes --dtypes --targets --oracles``),
``--json FILE`` and ``--plot FILE`` for outputs (each output is created, the folder holding it
must exist: :func:`output_folder`), ``--quiet`` for no progress bar.  Every list
takes words separated by spaces, commas or both (``--seeds 0 1`` = ``--seeds 0,1``); a shape is
a name, ``NxDxHxC``, or ``N,D,H,C`` (four integers joined by commas are one shape, see
:mod:`scratch.argtypes`).  A positional argument may follow a list when it cannot be read as
one of its items (``check --seeds 0 1 mod:fn``, see :func:`end_lists`).  Sizes are bounded
(:data:`MAX_CASES`, :data:`scratch.argtypes.MAX_ELEMENTS`, each count option's ``high``).  Every value
is checked by argparse while parsing, so bad usage exits 2 with a message naming the option
*before* any work starts; output paths included (the folder must exist and be writable, the
extension must be one the writer supports).  Old spellings (``--dtype``, ``--shape``,
``--sizes``) are accepted as hidden aliases.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ...argtypes import integer_at_least, number, parse_shape, parse_shapes, seed, seeds  # noqa: F401  (seed: re-exported)
from ...cases import DTYPES, SHAPES, TARGETS
from ..errors import UsageError
from ..progress import PlainProgress

#: Figure formats every ``--plot`` accepts (matplotlib writes each without extra packages).
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


#: The most cases one sweep may hold (seeds x shapes x dtypes x targets; the default sweep of
#: ``check`` holds 400): more is a usage error before any work.
MAX_CASES = 100_000


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return integer_at_least(text, 1, "{} must be >= 1")


def positive_int_upto(high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [1, ``high``] (a count's documented upper bound)."""

    def check(text: str) -> int:
        return integer_at_least(text, 1, "{} must be >= 1", high)

    check.__name__ = "integer"  # argparse names the type in "invalid integer value"
    return check


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
    """An argparse ``type`` for a folder to write into.

    The rule for every output (``--json FILE``, ``--plot FILE``, ``--out FILE``, ``cases export
    DIR``): the output itself is created (a file, or here the folder), the folder that holds it
    must already exist and be writable; nothing creates missing parent folders.  An existing
    path must be a writable folder."""
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"folder {text!r} is not writable")
        return path
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        why = "is not a folder" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r}: cannot create it, {str(parent)!r} {why} (the folder that holds "
                                         "an output must exist; only the output itself is created)")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: cannot create it, folder {str(parent)!r} is not writable")
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
    p.add_argument("--seeds", type=seeds, nargs="+", default=default, metavar="SEED", action=_FlatNames,
                   help=f"integers >= 0 (space- or comma-separated); default: {' '.join(map(str, default))}")
    _hidden_alias(p, "--seed", "seeds", type=seeds, nargs="+", action=_FlatNames)


def add_shapes_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--shapes SHAPE ...`` (names, ``NxDxHxC`` or ``N,D,H,C``; space- or comma-separated;
    default every named shape) and the hidden aliases ``--shape`` and ``--sizes``.
    ``args.shapes`` holds ``(label, (N, D, H, C))`` pairs."""
    from ...cases import SPECIAL_SHAPES

    default = list(SHAPES) if default is None else default
    p.add_argument("--shapes", type=parse_shapes, nargs="+", default=[parse_shape(s) for s in default],
                   metavar="SHAPE", action=_FlatNames,
                   help=f"names ({', '.join([*SHAPES, *SPECIAL_SHAPES])}) or sizes NxDxHxC (4,3,5,3 is one shape "
                        f"too), space- or comma-separated; default: {' '.join(default)}")
    for alias in ("--shape", "--sizes"):
        _hidden_alias(p, alias, "shapes", type=parse_shapes, nargs="+", action=_FlatNames)


def add_dtypes_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--dtypes DTYPE ...`` (float64, float32; default both) and the hidden alias ``--dtype``."""
    default = list(DTYPES) if default is None else default
    p.add_argument("--dtypes", type=name_list(list(DTYPES)), nargs="+", default=default, metavar="DTYPE",
                   action=_FlatNames, help=f"{' '.join(DTYPES)} (space- or comma-separated); default: {' '.join(default)}")
    _hidden_alias(p, "--dtype", "dtypes", type=name_list(list(DTYPES)), nargs="+", action=_FlatNames)


def add_targets_option(p: argparse.ArgumentParser, default: list[str] | None = None) -> None:
    """``--targets TARGET ...`` (default every target kind) and the hidden alias ``--target``."""
    default = list(TARGETS) if default is None else default
    p.add_argument("--targets", type=name_list(TARGETS), nargs="+", default=default, metavar="TARGET",
                   action=_FlatNames, help=f"{' '.join(TARGETS)} (space- or comma-separated); default: {' '.join(default)}")
    _hidden_alias(p, "--target", "targets", type=name_list(TARGETS), nargs="+", action=_FlatNames)


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
    :func:`scratch.lab.extras.load_installed`); named, every one must be installed."""
    add_flat_names_option(p, "--oracles", choices, metavar="ORACLE",
                          help=f"some of {' '.join(choices)} (space- or comma-separated); "
                          f"default: those of {' '.join(default)} that are installed")


class _FlatNames(argparse.Action):
    """Flatten the words of a :func:`name_list` option (``a b`` = ``a,b``) into one list; a name
    given twice is an error naming the option."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        names = [n for group in values for n in group]
        twice = sorted({str(n[0] if isinstance(n, tuple) else n) for n in names if names.count(n) > 1})
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
        names = [n.strip() for word in text.split() for n in word.split(",") if n.strip()]
        bad = [n for n in names if n not in choices]
        if not names or bad:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {', '.join(map(repr, bad)) or repr(text) + ' (no name given)'} "
                f"(choose from {', '.join(choices)}){did_you_mean(bad[0] if bad else '', choices)}"
            )
        return names

    return check


def add_names_option(p: argparse.ArgumentParser, flag: str, choices: Sequence[str], help: str) -> None:
    """A list option ``flag`` taking names from ``choices``, space- or comma-separated
    (``--frameworks numpy jax`` = ``--frameworks numpy,jax``).  Left out, its value is None
    (the command then uses the installed ones, see :func:`scratch.lab.extras.load_installed`); read it with
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


def case_progress(args: argparse.Namespace, desc: str) -> Any:
    """A wrapper of a case iterable drawing progress on a terminal: tqdm, or :class:`~scratch.lab.progress.PlainProgress`
    without it; None when stderr is piped or with ``--quiet``."""
    if not show_progress(args):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda it: PlainProgress(desc, unit="case")(it)
    return lambda it: tqdm(it, desc=desc, unit="case", leave=False, file=sys.stderr)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'compare'?"`` for a close match of ``word`` among ``choices``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6) if word else []
    return f"; did you mean {close[0]!r}?" if close else ""


def check_sweep_size(args: argparse.Namespace) -> None:
    """A sweep of more than :data:`MAX_CASES` cases (seeds x shapes x dtypes x targets) is a
    :class:`UsageError`, raised after parsing and before any work."""
    values = [getattr(args, k, None) for k in ("seeds", "shapes", "dtypes", "targets")]
    if any(v is None or not isinstance(v, list) for v in values):
        return
    n = 1
    for v in values:
        n *= len(v)
    if n > MAX_CASES:
        raise UsageError(f"the sweep holds {n:,} cases (--seeds x --shapes x --dtypes x --targets); "
                         f"the limit is {MAX_CASES:,}")


def end_lists(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with each list option that runs into the command's positional arguments closed:
    ``--seeds 0 1 mod:fn`` becomes ``--seeds=0 1 mod:fn`` (one word: argparse then leaves
    ``mod:fn`` to the positional), so a list no longer swallows a positional that cannot be
    one of its items.  Only when the words left over are no more than ``parser``'s positionals;
    otherwise ``argv`` is unchanged and argparse reports the bad item."""
    lists = {flag: a for a in parser._actions if a.nargs == "+" and a.option_strings and a.type is not None
             for flag in a.option_strings}
    n_positional = sum(1 for a in parser._actions if not a.option_strings)
    if not lists or not n_positional:
        return list(argv)
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        action = lists.get(words[i])
        if action is None or words[i] == "--":
            if words[i] == "--":
                return out + words[i:]
            out.append(words[i])
            i += 1
            continue
        j = i + 1
        while j < len(words) and not words[j].startswith("-"):
            j += 1
        items = words[i + 1:j]
        k = 0
        while k < len(items) and _item_ok(action, items[k]):
            k += 1
        if 0 < k < len(items) and len(items) - k <= n_positional:
            out += [f"{words[i]}={' '.join(items[:k])}", *items[k:]]
        else:
            out += words[i:j]
        i = j
    return out


def _item_ok(action: argparse.Action, word: str) -> bool:
    """Whether ``word`` reads as an item of the list option ``action``."""
    try:
        action.type(word)  # type: ignore[misc]
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False
    return True


def _l2_value(text: str) -> float:
    """A finite lambda >= 0."""
    import math

    from ...spec import MAX_L2

    v = number(text)
    if not math.isfinite(v) or not 0.0 <= v <= MAX_L2:
        raise argparse.ArgumentTypeError(f"{text!r}: lambda must be a finite number in [0, {MAX_L2:g}]")
    return v


def _alpha_value(text: str) -> float:
    """A leaky ReLU slope in [0, 1)."""
    v = number(text)
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
    g.add_argument("--l2-form", choices=L2_FORMS, default=None,
                   help="half: (lambda/2)||W||^2, gradient lambda W; full: lambda||W||^2, gradient 2 lambda W "
                        "(default: half)")
    g.add_argument("--l2-biases", action="store_true", help="regularize the biases too (default: weights only)")
    g.add_argument("--reduction", choices=REDUCTIONS, default="mean", help="loss over samples (default: mean)")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`scratch.NetworkSpec` of :func:`add_spec_options`'s options; a combination the
    spec refuses (``--alpha`` without ``--activation leaky_relu``) raises :class:`UsageError`."""
    from ...spec import NetworkSpec

    if not args.l2 and (args.l2_biases or (args.l2_form is not None and not getattr(args, "identify", False))):
        given = " ".join(o for o, v in (("--l2-form", args.l2_form), ("--l2-biases", args.l2_biases)) if v)
        raise UsageError(f"{given} says how lambda applies; give --l2 LAMBDA > 0 too (without it there is no L2)")
    kwargs: dict[str, Any] = dict(activation=args.activation, l2=args.l2, l2_form=args.l2_form or "half",
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
