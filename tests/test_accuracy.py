"""Accuracy beyond the frameworks (issue 3, part 3): float32 dz2 and dz1 on confident
predictions and saturated units, elementwise against the exact gradients (scratch.lab.accuracy).

scratch's fused route must meet the goal; torch and JAX (and scratch's own textbook staged
route) must be measurably worse on the same cases, so that the demonstration cannot go stale.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache

import numpy as np
import pytest

import oracles
import scratch
from scratch.lab.accuracy import ERROR_KEYS, Truth, errors, implementations, truth, verdict
from scratch.cases import confident_case
from scratch.lab.cli import main
from scratch.compare import elementwise_relative_error
from scratch.tolerances import (
    ACCURACY_DZ1_GOAL,
    ACCURACY_DZ2_GOAL,
    ACCURACY_FLOAT64_AGREEMENT,
    FRAMEWORK_CANCELLATION_MIN_ERROR,
)

SEEDS = list(range(5))
seed_param = pytest.mark.parametrize("seed", SEEDS, ids=[f"s{s}" for s in SEEDS])


@lru_cache(maxsize=None)
def case_and_truth(seed: int) -> tuple:
    """The float32 confident case of ``seed`` and its 60-digit truth (computed once per worker)."""
    c = confident_case(seed)
    return c, truth(c.params, c.x, c.y)


@seed_param
def test_cases_are_confident_and_saturated(seed):
    c, t = case_and_truth(seed)
    assert c.params.W1.dtype == np.float32 and np.issubdtype(c.y.dtype, np.integer)
    assert np.all((t.gap > 17) & (t.gap < 23)), t.gap
    assert np.abs(t.z1).min() >= 10.4
    fwd = scratch.forward(c.params, c.x)
    np.testing.assert_array_equal(np.argmax(fwd.z2, axis=1), c.y)  # confident and right
    assert np.all(np.abs(fwd.a1) == 1.0)  # float32 tanh rounds every unit to +-1
    assert np.mean(fwd.yhat[np.arange(len(c.y)), c.y] == 1.0) >= 0.5  # ... and most true-class probabilities to 1


@seed_param
def test_truth_agrees_with_cancellation_free_float64(seed):
    """Two independent ways to the exact gradients: scratch's cancellation-free float64 algebra
    and the textbook formulas at 60 digits."""
    c, t = case_and_truth(seed)
    got = scratch.loss_and_grads(c.params.astype(np.float64), c.x.astype(np.float64), c.y)
    e = errors(got, t)
    worst = {k: v for k, v in e.items() if k != "dz1_plain" and not v <= ACCURACY_FLOAT64_AGREEMENT}
    assert not worst, worst


@seed_param
@pytest.mark.parametrize("quantity,goal", [("dz2", ACCURACY_DZ2_GOAL), ("dz1", ACCURACY_DZ1_GOAL)], ids=["dz2", "dz1"])
def test_scratch_float32_meets_the_goal(seed, quantity, goal):
    c, t = case_and_truth(seed)
    e = errors(scratch.loss_and_grads(c.params, c.x, c.y), t)
    assert e[quantity] <= goal, f"{c.name}: {quantity} elementwise error {e[quantity]:.3g} > {goal}"


@seed_param
def test_floor_only_lifts_entries_where_da1_cancels(seed):
    """Eq. (E)'s floor changes nothing where dz2 W2^T is well conditioned: there the plain
    elementwise error of scratch's float32 dz1 meets the goal too."""
    c, t = case_and_truth(seed)
    dz1 = scratch.loss_and_grads(c.params, c.x, c.y)[1].dz1
    well = t.kappa <= 10
    assert well.mean() > 0.5  # most entries are well conditioned
    plain = elementwise_relative_error(dz1[well], t.grads.dz1[well])
    assert plain <= ACCURACY_DZ1_GOAL, f"{c.name}: plain dz1 error {plain:.3g} where kappa <= 10"


TEXTBOOK = [(impl, q) for impl in ("torch", "jax") for q in ("loss", "dz2", "dz1")] + [("staged", "dz2"), ("staged", "dz1")]


@pytest.mark.parametrize("impl,quantity", TEXTBOOK, ids=[f"{i}-{q}" for i, q in TEXTBOOK])
def test_textbook_float32_is_measurably_worse(impl, quantity):
    """torch, JAX and the staged teaching route compute 1 - yhat_c, 1 - a1^2 (and the frameworks
    log(1 + T)) in float32, which round to 0 on these cases.  (The staged route's loss is the
    fused route's log1p one, so it is not listed.)"""
    f = implementations()["scratch (staged)" if impl == "staged" else impl]
    c, t = case_and_truth(0)
    e = errors(f(c.params, c.x, c.y), t)
    assert e[quantity] >= FRAMEWORK_CANCELLATION_MIN_ERROR, f"{impl} float32 {quantity}: {e[quantity]:.3g}"


def test_float64_autograd_loses_tanh_derivative_beyond_18():
    """Why the truth is not an oracle: float64 autograd's tanh' = 1 - tanh^2 is 0 for |z1| > 18.7."""
    c, t = case_and_truth(0)
    assert np.abs(t.z1).max() > 19
    c64 = c.astype(np.float64)
    e = errors(oracles.get("torch")(c64.params, c64.x, c64.y), t)
    assert e["dz1"] >= FRAMEWORK_CANCELLATION_MIN_ERROR


def test_errors_of_a_non_finite_result_are_inf():
    c, t = case_and_truth(0)
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    bad = g._replace(dz2=np.full_like(g.dz2, np.nan))
    assert errors((L, bad), t) == {k: float("inf") for k in ERROR_KEYS}


def test_errors_see_one_wrong_entry():
    """The elementwise error is not diluted by the large entries: one entry off by 1% shows."""
    c, t = case_and_truth(0)
    L, g = scratch.loss_and_grads(c.params, c.x, c.y)
    i = np.unravel_index(np.argmin(np.abs(t.grads.dz2)), g.dz2.shape)  # the smallest entry
    dz2 = g.dz2.copy()
    dz2[i] *= 1.01
    assert errors((L, g._replace(dz2=dz2)), t)["dz2"] >= 0.009


def test_confident_case_rejects_a_shape_it_cannot_build():
    with pytest.raises(ValueError, match="D >= N"):
        confident_case(0, (8, 4, 16, 3))


def test_accuracy_command_table_and_json(tmp_path, capsys):
    out = tmp_path / "acc.json"
    assert main(["accuracy", "--seeds", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["failures"] == []
    rows = {(r["implementation"], r["dtype"]): r for r in report["rows"]}
    assert rows[("scratch (fused)", "float32")]["dz2"] <= ACCURACY_DZ2_GOAL
    assert rows[("torch", "float32")]["dz2"] >= FRAMEWORK_CANCELLATION_MIN_ERROR
    assert "dz1 (E)" in capsys.readouterr().out


def test_verdict_fails_a_missed_goal_and_a_framework_that_caught_up():
    rows = [{"implementation": "scratch (fused)", "dtype": "float32", "dz2": 2e-4, "dz1": 1e-5},
            {"implementation": "torch", "dtype": "float32", "loss": 1.0, "dz2": 1e-6, "dz1": 1.0}]
    bad = verdict(rows)
    assert len(bad) == 2 and "dz2" in bad[0] and "torch" in bad[1]


def test_truth_type():
    _, t = case_and_truth(0)
    assert isinstance(t, Truth) and t.grads.dz2.dtype == np.float64 and t.scale.dz1.shape == t.grads.dz1.shape


def test_missing_mpmath_is_named_once(monkeypatch, capsys):
    """The install hint said the same thing twice ("...: pip install ...: pip install ...")."""
    monkeypatch.setitem(sys.modules, "mpmath", None)
    assert main(["accuracy", "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("pip install") == 1 and "scratch-backprop[cli]" in err and "mpmath" in err


def test_missing_framework_is_skipped_and_said(monkeypatch, capsys):
    """Without torch the accuracy table still runs scratch and JAX, and says what it skipped."""
    import oracles

    real = oracles.get

    def get(name):
        if name == "torch":
            raise oracles.MissingFramework("the 'torch' oracle needs 'torch', which is not installed: pip install 'scratch-backprop[torch]'")
        return real(name)

    monkeypatch.setattr(oracles, "get", get)
    assert main(["accuracy", "--seeds", "0"]) == 0
    out = capsys.readouterr()
    assert "skipped: the 'torch' oracle" in out.err and "jax" in out.out and "torch" not in out.out
