"""Scoring a submission from its check reports: points per quantity and tier, and why points were lost.

For each tier (:data:`scratch.grading.config.TIERS`) and each quantity the rubric gives points,
a quantity *passes a case* when the case ran (no exception, no problem such as inputs modified
in place or a second call differing) and the quantity's check passed.  With ``scoring = "all"``
the quantity earns its points when it passes every case of the tier; with ``"fraction"`` in
proportion to the cases passed.  A quantity the implementation does not return earns nothing
when the rubric gives it points.  A tier whose run gave no usable report (crash, time-out, a
refusal by check) earns nothing, and says why.

Every lost point carries its reason: the number of failing cases, the first one with the
check's words (``value: relative error 1 > 1e-10``, ``not finite: 12 NaN``), and the tier's
diagnosis (the pitfall it matches, e.g. ``softmax_without_max_shift``), so a student is told
exactly why a correct but overflow-prone implementation lost the robustness tier.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import TIER_TITLES, Assignment
from .runner import SubmissionRun, TierRun
from .submissions import Submission

#: Longest piece of user-controlled or diagnosis text kept in a reason (the rest is cut).
MAX_TEXT = 600
#: Statuses of a graded submission.
STATUSES = ("graded", "crashed", "timed out", "not gradable")


def cut(text: Any, limit: int = MAX_TEXT) -> str:
    """``str(text)`` cut to ``limit`` characters (with a note of how much was cut)."""
    s = str(text)
    return s if len(s) <= limit else s[:limit] + f"... [{len(s) - limit:,} more characters]"


def _fmt(points: float) -> str:
    return f"{points:g}" if points == int(points) else f"{points:.2f}"


@dataclass
class QuantityScore:
    """One quantity in one tier: ``points`` earned of ``max_points``, cases ``passed`` of
    ``cases``, and ``reason`` (None when full marks)."""

    quantity: str
    points: float
    max_points: float
    passed: int
    cases: int
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "points": self.points, "max_points": self.max_points,
                "passed": self.passed, "cases": self.cases, "reason": self.reason}


@dataclass
class TierScore:
    """One tier: ``points`` of ``max_points``, per quantity a :class:`QuantityScore`, the
    ``diagnosis`` lines and ``pitfalls`` named by check, ``problem`` (why the tier has no
    report; None when it ran), the counts of cases, cases that ``raised``, and its ``html`` page."""

    tier: str
    points: float
    max_points: float
    quantities: dict[str, QuantityScore]
    diagnosis: list[str] = field(default_factory=list)
    pitfalls: list[str] = field(default_factory=list)
    problem: str | None = None
    n_cases: int = 0
    n_failed: int = 0
    raised: int = 0
    seconds: float = 0.0
    html: str | None = None

    @property
    def title(self) -> str:
        return TIER_TITLES[self.tier]

    @property
    def full(self) -> bool:
        """Every point of the tier earned."""
        return self.points >= self.max_points

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "title": self.title, "points": self.points, "max_points": self.max_points,
                "full_marks": self.full, "problem": self.problem, "n_cases": self.n_cases,
                "n_failed": self.n_failed, "raised": self.raised, "seconds": round(self.seconds, 3),
                "quantities": {q: s.as_dict() for q, s in self.quantities.items()},
                "diagnosis": self.diagnosis, "pitfalls": self.pitfalls, "html": self.html}


def _case_outcome(case: dict[str, Any], q: str) -> tuple[bool, str]:
    """Whether quantity ``q`` passed ``case``, and if not, the check's words for why."""
    if case.get("error"):
        return False, f"no result: {cut(case['error'], 300)}"
    problems = case.get("problems") or []
    if problems:
        return False, cut("; ".join(map(str, problems)), 300)
    entry = (case.get("quantities") or {}).get(q)
    if not isinstance(entry, dict) or entry.get("status") == "not checked":
        return False, "not returned"
    if entry.get("status") == "pass" and entry.get("passed", True):
        return True, ""
    return False, cut(entry.get("problem") or "failed", 300)


def score_tier(run: TierRun | None, tier_name: str, points: dict[str, float], scoring: str) -> TierScore:
    """The :class:`TierScore` of one tier's run (``None``: the tier was not reached)."""
    max_points = float(sum(points.values()))
    if run is None or run.report is None:
        why = "not run: an earlier tier ended the submission" if run is None else (run.problem or "no report")
        qs = {q: QuantityScore(q, 0.0, p, 0, 0, why) for q, p in points.items()}
        return TierScore(tier_name, 0.0, max_points, qs, problem=why, seconds=run.seconds if run else 0.0)
    report = run.report
    cases = [c for c in report["cases"] if isinstance(c, dict)]
    qs = {}
    for q, p in points.items():
        outcomes = [(c, *_case_outcome(c, q)) for c in cases]
        passed = sum(ok for _, ok, _ in outcomes)
        n = len(outcomes)
        earned = p if passed == n else (p * passed / n if scoring == "fraction" and n else 0.0)
        reason = None
        if passed < n:
            fails = [(c, why) for c, ok, why in outcomes if not ok]
            if all(why == "not returned" for _, why in fails) and len(fails) == n:
                reason = f"not returned (this rubric gives {q} points)"
            else:
                first, why = fails[0]
                reason = f"failed on {len(fails)} of {n} case(s); first {first.get('id')}: {why}"
        qs[q] = QuantityScore(q, round(earned, 6), p, passed, n, reason)
    diagnosis = [cut(d.get("text", ""), MAX_TEXT) for d in report.get("diagnosis", []) if isinstance(d, dict)]
    pitfalls = list(dict.fromkeys(str(d["pitfall"]) for d in report.get("diagnosis", [])
                                  if isinstance(d, dict) and d.get("pitfall")))
    return TierScore(tier_name, round(sum(s.points for s in qs.values()), 6), max_points, qs, diagnosis, pitfalls,
                     None, len(cases), sum(not c.get("passed") for c in cases), sum(bool(c.get("error")) for c in cases),
                     run.seconds, run.html)


@dataclass
class SubmissionGrade:
    """The grade of one submission: ``status`` (one of :data:`STATUSES`), ``score`` of
    ``max_score``, per tier a :class:`TierScore`, the ``pitfalls`` diagnosed (names, in tier
    order, less those another tier rules out), the wall-clock ``seconds``, the ``crashed`` and ``timed_out`` flags and a one-line
    ``message`` for anything that is not an ordinary grade."""

    submission: Submission
    status: str
    score: float
    max_score: float
    tiers: dict[str, TierScore]
    pitfalls: list[str]
    seconds: float
    crashed: bool
    timed_out: bool
    message: str = ""
    runs: list[TierRun] = field(default_factory=list, repr=False)
    #: Pitfalls the diagnosis named but another tier rules out (see :func:`contradicted`).
    contradicted: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.submission.name

    def feedback(self) -> str:
        """What the student reads: the score, each tier's points and, for each point lost, why."""
        lines = [f"Score {_fmt(self.score)} / {_fmt(self.max_score)}"
                 + (f" ({self.status}: {self.message})" if self.status != "graded" else "")]
        for t in self.tiers.values():
            head = f"{t.title}: {_fmt(t.points)} / {_fmt(t.max_points)}"
            if t.problem:
                lines.append(f"{head}: {t.problem}")
                continue
            if t.full:
                lines.append(f"{head} (all {t.n_cases} case(s) passed)" if not t.n_failed
                             else f"{head} ({t.n_failed} of {t.n_cases} case(s) failed on quantities this rubric does not grade)")
                continue
            lines.append(f"{head} ({t.n_failed} of {t.n_cases} case(s) failed)")
            for s in t.quantities.values():
                if s.reason:
                    lines.append(f"  {s.quantity}: {_fmt(s.points)} / {_fmt(s.max_points)}: {s.reason}")
            for d in t.diagnosis:
                lines.append(f"  diagnosis: {d}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The per-submission JSON report."""
        return {
            "submission": self.name, "path": str(self.submission.path),
            "entry_file": str(self.submission.entry_file) if self.submission.entry_file else None,
            "status": self.status, "score": self.score, "max_score": self.max_score,
            "crashed": self.crashed, "timed_out": self.timed_out, "message": self.message,
            "seconds": round(self.seconds, 3), "pitfalls": self.pitfalls,
            "pitfalls_ruled_out": self.contradicted,
            "tiers": {k: t.as_dict() for k, t in self.tiers.items()},
            "feedback": self.feedback(),
            "runs": [{"tier": r.tier, "command": r.command, "returncode": r.returncode,
                      "seconds": round(r.seconds, 3), "timed_out": r.timed_out, "problem": r.problem,
                      "stderr_tail": r.stderr if r.problem else "",
                      "summary": (r.report or {}).get("summary")} for r in self.runs],
        }


def pitfall_tier(pitfall: str, assignment: Assignment) -> str | None:
    """The tier whose cases always show ``pitfall`` (the gallery's setting for it: logits scaled
    by 1e3 -> robustness; confident float32 -> float32; an ordinary setting whose shape, dtype
    and target the ordinary sweep holds -> ordinary), or None."""
    from ..pitfalls import PITFALLS, SETTINGS

    p = PITFALLS.get(pitfall)
    if p is None or p.caught_on not in SETTINGS:
        return None
    st = SETTINGS[p.caught_on]
    if st.calls != 1:
        return None
    if st.logit_scale >= 1e3 and st.dtype == "float64":
        return "robustness"
    if st.shape == "confident" and st.dtype == "float32":
        return "float32"
    ordinary = assignment.tier("ordinary")
    if ordinary and st.logit_scale == 1.0 and st.shape in ordinary.shapes and st.dtype in ordinary.dtypes \
            and st.target in ordinary.targets:
        return "ordinary"
    return None


def contradicted(pitfall: str, tiers: dict[str, TierScore], assignment: Assignment) -> bool:
    """Whether a pitfall the diagnosis named in one tier is ruled out by another: the tier whose
    cases always show it (:func:`pitfall_tier`) ran and every case passed.  (The diagnosis of a
    textbook implementation's confident float32 failures can name ``softmax_without_max_shift``;
    an implementation that passes every huge-logit case has the max-shift.)"""
    home = pitfall_tier(pitfall, assignment)
    t = tiers.get(home) if home else None
    return bool(t and t.problem is None and t.n_cases and not t.n_failed)


def case_errors(runs: list[TierRun]) -> list[str]:
    """The ``error`` of every case that gave no result, over the reports of ``runs``.  An
    exception of the user's code reads ``raised TypeError: ...``; anything else (a worker killed
    by a signal, an exit, a time-out of one call) is a crash."""
    return [str(c["error"]) for r in runs if r.report for c in r.report["cases"]
            if isinstance(c, dict) and c.get("error")]


def case_endings(runs: list[TierRun], kinds: tuple[str, ...]) -> list[str]:
    """The ``error`` of every case whose worker ended as one of ``kinds`` (the report's
    ``ended``: "import", "timeout", "exit", "signal", "garbage", "not run")."""
    return [str(c.get("error") or c.get("ended")) for r in runs if r.report for c in r.report["cases"]
            if isinstance(c, dict) and c.get("ended") in kinds]


def grade_run(assignment: Assignment, sr: SubmissionRun) -> SubmissionGrade:
    """Score one :class:`~scratch.grading.runner.SubmissionRun` against ``assignment``.

    Afterwards each run's ``report`` holds only its ``passed``, counts and ``summary`` (the
    cases are scored and dropped: a class of full reports would not fit in memory)."""
    runs = {r.tier: r for r in sr.runs}
    sub = sr.submission
    if sub.problem:
        runs = {}
    tiers = {t.name: score_tier(runs.get(t.name), t.name, dict(t.points), assignment.scoring)
             for t in assignment.tiers}
    if sub.problem:
        for t in tiers.values():
            t.problem = sub.problem
            for q in t.quantities.values():
                q.reason = sub.problem
    named = list(dict.fromkeys(p for t in tiers.values() for p in t.pitfalls))
    pitfalls = [p for p in named if not contradicted(p, tiers, assignment)]
    timed_out = sr.timed_out
    refused = next((r for r in sr.runs if r.not_gradable), None)
    broken = next((r for r in sr.runs if r.problem and not r.timed_out and not r.not_gradable), None)
    died = next((e for e in case_errors(sr.runs) if not e.startswith("raised ")), None)
    unimportable = next(iter(case_endings(sr.runs, ("import",))), None)
    hung = next(iter(case_endings(sr.runs, ("timeout",))), None)
    if sub.problem:
        status, message = "not gradable", sub.problem
    elif timed_out or hung is not None:
        timed_out = True
        status, message = "timed out", (next((r.problem for r in sr.runs if r.timed_out), None) or hung or "")
    elif refused is not None:
        status, message = "not gradable", refused.problem or ""
    elif unimportable is not None:  # the submission's import raised or exited (the worker says so)
        status, message, died = "not gradable", unimportable, None
    elif broken is not None:
        status, message = "crashed", f"{broken.tier}: {broken.problem}"
    elif died is not None:  # a case whose worker died (signal, exit) rather than raised
        status, message = "crashed", died
    else:
        status, message = "graded", ""
    score = round(sum(t.points for t in tiers.values()), 6)
    for r in sr.runs:  # keep each report's summary only: a class's reports would not fit in memory
        if r.report is not None:
            r.report = {k: r.report.get(k) for k in ("passed", "n_cases", "n_failed", "summary")}
    return SubmissionGrade(sub, status, score, assignment.max_score, tiers, pitfalls, sr.seconds,
                           crashed=broken is not None or died is not None, timed_out=timed_out,
                           message=cut(message, 300), runs=sr.runs,
                           contradicted=[p for p in named if p not in pitfalls])


def class_counts(grades: list[SubmissionGrade]) -> dict[str, Any]:
    """Counts for the class summary: per status, per tier (full marks), and diagnosed pitfalls."""
    tiers: dict[str, int] = {}
    for g in grades:
        for name, t in g.tiers.items():
            tiers[name] = tiers.get(name, 0) + bool(t.full)
    return {
        "submissions": len(grades),
        "statuses": {s: sum(g.status == s for g in grades) for s in STATUSES},
        "full_marks": sum(g.score >= g.max_score for g in grades),
        "tiers_full_marks": tiers,
        "pitfalls": dict(Counter(p for g in grades for p in g.pitfalls).most_common()),
        "mean_score": round(sum(g.score for g in grades) / len(grades), 4) if grades else None,
    }
