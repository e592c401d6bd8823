"""Finding the submissions of a class: one ``.py`` file, or one folder holding the entry point.

``SUBMISSIONS/`` holds one entry per student: ``alice.py`` (the file is the submission) or
``bob/`` (a folder; the entry point is in the file the assignment names, ``[assignment] file``,
else in the folder's only ``.py`` file).  Hidden entries (``.git``, ``.DS_Store``) and
``__pycache__`` are skipped; anything else that is neither a ``.py`` file nor a folder is
listed as ignored.  The order is sorted by name, so ``--shard K/N`` splits a class the same
way on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Names never taken for a submission.
SKIPPED = ("__pycache__",)


@dataclass(frozen=True)
class Submission:
    """One student's work: ``name`` (the file or folder name), ``path`` (that file or folder),
    ``entry_file`` (the ``.py`` file holding the entry point; None when there is none) and
    ``problem`` (why it cannot be graded, e.g. no entry point file; None when it can)."""

    name: str
    path: Path
    entry_file: Path | None
    problem: str | None = None


#: How deep below a folder submission the entry point file is looked for, and how many folders at most.
SEARCH_DEPTH, SEARCH_FOLDERS = 3, 1000


def _below(folder: Path, file: str) -> list[Path]:
    """The files called ``file`` at most :data:`SEARCH_DEPTH` folders below ``folder``, links not
    followed, hidden folders skipped, at most :data:`SEARCH_FOLDERS` folders looked at."""
    import os

    found, seen = [], 0
    for here, dirs, files in os.walk(folder, followlinks=False):
        seen += 1
        if seen > SEARCH_FOLDERS:  # a strict bound: a folder of a million empty folders is not walked
            break
        depth = len(Path(here).relative_to(folder).parts)
        dirs[:] = [] if depth >= SEARCH_DEPTH else sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED)
        if depth and file in files and (Path(here) / file).is_file():
            found.append(Path(here) / file)
    return sorted(found)


def entry_file(folder: Path, file: str | None) -> tuple[Path | None, str | None]:
    """The file of ``folder`` holding the entry point: ``file`` when given (at the top, else
    the one file of that name anywhere below), else the folder's only top-level ``.py`` file.
    Returns ``(path, None)`` or ``(None, why not)``."""
    if file is not None:
        top = folder / file
        if top.is_file():
            return top, None
        below = _below(folder, file)
        if len(below) == 1:
            return below[0], None
        if below:
            return None, (f"no entry point file: {file} is not at the top of the folder, and {len(below)} copies "
                          f"lie below it ({', '.join(str(p.relative_to(folder)) for p in below[:5])})")
        return None, f"no entry point file: the folder holds no {file}"
    py = sorted(p for p in folder.glob("*.py") if p.is_file())
    if len(py) == 1:
        return py[0], None
    if not py:
        return None, "no entry point file: the folder holds no .py file"
    return None, (f"no entry point file: the folder holds {len(py)} .py files ({', '.join(p.name for p in py[:6])}); "
                  "the assignment must name one ([assignment] file)")


#: Packages a submission may not import: the reference itself (a wrapper around
#: ``scratch.loss_and_grads`` would earn full marks).  A static check of the source (``import``
#: statements, read with :mod:`ast`), which ``importlib`` tricks can evade: a course that must
#: stop a determined student runs the grader where the submission's interpreter cannot see the
#: package (a container), see README "What the isolation protects against".
FORBIDDEN_IMPORTS = ("scratch", "oracles")
#: At most this many .py files of one submission are read for :data:`FORBIDDEN_IMPORTS`.
MAX_SCANNED_FILES = 200


def forbidden_import(path: Path) -> str | None:
    """``"file.py:LINE imports scratch"`` for the first import of :data:`FORBIDDEN_IMPORTS` in the
    submission's .py files (a file, or a folder's, links not followed), None when there is none."""
    import ast

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if p.is_file() and not p.is_symlink())
    for f in files[:MAX_SCANNED_FILES]:
        try:
            if f.stat().st_size > (1 << 20):
                continue
            tree = ast.parse(f.read_bytes(), filename=str(f))
        except (OSError, SyntaxError, ValueError):
            continue  # unreadable or not Python: the check itself says so
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for n in names:
                if n.split(".")[0] in FORBIDDEN_IMPORTS:
                    where = f.name if path.is_file() else str(f.relative_to(path))
                    return f"{where}:{node.lineno} imports {n.split('.')[0]}"
    return None


def one_submission(path: Path, file: str | None) -> Submission:
    """``path`` (a ``.py`` file or a folder) as a :class:`Submission`; one that imports the
    reference (:func:`forbidden_import`) is not gradable, and says where."""
    path = Path(path)
    if path.is_dir():
        found, problem = entry_file(path, file)
        sub = Submission(path.name, path, found, problem)
    elif path.suffix == ".py" and path.is_file():
        sub = Submission(path.name, path, path)
    else:
        return Submission(path.name, path, None, "not a .py file or a folder")
    if sub.problem is None:
        hit = forbidden_import(path)
        if hit:
            from dataclasses import replace

            sub = replace(sub, problem=f"imports the reference: {hit} (a submission computes the loss and gradients "
                                       f"itself; {', '.join(FORBIDDEN_IMPORTS)} may not be imported)")
    return sub


def find_submissions(folder: Path, file: str | None = None) -> tuple[list[Submission], list[str]]:
    """The submissions in ``folder``, sorted by name, and the names of the entries ignored.

    Parameters
    ----------
    folder : the class's folder (one entry per student).
    file : ``[assignment] file``, the entry point's file in a folder submission.
    """
    subs, ignored = [], []
    for p in sorted(Path(folder).iterdir(), key=lambda p: p.name):
        if p.name.startswith(".") or p.name in SKIPPED:
            continue
        if p.is_dir() or (p.suffix == ".py" and p.is_file()):
            subs.append(one_submission(p, file))
        else:
            ignored.append(p.name)
    return subs, ignored


def shard(subs: list[Submission], k: int, n: int) -> list[Submission]:
    """Part ``k`` of ``n`` (1-based): every n-th submission of the sorted list, starting at the k-th."""
    if not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: expected 1 <= K <= N")
    return subs[k - 1::n]
