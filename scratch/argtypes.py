"""The sweep's values as typed on a command line: argparse ``type`` functions for a shape and a
seed, shared by ``python -m scratch`` and the conformance kit's pytest plugin
(``--scratch-shapes``, ``--scratch-seeds``).  A bad value raises ``argparse.ArgumentTypeError``,
which either parser reports as a usage error naming the option."""

from __future__ import annotations

import argparse

from .cases import SHAPES, SPECIAL_SHAPES


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


def integer_at_least(text: str, low: int, too_small: str) -> int:
    """``int(text)`` if it is an integer >= ``low``; else an argparse error (``too_small`` is
    formatted with the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(too_small.format(value))
    return value


def seed(text: str) -> int:
    """A seed: an integer >= 0 (what ``np.random.default_rng`` accepts)."""
    return integer_at_least(text, 0, "{} is negative; seeds are integers >= 0")
