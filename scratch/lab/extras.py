"""Loading what the optional extras provide (oracles, frameworks, implementations) by name: a
missing one asked for is a usage error naming its extra, one left out is skipped and said so."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from .errors import UsageError


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
