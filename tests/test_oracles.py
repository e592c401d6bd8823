"""Ours vs the autograd oracles: loss, dz2, dW2, db2, dz1, dW1, db1 on every generated case.

Each case checks shape, dtype and finiteness before values (scratch.compare).  float64 cases
are compared on identical arrays; float32 cases against the oracle in float64 on the same
float32-rounded arrays (the truth), at scratch.tolerances.float32_rtol.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracles
import scratch
from scratch.cases import SHAPES
from scratch.compare import assert_results_match, check_case, format_failures
from scratch.tolerances import oracle_rtol

from conftest import dtype_param, seed_param, shape_param, target_param


@pytest.mark.parametrize("oracle", oracles.AUTOGRAD)
@shape_param
@dtype_param
@target_param
@seed_param
def test_matches_oracle(oracle, case, shape_name, dtype_name):
    checks = check_case(scratch.loss_and_grads, oracles.get(oracle), case.params, case.x, case.y,
                        rtol=oracle_rtol(dtype_name, SHAPES[shape_name]))
    failures = format_failures(checks)
    assert not failures, f"{case.name} vs {oracle}:\n{failures}"


@pytest.mark.parametrize("oracle", oracles.AUTOGRAD)
@target_param
def test_oracle_keeps_float32(oracle, target):
    """An oracle run in float32 returns float32 (no silent upcast) close to its float64 self."""
    from scratch.cases import make_case

    c32 = make_case(1, SHAPES["c10"], np.float32, target)
    got = oracles.get(oracle)(c32.params, c32.x, c32.y)
    checks = check_case(oracles.get(oracle), oracles.get(oracle), c32.params, c32.x, c32.y,
                        rtol=oracle_rtol(np.float32, SHAPES["c10"]))
    assert not format_failures(checks)
    assert got[0].dtype == np.float32 and all(g.dtype == np.float32 for g in got[1])


def test_oracles_agree_with_each_other(small_case):
    """The two oracles also agree with each other (a broken oracle cannot pass alone)."""
    c = small_case
    a = oracles.get("torch")(c.params, c.x, c.y)
    b = oracles.get("jax")(c.params, c.x, c.y)
    assert_results_match(a, b, rtol=oracle_rtol(np.float64, SHAPES["small"]), dtype=np.float64, dims=(4, 3, 5, 3))


def test_missing_framework_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "not_a_framework", None)
    with pytest.raises(oracles.MissingFramework, match=r"scratch-backprop\[nf\]"):
        oracles.require("not_a_framework", "nf")


def test_unknown_oracle_is_named():
    with pytest.raises(ValueError, match="unknown oracle 'tf'"):
        oracles.get("tf")
