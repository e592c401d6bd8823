"""Progress on stderr while the lab works: a tqdm bar, or a plain line where tqdm (the ``cli``
extra) is missing."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator


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
        with PlainProgress(desc, total, unit) as plain:
            yield plain
        return
    with tqdm(total=total, desc=desc, file=sys.stderr, unit=unit, leave=False) as bar:
        yield bar


class PlainProgress:
    """The dependency-free progress line on stderr where tqdm (the ``cli`` extra) is missing:
    ``compare: 12/80 case (15%) 3.1 s  large-float32``, redrawn in place (``\\r``), at most
    about 10 times a second, erased on exit.  The subset of tqdm's interface the commands use:
    ``update(n)``, ``set_postfix_str(s)``, ``set_postfix(**kw)``, and wrapping an iterable (``bar(iterable)``)."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "it", stream: Any = None) -> None:
        import time

        self.desc, self.total, self.unit, self.n, self.postfix = desc, total, unit, 0, ""
        self.stream = stream or sys.stderr
        self._clock = time.monotonic
        self._start = self._last = self._clock()
        self._width = 0

    def __enter__(self) -> "PlainProgress":
        self._draw(force=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __call__(self, iterable: Any) -> Iterator[Any]:
        if self.total is None and hasattr(iterable, "__len__"):
            self.total = len(iterable)
        with self:
            for item in iterable:
                yield item
                self.update(1)

    def update(self, n: int = 1) -> None:
        """``n`` more done."""
        self.n += n
        self._draw()

    def set_postfix_str(self, text: str) -> None:
        """What is being worked on, shown after the count."""
        self.postfix = text
        self._draw()

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        """``loss=0.31, acc=0.9`` after the count (as tqdm's ``set_postfix``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())
        if refresh:
            self._draw()

    def line(self) -> str:
        """The text of the line: ``desc: n/total unit (pct%) elapsed s  postfix``."""
        elapsed = self._clock() - self._start
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        return f"{self.desc}: {count} {self.unit}{pct} {elapsed:.0f} s" + (f"  {self.postfix}" if self.postfix else "")

    def _draw(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last < 0.1 and self.n != self.total:
            return
        self._last = now
        text = self.line()[:99]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the line."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
