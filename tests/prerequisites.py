"""Programs outside Python that a few tests drive: a headless chromium through playwright
(``test_page_browser.py``) and Node.js (the case-file client of ``test_casefiles.py``).

On a user's machine a missing one is a *skip* that says what is missing and the line that
installs it; in CI (``CI=true``, set by ``.ci/run``) the same absence is a loud failure, so
these tests can never silently stop running there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

#: What installs each prerequisite (shown in the skip reason).
INSTALL = {
    "playwright": "pip install -e '.[test]' (playwright-python; never `playwright install`, the system chromium is used)",
    "chromium": "sudo apt-get install chromium (Debian/Ubuntu), or point SCRATCH_CHROMIUM at a chromium binary",
    "node": "sudo apt-get install nodejs (v18+), or point SCRATCH_NODE at a node binary",
}


def in_ci() -> bool:
    """Whether this run is CI's: ``CI`` set to ``true``/``1``/``yes`` (GitHub Actions, GitLab and
    ``.ci/run`` all set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(what: str, problem: str | None) -> None:
    """Skip the test (fail it in CI) when ``problem`` (why ``what`` is unusable) is not None."""
    if problem is None:
        return
    message = f"{what} not available: {problem}; install: {INSTALL[what]}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing prerequisite fails here, it is never skipped)", pytrace=False)
    pytest.skip(message)


def _executable_problem(path: str | None, name: str, env: str) -> str | None:
    if path is None:
        return f"no {name!r} on PATH and {env} is not set"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"{path!r} is not an executable file" + (f" (from {env})" if os.environ.get(env) else "")
    return None


def require_browser() -> None:
    """playwright-python importable and a chromium executable at
    :func:`scratch.lab.page.verify.chromium_path`; else skip (fail in CI)."""
    if importlib.util.find_spec("playwright") is None:
        require("playwright", "the playwright package is not installed")
    from scratch.lab.page.verify import chromium_path

    path = chromium_path()
    require("chromium", _executable_problem(path, "chromium", "SCRATCH_CHROMIUM"))


def node_path() -> str:
    """The Node.js executable: ``$SCRATCH_NODE``, else ``node`` on the PATH; else skip (fail in CI)."""
    path = os.environ.get("SCRATCH_NODE") or shutil.which("node")
    require("node", _executable_problem(path, "node", "SCRATCH_NODE"))
    assert path is not None
    return path
