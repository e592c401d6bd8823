"""Report files a run can trust: paths fixed before the user's code runs, written atomically.

:func:`claim` resolves each output path to an absolute one *before* any of the user's code
runs (so an ``os.chdir`` cannot redirect it) and removes a stale file of the same name (so a
report that exists after a run is that run's); :func:`write_atomic` writes into a temporary file
in the same folder and renames it into place, so an interrupted or killed run leaves either no
file or a whole one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable


def claim(paths: Iterable[os.PathLike | str | None]) -> list[Path | None]:
    """Each path made absolute, its stale file removed (None stays None), and its folder proven
    writable by creating (and removing) a temporary file there: a folder that exists but takes no
    file (``/proc``, a read-only mount) is a :class:`~scratch.lab.errors.UsageError` now, before
    any work, not a traceback after it."""
    from .errors import UsageError

    out: list[Path | None] = []
    for p in paths:
        if p is None:
            out.append(None)
            continue
        path = Path(p).resolve()
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(f"{str(p)!r}: cannot replace it ({exc.strerror or exc})") from None
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(f"{str(p)!r}: cannot write in {str(path.parent)!r} ({exc.strerror or exc})") from None
        out.append(path)
    return out


def write_atomic(path: os.PathLike | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # what open() would have made, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
