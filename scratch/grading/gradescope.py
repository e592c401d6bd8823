"""Gradescope: the ``results.json`` of one submission, and the autograder bundle a teacher uploads.

Gradescope runs ``run_autograder`` once per submission in a container of its own, with the
student's files in ``/autograder/submission`` and the bundle's files in ``/autograder/source``;
the script must write ``/autograder/results/results.json`` (format:
https://gradescope-autograders.readthedocs.io/en/latest/specs/): a top-level ``score``, and
``tests``, each with ``name``, ``score``, ``max_score``, ``output`` (shown to the student),
``visibility`` (``visible``, ``hidden``, ``after_due_date``, ``after_published``) and
optionally ``number``, ``status`` (``passed`` / ``failed``), ``tags``, ``extra_data``.

Here each (tier, quantity) of the rubric is one test, numbered ``TIER.QUANTITY`` in rubric
order, whose output says why points were lost; the top-level ``output`` is the whole
feedback.  :func:`write_bundle` writes ``setup.sh`` (installs this package, from a wheel put
beside it or from the package index) and ``run_autograder`` (runs ``python -m scratch grade
--format gradescope``); ``AUTOGRADER_ROOT`` stands in for ``/autograder`` to test it locally.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .config import TIER_TITLES, VISIBILITIES, Assignment
from .scoring import SubmissionGrade

#: The package that setup.sh installs when no wheel lies beside it.
PACKAGE = "scratch-backprop"
#: Where setup.sh puts the virtual environment run_autograder uses.
VENV = "/opt/scratch-grader"


def results_json(g: SubmissionGrade, assignment: Assignment) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one graded submission (a JSON-ready dict)."""
    tests = []
    for ti, (name, t) in enumerate(g.tiers.items(), 1):
        for qi, (q, s) in enumerate(t.quantities.items(), 1):
            if s.reason is None:
                output = f"passed on all {s.cases} case(s)"
            else:
                output = s.reason + "".join(f"\ndiagnosis: {d}" for d in t.diagnosis)
            tests.append({"name": f"{TIER_TITLES[name]}: {q}", "number": f"{ti}.{qi}", "score": float(s.points),
                          "max_score": float(s.max_points), "status": "passed" if s.reason is None else "failed",
                          "output": output, "visibility": assignment.visibility, "tags": [name, q]})
    return {"score": float(g.score), "execution_time": round(g.seconds, 2), "output": g.feedback(), "tests": tests,
            "extra_data": {"status": g.status, "max_score": g.max_score, "pitfalls": g.pitfalls,
                           "crashed": g.crashed, "timed_out": g.timed_out}}


def validate_results(data: Any) -> list[str]:
    """The ways ``data`` breaks Gradescope's results.json format (empty when it is valid):
    a numeric ``score``; ``tests`` a list of objects with a string ``name``, numeric ``score``
    and ``max_score`` (0 <= score <= max_score), a string ``output``, a known ``visibility``;
    and the tests' scores adding up to the top-level score."""
    errors = []

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not isinstance(data, dict):
        return [f"results must be an object, got {type(data).__name__}"]
    if not number(data.get("score")):
        errors.append(f"score must be a number, got {data.get('score')!r}")
    tests = data.get("tests")
    if not isinstance(tests, list):
        return errors + [f"tests must be a list, got {type(tests).__name__}"]
    for i, t in enumerate(tests):
        if not isinstance(t, dict):
            errors.append(f"tests[{i}] must be an object")
            continue
        if not isinstance(t.get("name"), str) or not t["name"]:
            errors.append(f"tests[{i}].name must be a non-empty string")
        for k in ("score", "max_score"):
            if not number(t.get(k)):
                errors.append(f"tests[{i}].{k} must be a number, got {t.get(k)!r}")
        if number(t.get("score")) and number(t.get("max_score")) and not 0 <= t["score"] <= t["max_score"]:
            errors.append(f"tests[{i}]: score {t['score']} outside [0, max_score {t['max_score']}]")
        if not isinstance(t.get("output", ""), str):
            errors.append(f"tests[{i}].output must be a string")
        if t.get("visibility", "visible") not in VISIBILITIES:
            errors.append(f"tests[{i}].visibility {t.get('visibility')!r} not one of {', '.join(VISIBILITIES)}")
        if t.get("status", "passed") not in ("passed", "failed"):
            errors.append(f"tests[{i}].status {t.get('status')!r} not passed or failed")
    if number(data.get("score")) and all(isinstance(t, dict) and number(t.get("score")) for t in tests) and tests:
        total = sum(t["score"] for t in tests)
        if abs(total - data["score"]) > 1e-6 * max(1.0, abs(total)):
            errors.append(f"the tests' scores add up to {total}, not the score {data['score']}")
    return errors


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image
# (https://gradescope-autograders.readthedocs.io/en/latest/specs/).  Written by
# `python -m scratch grade --gradescope-bundle`.
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
apt-get install -y python3 python3-venv python3-pip
python3 -m venv {venv}
shopt -s nullglob
wheels=("$SOURCE"/*.whl)
if [ ${{#wheels[@]}} -gt 0 ]; then
    {venv}/bin/pip install "${{wheels[@]}}"        # a wheel put beside this script
else
    {venv}/bin/pip install "{requirement}"
fi
{venv}/bin/python -m scratch grade --help > /dev/null   # fail the build now, not at the first submission
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this once per submission, in a fresh container: the student's files are in
# $ROOT/submission, this bundle in $ROOT/source; it writes $ROOT/results/results.json.
# Written by `python -m scratch grade --gradescope-bundle`.  To try it locally, point
# AUTOGRADER_ROOT at a folder holding source/ submission/ results/ (and PYTHON at an
# interpreter with the package installed).
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
if [ -z "${{PYTHON:-}}" ]; then
    if [ -x {venv}/bin/python ]; then PYTHON={venv}/bin/python; else PYTHON=python3; fi
fi
mkdir -p "$ROOT/results"
"$PYTHON" -m scratch grade "$ROOT/submission" --out "$ROOT/results" --format gradescope \\
    --config "$ROOT/source/assignment.toml" --quiet
status=$?
if [ "$status" -ne 0 ] || [ ! -s "$ROOT/results/results.json" ]; then
    # the grader itself could not run: say so to the student rather than show nothing
    printf '{{"score": 0.0, "output": "The autograder could not run (exit status %s); your instructor has been told.", "tests": []}}\\n' \\
        "$status" > "$ROOT/results/results.json"
fi
exit "$status"
"""


def _requirement() -> str:
    try:
        from importlib.metadata import version

        return f"{PACKAGE}[cli]=={version(PACKAGE)}"
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        return f"{PACKAGE}[cli]"


def write_bundle(folder: Path, assignment: Assignment) -> list[Path]:
    """Write ``setup.sh``, ``run_autograder`` (both executable) and ``assignment.toml`` (the
    config's text) into ``folder`` (created if missing); return the paths.

    A teacher zips the folder's *contents* (``cd DIR && zip -r ../autograder.zip .``) and
    uploads the zip as a Gradescope programming assignment's autograder.
    """
    from .outputs import write_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_atomic(folder / "setup.sh", SETUP_SH.format(venv=VENV, requirement=_requirement())),
             write_atomic(folder / "run_autograder", RUN_AUTOGRADER.format(venv=VENV)),
             write_atomic(folder / "assignment.toml", assignment.text)]
    for p in paths[:2]:
        os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return paths
