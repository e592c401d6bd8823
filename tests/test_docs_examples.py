"""The copy-paste examples of the docs run as written.

Every self-contained ```python block of the checked pages (one that starts with an import;
fragments that continue a previous block do not) runs, except those importing the reader's
own ``my_package``; and every shell line that ends in ``# exit N`` runs from the repository root
and must exit N.  An example that stops working fails here, not in a reader's terminal.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/checking.md", "docs/case-files.md", "docs/identify.md", "docs/family.md"]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(page:index, code) of every fenced block of ``kind`` in :data:`PAGES`."""
    out = []
    for page in PAGES:
        path = ROOT / page
        if path.exists():
            for i, (lang, code) in enumerate(BLOCK.findall(path.read_text())):
                if lang == kind:
                    out.append((f"{page}:{i}", code))
    return out


PYTHON = [(k, c) for k, c in blocks("python") if "my_package" not in c and c.lstrip().startswith(("import", "from"))]
SHELL = [(f"{k}:{line.split('#')[0].strip()}", line.split("#")[0].strip(), int(m.group(1)))
         for k, c in blocks("bash") for line in c.splitlines() if (m := re.search(r"#\s*exit (\d)\s*$", line))]


def test_the_pages_have_runnable_examples():
    assert any(k.startswith("docs/checking.md") for k, _ in PYTHON)
    assert sum(k.startswith("docs/checking.md") for k, *_ in SHELL) >= 2


@pytest.mark.parametrize("code", [c for _, c in PYTHON], ids=[k for k, _ in PYTHON])
def test_python_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})


@pytest.mark.parametrize("line, status", [(l, s) for _, l, s in SHELL], ids=[k for k, *_ in SHELL])
def test_shell_example_exits_as_documented(line, status):
    argv = shlex.split(line)
    assert argv[:3] == ["python", "-m", "scratch"], line
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, *argv[1:], "--quiet"], cwd=ROOT, capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == status, f"{line}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
