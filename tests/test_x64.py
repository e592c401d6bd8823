"""Every module that needs JAX's x64 mode enables it itself, checked in a fresh process.

Inside the test session another module may already have imported the JAX oracle, which turns
x64 on for the whole process; so a module that forgot to enable it would pass by import order.
Each check here runs in a new interpreter that imports only the module under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: module -> a program that uses only that module on float64 inputs and fails (exit != 0)
#: if JAX computed in float32.
PROGRAMS = {
    "oracles.jax_oracle": """
import numpy as np
from scratch.cases import SHAPES, make_case
from oracles.jax_oracle import loss_and_grads
c = make_case(0, SHAPES["small"], np.float64, "labels")
L, g = loss_and_grads(c.params, c.x, c.y)  # asserts the float64 dtype itself
assert all(a.dtype == np.float64 for a in g), [a.dtype for a in g]
""",
    "oracles.jax_train": """
import numpy as np
from scratch.lab.data import make_dataset
from scratch.network import init_params
from scratch.lab.train import SGDConfig, train as numpy_train
from oracles.jax_train import train
d = make_dataset("moons", seed=0)
p = init_params(2, 8, 2, rng=np.random.default_rng(0))
cfg = SGDConfig(lr=0.5, steps=20, momentum=0.9, weight_decay=1e-3, seed=0)
got, want = train(p, d.x, d.y, cfg).params, numpy_train(p, d.x, d.y, cfg).params
assert got.W1.dtype == np.float64, got.W1.dtype
err = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(got, want))
assert err < 1e-9, f"jax_train differs from numpy by {err:.1e}: float32 arithmetic?"
""",
    "scratch.lab.bench": """
import numpy as np
from scratch.lab.bench import _jax_steps
L, g = _jax_steps((3, 2, 5, 2), np.dtype(np.float64))["jax"]()
assert L.dtype == np.float64 and all(a.dtype == np.float64 for a in g), (L.dtype, [a.dtype for a in g])
""",
}


@pytest.mark.parametrize("module", list(PROGRAMS))
def test_module_enables_x64_itself(module):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", PROGRAMS[module]], capture_output=True, text=True, env=env,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, f"{module} in a fresh process:\n{r.stderr[-2000:]}"


def test_train_command_with_jax_in_a_fresh_process():
    """The issue's reproduction: ``train --frameworks numpy,jax`` in a new interpreter passes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "scratch", "train", "--frameworks", "numpy,jax", "--steps", "50",
                        "--quiet"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
