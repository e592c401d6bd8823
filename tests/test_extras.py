"""With only ``pip install -e .`` (NumPy), every command either runs with what is installed,
saying what it skipped, or exits 2 naming the extra to install; never a traceback.

Each command runs in a subprocess whose ``sitecustomize`` makes every optional package
unimportable (``sys.modules[name] = None``); benchmark workers inherit it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The packages of the extras (torch, jax, plot, cli): absent after ``pip install -e .``.
OPTIONAL = ("torch", "jax", "jaxlib", "optax", "matplotlib", "tqdm", "rich", "threadpoolctl", "mpmath", "sklearn",
            "autograd", "scipy", "latex2mathml", "pygments", "playwright", "numba")
EXAMPLE = str(ROOT / "scripts" / "examples" / "student_backprop.py")

#: id -> (argv, expected exit status, text the output must contain).  Exit 2 must name an extra.
RUNS = {
    "compare": (["compare", "--seeds", "0", "--shapes", "n1", "--targets", "labels"], 2, "scratch-backprop[torch]"),
    "compare-numeric": (["compare", "--oracles", "numeric", "--seeds", "0", "--shapes", "n1"], 0, "PASS"),
    "compare-torch": (["compare", "--oracles", "torch", "--seeds", "0", "--shapes", "n1"], 2, "scratch-backprop[torch]"),
    "pitfalls": (["pitfalls"], 0, "skipped jax_without_x64"),
    "pitfalls-numeric": (["pitfalls", "--oracles", "numeric"], 0, "skipped jax_without_x64"),
    "pitfalls-show": (["pitfalls", "--show", "w2_not_transposed"], 0, "# BUG"),
    "accuracy": (["accuracy", "--seeds", "0"], 2, "scratch-backprop[cli]"),
    "stepsize": (["stepsize", "--shapes", "n1", "--per-decade", "1"], 0, "best step"),
    "stepsize-plot": (["stepsize", "--shapes", "n1", "--plot", "s.png"], 2, "scratch-backprop[plot]"),
    "train": (["train", "--steps", "5"], 0, "skipped: the 'torch'"),
    "train-torch": (["train", "--steps", "5", "--frameworks", "numpy,torch"], 2, "scratch-backprop[torch]"),
    "train-plot": (["train", "--steps", "5", "--frameworks", "numpy", "--plot", "t.png"], 2, "scratch-backprop[plot]"),
    "saturation": (["saturation", "--hidden", "8"], 0, "tanh saturation"),
    "saturation-plot": (["saturation", "--plot", "s.png"], 2, "scratch-backprop[plot]"),
    "bench": (["bench", "--shapes", "3,2,5,2", "--dtypes", "float64", "--repeats", "2", "--warmup", "1"], 0,
              "skipped: jax worker failed"),
    "bench-jax": (["bench", "--shapes", "3,2,5,2", "--frameworks", "jax", "--repeats", "1", "--warmup", "1"], 2,
                  "scratch-backprop[jax]"),
    "help": (["--help"], 0, "compare"),
    "check": (["check", f"{EXAMPLE}:loss_and_grads", "--seeds", "0", "--shapes", "small"], 0, "all passed"),
    "check-bug": (["check", f"{EXAMPLE}:loss_and_grads_buggy", "--seeds", "0", "--shapes", "small"], 1,
                  "bias_gradient_by_mean"),
    "check-torch": (["check", f"{EXAMPLE}:loss_and_grads", "--reference", "torch"], 2, "scratch-backprop[torch]"),
    "cases-export": (["cases", "export", "cases", "--seeds", "0", "--shapes", "small"], 0, "wrote"),
    "conformance": (["conformance", "--seeds", "0", "--shapes", "small"], 0, "the autograd peer needs"),
    "conformance-peer": (["conformance", "--implementations", "sklearn"], 2, "scratch-backprop[peers]"),
    "curvature": (["curvature", "--no-moons"], 2, "scratch-backprop[curvature]"),
    "curvature-pitfalls": (["curvature", "--pitfalls"], 0, "pitfall"),
    "report": (["report", "--quick", "--out", "r.html"], 2, "report,torch]"),
    "check-html": (["check", f"{EXAMPLE}:loss_and_grads", "--html", "c.html"], 2, "scratch-backprop["),
}


@pytest.fixture(scope="module")
def numpy_only(tmp_path_factory):
    """The environment of a subprocess in which every optional package is unimportable."""
    d = tmp_path_factory.mktemp("numpy_only")
    (d / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in OPTIONAL))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(d), str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("argv, status, text", list(RUNS.values()), ids=list(RUNS))
def test_runs_or_names_the_missing_extra(numpy_only, tmp_path, argv, status, text):
    r = subprocess.run([sys.executable, "-m", "scratch", *argv], capture_output=True, text=True, env=numpy_only,
                       cwd=tmp_path, timeout=600)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out[-3000:]
    assert r.returncode == status, out[-3000:]
    assert text in out, out[-3000:]
    hints = re.findall(r"pip install '[^']+'", out)
    assert all(out.count(h) == 1 for h in hints), f"an install hint said twice: {out}"
    if status == 2:
        assert "pip install 'scratch-backprop[" in r.stderr


def test_the_blocker_blocks(numpy_only):
    """The environment really lacks the extras (otherwise the test above proves nothing)."""
    probe = "import importlib.util as u, sys; sys.exit(any(__import__('importlib').util.find_spec(m) for m in %r))" % (OPTIONAL,)
    assert subprocess.run([sys.executable, "-c", probe], env=numpy_only, timeout=60).returncode == 0
