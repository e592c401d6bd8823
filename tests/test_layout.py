"""The two halves of the house: importing the product (``scratch`` and its conformance kit) loads
nothing of the lab (``scratch.lab``) and no optional package.  Checked in a fresh process, since
this process has imported everything by now."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The product modules a user imports (scratch.numba_kernels needs numba: loaded only by tanh="numba").
PRODUCT = ("scratch", "scratch.network", "scratch.softmax", "scratch.checks", "scratch.compare", "scratch.tolerances",
           "scratch.cases", "scratch.workspace", "scratch.fast_tanh", "scratch.curvature", "scratch.testing",
           "scratch.adapter", "scratch.diagnosis", "scratch.casefiles", "scratch.conformance", "scratch.formatting",
           "scratch.argtypes", "scratch.grading", "scratch.pitfalls", "scratch.spec", "scratch.identify", "scratch.worker")
#: Packages of the extras; none may load with the product.
OPTIONAL = ("torch", "jax", "optax", "matplotlib", "rich", "mpmath", "sklearn", "autograd", "scipy", "numba",
            "latex2mathml", "pygments")


@pytest.mark.parametrize("module", PRODUCT)
def test_product_module_loads_no_lab_and_no_extra(module):
    probe = (f"import importlib, json, sys; importlib.import_module({module!r}); "
             "print(json.dumps(sorted(m for m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stdout))
    assert module in loaded
    assert not [m for m in loaded if m.startswith("scratch.lab")], f"{module} loads the lab"
    assert not [m for m in OPTIONAL if m in loaded], f"{module} loads an optional package"


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    """Every import statement of ``path`` (a module under ``scratch/``), anywhere in it (inside a
    function too): its line and the full names of the modules it imports, relative ones resolved."""
    import ast

    rel = path.relative_to(ROOT / "scratch")
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = ("." * node.level) + (node.module or "")
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            target, names = "", [a.name for a in node.names]
        else:
            continue
        package = ["scratch", *rel.parts[:-1]]
        if node.__class__ is ast.ImportFrom and node.level:
            base = package[:len(package) - node.level + 1] + ([node.module] if node.module else [])
            full = [".".join(base)] if node.module else [".".join(base + [n]) for n in names]
        else:
            full = [target] if target else names
        out.append((node.lineno, full))
    return out


def test_no_product_module_imports_the_lab():
    """The arrows run one way: the lab uses the product, never the reverse, not even inside a
    function (the kit's diagnosis needs the pitfall gallery, so the gallery is product:
    scratch/pitfalls.py).  Read from the source, so a lazy import cannot hide."""
    offenders = []
    for path in sorted((ROOT / "scratch").rglob("*.py")):
        rel = path.relative_to(ROOT / "scratch")
        if rel.parts[0] == "lab" or rel.name == "__main__.py":  # __main__ is the command line's door
            continue
        for lineno, full in _imports(path):
            if any(f == "scratch.lab" or f.startswith("scratch.lab.") for f in full):
                offenders.append(f"{rel}:{lineno}")
    assert offenders == [], f"product modules importing the lab: {offenders}"


def test_only_the_command_line_imports_the_commands():
    """The command modules (``scratch/lab/commands/``) hold the command line alone: options,
    printing, exit codes.  What they compute lives in lab modules, which the page, the other lab
    modules and the product call; nothing but the command line's doors (``scratch/lab/cli.py``,
    ``scratch/__main__.py``) and the commands themselves imports a command module, not even
    inside a function.  Read from the source, so a lazy import cannot hide."""
    doors = {("lab", "cli.py"), ("__main__.py",)}
    offenders = []
    for path in sorted((ROOT / "scratch").rglob("*.py")):
        rel = path.relative_to(ROOT / "scratch")
        if rel.parts[:2] == ("lab", "commands") or rel.parts in doors:
            continue
        for lineno, full in _imports(path):
            if any(f == "scratch.lab.commands" or f.startswith("scratch.lab.commands.") for f in full):
                offenders.append(f"{rel}:{lineno}")
    assert offenders == [], f"modules importing a command module: {offenders}"


def test_lab_is_where_the_commands_are():
    """The lab half exists and holds the command line (a rename that broke it would fail here)."""
    probe = "import scratch.lab.cli, scratch.lab.pitfalls, scratch.lab.bench, scratch.lab.train; print('ok')"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
