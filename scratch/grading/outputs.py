"""What ``grade`` writes: ``grades.csv``, one JSON report per submission, the class summary.

Every file is written atomically: the text goes to a temporary file in the same folder, which
is then renamed over the target (``os.replace``), so an interrupted run never leaves half a
file, and a file that exists is complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..formatting import json_ready, plain_table
from .config import TIER_TITLES, Assignment
from .scoring import STATUSES, SubmissionGrade, _fmt, class_counts

#: Where the per-submission reports go inside RESULTS/.
REPORTS = "reports"
#: Where the per-submission HTML pages go (``--html``).
PAGES = "html"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def csv_name(shard: tuple[int, int] | None) -> str:
    """``grades.csv``, or ``grades-K-of-N.csv`` for one shard of a class."""
    return "grades.csv" if shard is None else f"grades-{shard[0]}-of-{shard[1]}.csv"


def report_path(out: Path, name: str) -> Path:
    """``RESULTS/reports/NAME.json``."""
    return Path(out) / REPORTS / f"{name}.json"


def csv_columns(assignment: Assignment) -> list[str]:
    """The columns of ``grades.csv``: submission, status, score, max_score, each tier's points
    and each graded quantity's (``TIER.QUANTITY``), the pitfalls diagnosed (``;``-separated),
    run time, the crash and time-out flags, the cases that raised, and a message."""
    cols = ["submission", "status", "score", "max_score"]
    for t in assignment.tiers:
        cols += [t.name, *(f"{t.name}.{q}" for q in t.points)]
    return cols + ["pitfalls", "seconds", "crashed", "timed_out", "raised", "message"]


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR first): submission names and messages come from students."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(g: SubmissionGrade) -> dict[str, Any]:
    """One submission's row of ``grades.csv``."""
    row: dict[str, Any] = {"submission": spreadsheet_safe(g.name), "status": g.status, "score": _fmt(g.score),
                           "max_score": _fmt(g.max_score)}
    for name, t in g.tiers.items():
        row[name] = _fmt(t.points)
        for q, s in t.quantities.items():
            row[f"{name}.{q}"] = _fmt(s.points)
    row.update(pitfalls=";".join(g.pitfalls), seconds=f"{g.seconds:.2f}", crashed=int(g.crashed),
               timed_out=int(g.timed_out), raised=sum(t.raised for t in g.tiers.values()),
               message=spreadsheet_safe(g.message))
    return row


def grades_csv(grades: Sequence[SubmissionGrade], assignment: Assignment) -> str:
    """The text of ``grades.csv``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=csv_columns(assignment), lineterminator="\n")
    w.writeheader()
    for g in grades:
        w.writerow(csv_row(g))
    return buf.getvalue()


def report_json(g: SubmissionGrade, assignment: Assignment) -> str:
    """The per-submission JSON report's text."""
    payload = {"assignment": {"title": assignment.title, "config": assignment.source,
                              "network": assignment.spec.as_dict()}, **g.as_dict()}
    return json.dumps(json_ready(payload), indent=2) + "\n"


def class_summary(grades: Sequence[SubmissionGrade], assignment: Assignment, *, seconds: float | None = None,
                  jobs: int | None = None, top: int = 10) -> str:
    """The class summary printed at the end: counts per status, how many earned each tier's
    full marks, and the most common diagnosed mistakes, counted."""
    from ..pitfalls import PITFALLS

    c = class_counts(list(grades))
    n = c["submissions"]
    statuses = ", ".join(f"{v} {k}" for k, v in c["statuses"].items() if v)
    lines = [f"{n} submission(s): {statuses or 'none'}"
             + (f"; mean score {c['mean_score']:.3g} / {_fmt(assignment.max_score)}" if n else "")
             + f"; {c['full_marks']} with full marks"]
    if seconds is not None and n:
        lines[0] += f" ({seconds:.1f} s, {seconds / n:.2f} s per submission" + (f", {jobs} at a time)" if jobs else ")")
    rows = [(TIER_TITLES[t.name], _fmt(t.max_score), f"{c['tiers_full_marks'].get(t.name, 0)} of {n}")
            for t in assignment.tiers]
    lines += ["", plain_table(("tier", "points", "full marks"), rows)]
    if c["pitfalls"]:
        lines += ["", "Most common diagnosed mistakes (submissions):"]
        for name, count in list(c["pitfalls"].items())[:top]:
            title = PITFALLS[name].title if name in PITFALLS else ""
            lines.append(f"  {count:4d}  {name}" + (f"  ({title})" if title else ""))
    else:
        lines += ["", "No known mistake diagnosed."]
    flagged = [g for g in grades if g.status != "graded"]
    if flagged:
        lines += ["", "Not graded normally:"]
        lines += [f"  {g.name}: {g.status}: {g.message}" for g in flagged[:top]]
        if len(flagged) > top:
            lines.append(f"  ... and {len(flagged) - top} more (see grades.csv)")
    return "\n".join(lines)


def summary_json(grades: Sequence[SubmissionGrade], assignment: Assignment) -> str:
    """``summary.json``: the counts of :func:`class_summary`, for scripts."""
    c = class_counts(list(grades))
    c["max_score"] = assignment.max_score
    c["tiers"] = {t.name: {"title": TIER_TITLES[t.name], "points": t.max_score,
                           "full_marks": c["tiers_full_marks"].get(t.name, 0)} for t in assignment.tiers}
    return json.dumps(json_ready(c), indent=2) + "\n"


__all__ = ["STATUSES", "class_summary", "csv_columns", "csv_name", "grades_csv", "report_json", "report_path",
           "summary_json", "write_atomic"]
