"""Grading a class: ``python -m scratch grade SUBMISSIONS/ --out RESULTS/``.

Each submission (a ``.py`` file, or a folder holding the entry point) is checked by
``python -m scratch check`` in processes of its own, one per tier of the rubric, ``jobs``
submissions at a time, under a wall-clock and a memory limit; the reports are scored against
the assignment's rubric and written as ``grades.csv``, one JSON report per submission, a
class summary, or Gradescope's ``results.json``.  See ``docs/grading.md``.

- :mod:`.config`: the assignment (TOML), checked key by key before any work;
- :mod:`.submissions`: finding the submissions, ``--shard K/N``;
- :mod:`.runner`: running check, crash- and hang-proof;
- :mod:`.scoring`: points per quantity and tier, and why each point was lost;
- :mod:`.outputs`: grades.csv, JSON reports, the class summary (all written atomically);
- :mod:`.gradescope`: results.json and the autograder bundle.
"""

from __future__ import annotations

from .config import DEFAULT_CONFIG, TIER_TITLES, TIERS, Assignment, ConfigError, TierSweep, load_assignment, parse_assignment
from .gradescope import results_json, validate_results, write_bundle
from .outputs import class_summary, grades_csv, write_atomic
from .runner import SubmissionRun, TierRun, run_submissions
from .scoring import STATUSES, SubmissionGrade, grade_run
from .submissions import Submission, find_submissions, one_submission, shard

__all__ = [
    "Assignment", "ConfigError", "DEFAULT_CONFIG", "STATUSES", "Submission", "SubmissionGrade", "SubmissionRun",
    "TIERS", "TIER_TITLES", "TierRun", "TierSweep", "class_summary", "find_submissions", "grade_run", "grades_csv",
    "load_assignment", "one_submission", "parse_assignment", "results_json", "run_submissions", "shard",
    "validate_results", "write_atomic", "write_bundle",
]
