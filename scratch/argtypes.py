"""The sweep's values as typed on a command line: argparse ``type`` functions for a shape and a
seed, shared by ``python -m scratch`` and the conformance kit's pytest plugin
(``--scratch-shapes``, ``--scratch-seeds``).  A bad value raises ``argparse.ArgumentTypeError``,
which either parser reports as a usage error naming the option.

Lists, one rule everywhere: a list option takes words separated by spaces, commas, or both
(``--seeds 0 1`` = ``--seeds 0,1``, ``--shapes small,c10``).  A shape given by its sizes is
written ``NxDxHxC`` (``4x3x5x3``); a word that is exactly four integers joined by commas
(``4,3,5,3``) is also read as one shape, never as four (a word of integers and commas is
always one shape, so ``1,2,3`` is an error, not three shapes), so ``--shapes 4,3,5,3 small`` is two
shapes.  To list several numeric shapes in one word use the ``x`` form: ``4x3x5x3,8x4x6x3``.

Bounds (exit 2 before any work): each array of a case (x: N*D, W1: D*H, a1: N*H, W2: H*C,
z2: N*C) holds at most :data:`MAX_ELEMENTS` numbers.
"""

from __future__ import annotations

import argparse
import re

from .cases import SHAPES, SPECIAL_SHAPES

#: The most numbers one array of a case may hold (2**24 = 16.8 M: 134 MB in float64; the
#: largest bench size, 4096x784x1024x10, holds 4.2 M): a typo like ``1000000000000,1,1,1`` is a
#: usage error, not an allocation of terabytes.
MAX_ELEMENTS = 2**24

_FOUR_INTS = re.compile(r"^\s*\d+\s*(,\s*\d+\s*){3}$")
_INTS = re.compile(r"^[\d,]+$")  # sizes joined by commas: one shape (right or wrong), never several


def _words(text: str) -> list[str]:
    """``text`` split on whitespace (a quoted ``"0 1"`` is two words)."""
    return text.split()


def parse_shape(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """One shape: a name from :data:`scratch.cases.SHAPES` (or ``confident``, ``huge``),
    ``NxDxHxC`` or ``N,D,H,C``: ``(label, (N, D, H, C))``.

    Raises ``argparse.ArgumentTypeError`` for anything else, or for sizes whose arrays would
    hold more than :data:`MAX_ELEMENTS` numbers."""
    text = text.strip()
    if text in SHAPES:
        return text, SHAPES[text]
    if text in SPECIAL_SHAPES:
        return text, SPECIAL_SHAPES[text]
    parts = text.split(",") if _FOUR_INTS.match(text) else text.lower().split("x")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        names = ", ".join([*SHAPES, *SPECIAL_SHAPES])
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: expected a name ({names}) or four positive integers NxDxHxC (or N,D,H,C)")
    n, d, h, c = (int(p) for p in parts)
    arrays = {"x (N*D)": n * d, "W1 (D*H)": d * h, "a1 (N*H)": n * h, "W2 (H*C)": h * c, "z2 (N*C)": n * c}
    big = {k: v for k, v in arrays.items() if v > MAX_ELEMENTS}
    if big:
        name, size = max(big.items(), key=lambda kv: kv[1])
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: {name} would hold {size:,} numbers; the limit is {MAX_ELEMENTS:,} per array")
    return text, (n, d, h, c)


def parse_shapes(text: str) -> list[tuple[str, tuple[int, int, int, int]]]:
    """One word (or a quoted group of words) of a shape list: see the module's rule.
    ``"small,c10"`` -> two shapes, ``"4,3,5,3"`` -> one, ``"4x3x5x3,c10"`` -> two."""
    shapes = []
    for word in _words(text) or [text]:
        items = [word] if _INTS.match(word) else [w for w in word.split(",") if w.strip()] or [word]
        shapes.extend(parse_shape(w) for w in items)
    return shapes


def number(text: str, kind: type = float, noun: str = "a number") -> float | int:
    """``kind(text)`` (float or int), else an argparse error saying it is not ``noun``: the
    parsing step every numeric option shares (its range is the caller's)."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


def integer_at_least(text: str, low: int, too_small: str, high: int | None = None) -> int:
    """``int(text)`` if it is an integer >= ``low`` (and <= ``high`` when given); else an argparse
    error (``too_small`` is formatted with the value)."""
    value = int(number(text, int, "an integer"))
    if value < low:
        raise argparse.ArgumentTypeError(too_small.format(value))
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"{value} is too large; the limit is {high:,}")
    return value


def seed(text: str) -> int:
    """A seed: an integer >= 0 (what ``np.random.default_rng`` accepts)."""
    return integer_at_least(text, 0, "{} is negative; seeds are integers >= 0")


def seeds(text: str) -> list[int]:
    """One word (or a quoted group) of a seed list: ``"0,1"`` -> ``[0, 1]``."""
    items = [w for word in _words(text) for w in word.split(",") if w.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers >= 0")
    return [seed(w) for w in items]
