"""The pitfalls gallery (issue 3, part 2): proof with teeth that every pitfall is caught.

Every faulty implementation of scratch.pitfalls goes through the one comparison
(scratch.compare.check_case) against torch, JAX and the numeric oracle (complex step), at the
tolerance every other check uses, and must fail on exactly the quantities its entry names,
while the right code passes the same check on the same problem (so "caught" means something).
Where a pitfall is invisible (its ``blind_on`` setting: N = 1, C = 1, labels, zero biases,
one call, float64) the test asserts that too and the entry says why; where the oracle check
is too weak to see it (``weak_on``: float32 cancellation in a mixed batch) the test shows that
the elementwise error of scratch.lab.accuracy sees it instead.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

import scratch
from scratch.lab.accuracy import errors, truth
from scratch.lab.cli import main
from scratch.compare import QUANTITIES
from scratch.pitfalls import (
    ORACLES,
    PITFALLS,
    SETTINGS,
    Pitfall,
    check_on,
    check_pitfall,
    failed_quantities,
    gallery,
    member_outputs,
    oracle,
    run_faulty,
)
from scratch.compare import check_case
from scratch.spec import NetworkSpec
from scratch.tolerances import ACCURACY_DZ1_GOAL, ACCURACY_DZ2_GOAL, FLOAT64_ORACLE_RTOL, FRAMEWORK_CANCELLATION_MIN_ERROR

GRADIENT = [p.name for p in PITFALLS.values() if p.is_gradient]
BLIND = [p.name for p in PITFALLS.values() if p.blind_on]
WEAK = [p.name for p in PITFALLS.values() if p.weak_on]
#: Every setting a pitfall is caught on, blind on or weak on: the right code must pass on each.
USED_SETTINGS = sorted({s for p in PITFALLS.values() for s in (p.caught_on, p.blind_on, p.weak_on) if s and p.is_gradient})

oracle_param = pytest.mark.parametrize("oracle_name", ORACLES)

#: The pitfalls the issue requires, by the name they have here.
REQUIRED = {
    "missing 1/N": "missing_mean", "sign flipped": "sign_flipped",
    "elementwise softmax derivative": "elementwise_softmax_derivative",
    "yhat - y with unnormalised targets": "yhat_minus_y", "tanh' from z": "tanh_derivative_from_z",
    "bias gradient by mean": "bias_gradient_by_mean", "bias gradient wrong axis": "bias_gradient_wrong_axis",
    "W2 instead of W2^T": "w2_not_transposed", "softmax without max-shift": "softmax_without_max_shift",
    "log of softmax": "log_of_softmax", "probabilities modified in place": "probabilities_modified_in_place",
    "gradients accumulated": "accumulating_gradients", "float32 yhat - y cancellation": "float32_yhat_minus_y",
    "assert_allclose NaN == NaN": "nan_equals_nan", "JAX without x64": "jax_without_x64",
    "zero biases hiding a bias bug": "zero_biases_hide_a_bias_bug",
    # issue 18: the family's own mistakes
    "ReLU derivative with >=": "relu_derivative_ge", "float32 sigmoid' as s(1 - s)": "float32_sigmoid_derivative",
    "L2 gradient of the other convention": "l2_gradient_other_convention", "biases regularized": "l2_on_biases",
    "penalty in the gradient, not the loss": "penalty_missing_from_loss",
    "penalty in the loss, not the gradient": "penalty_missing_from_gradient",
    "loss averaged over N*C entries": "loss_mean_over_all_entries",
}


@oracle_param
@pytest.mark.parametrize("name", GRADIENT)
def test_pitfall_is_caught(name, oracle_name):
    """Caught by this oracle, on exactly the quantities the entry says it corrupts."""
    p = PITFALLS[name]
    failed = failed_quantities(check_pitfall(p, oracle_name))
    assert failed, f"{name} slipped past {oracle_name} on {p.caught_on}: the check is too weak"
    assert failed == tuple(q for q in QUANTITIES if q in p.hits), f"{name}: hits {p.hits}, failed {failed}"


@oracle_param
@pytest.mark.parametrize("setting", USED_SETTINGS)
def test_right_code_passes_the_same_check(setting, oracle_name):
    """The control: scratch.loss_and_grads passes where the pitfalls fail, so a failure is the pitfall's."""
    checks = check_on(functools.partial(scratch.loss_and_grads, spec=SETTINGS[setting].spec), oracle_name, setting)
    assert not failed_quantities(checks), [c.problem for c in checks if not c.passed]


@oracle_param
@pytest.mark.parametrize("name", BLIND)
def test_pitfall_is_invisible_where_its_entry_says(name, oracle_name):
    """On ``blind_on`` the faulty code computes the right numbers, so no oracle can object: the
    pitfall differs from the right code by the pitfall alone, and the entry's ``why_blind`` is
    the reason the test problems avoid that setting (N > 1, C > 1, unnormalised targets,
    non-zero biases, two calls, float32 confident cases, huge logits)."""
    p = PITFALLS[name]
    assert not failed_quantities(check_pitfall(p, oracle_name, p.blind_on)), p.why_blind


@oracle_param
def test_zero_biases_hide_a_forgotten_bias_from_every_oracle(oracle_name):
    """No oracle sees a forgotten bias when the biases are 0 (the faulty network *is* the right
    one there); the test problems' non-zero biases (scratch.cases, bias_scale=0.5) are the
    check that does."""
    p = PITFALLS["zero_biases_hide_a_bias_bug"]
    assert SETTINGS[p.blind_on].bias_scale == 0 and SETTINGS[p.caught_on].bias_scale > 0
    assert not failed_quantities(check_pitfall(p, oracle_name, p.blind_on))
    assert set(failed_quantities(check_pitfall(p, oracle_name))) == set(QUANTITIES)


@pytest.mark.parametrize("name", WEAK)
def test_oracle_check_misses_float32_cancellation_in_a_mixed_batch(name):
    """A known weakness of the relative error of the largest magnitude (scratch.compare): with
    one ordinary row beside 15 confident, saturated ones, the ordinary row's gradients set the
    scale and the confident rows' zeroed entries vanish below it.  The elementwise error of
    scratch.lab.accuracy sees them; the right code meets the accuracy goal on the same batch."""
    p = PITFALLS[name]
    setting = SETTINGS[p.weak_on]
    assert not failed_quantities(check_pitfall(p, "torch", p.weak_on))  # missed: the weakness
    case = setting.case()
    t = truth(*case[:3])
    bad = errors(run_faulty(p, setting, *case[:3]), t)
    good = errors(scratch.loss_and_grads(*case[:3]), t)
    quantity = "dz2" if "dz2" in p.hits else "dz1"
    assert bad[quantity] >= FRAMEWORK_CANCELLATION_MIN_ERROR
    assert good["dz2"] <= ACCURACY_DZ2_GOAL and good["dz1"] <= ACCURACY_DZ1_GOAL


def test_nan_equals_nan_demo():
    d = PITFALLS["nan_equals_nan"].demo()
    assert d["nan_entries"] > 0
    assert d["assert_allclose"] == "passed"  # the pitfall: NaN == NaN by default
    assert d["assert_allclose_equal_nan_false"] == "failed"
    assert d["scratch.compare"].startswith("non-finite")


def test_jax_without_x64_demo():
    d = PITFALLS["jax_without_x64"].demo()
    assert d["dtype_of_float64_input"] == "float32"
    assert "dtype" in d["scratch.compare"]
    assert d["max_rel_err_values"] > FLOAT64_ORACLE_RTOL  # the values alone would fail too
    assert "x64" in d["oracle_guard"]
    import jax.numpy as jnp

    assert jnp.asarray(np.ones(1)).dtype == np.float64  # the demo left x64 on for everyone else


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_issue_pitfall_is_in_the_gallery(topic):
    assert REQUIRED[topic] in PITFALLS


@pytest.mark.parametrize("name", list(PITFALLS))
def test_entry_is_complete(name):
    """A name, a story a student can read, the faulty code (marked) and the right code."""
    p = PITFALLS[name]
    assert isinstance(p, Pitfall) and len(p.story) >= 150
    assert p.right_source().startswith("def ")
    if p.is_gradient:
        assert "# BUG" in p.source() and "# RIGHT" in p.source()
        assert p.hits and set(p.hits) <= set(QUANTITIES)
        assert (p.blind_on is None) == (p.why_blind == "")


def test_pitfalls_command_table_and_json(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["pitfalls", "--oracles", "torch", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["missed"] == []
    assert report["oracles"] == ["torch"]  # the oracles run, not every one there is
    rows = {r["name"]: r for r in report["pitfalls"]}
    assert set(rows) == set(PITFALLS)
    assert rows["w2_not_transposed"]["oracles"]["torch"]["failed"] == ["dz1", "dW1", "db1"]
    assert rows["nan_equals_nan"]["caught_by"] == ["scratch.compare"]
    text = capsys.readouterr().out
    assert "caught by" in text and "invisible on" in text


def test_pitfalls_names_are_never_cut(capsys):
    """With all three oracles the table is wide; names (what ``--show NAME`` takes) stay whole."""
    main(["pitfalls"])
    out = capsys.readouterr().out
    assert "…" not in out
    missing = [name for name in PITFALLS if name not in out]
    assert not missing, f"cut in the table: {missing}"


def test_pitfalls_command_fails_when_a_pitfall_slips_past(monkeypatch, tmp_path):
    """A "pitfall" that is really the right code slips past every oracle: exit 1, named."""
    import scratch.pitfalls as gallery_module

    fake = Pitfall("not_a_bug", "not a bug", "x" * 150, ("dz2",), scratch.loss_and_grads, scratch.loss_and_grads)
    monkeypatch.setitem(gallery_module.PITFALLS, "not_a_bug", fake)
    out = tmp_path / "p.json"
    assert main(["pitfalls", "--oracles", "torch", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["missed"] == ["not_a_bug"]


def test_pitfalls_show_prints_code_and_story(capsys):
    assert main(["pitfalls", "--show", "w2_not_transposed"]) == 0
    text = capsys.readouterr().out
    assert "# BUG" in text and "def backward" in text and "H = C" in text


def test_pitfalls_show_unknown_name_exits_2(capsys):
    assert main(["pitfalls", "--show", "nope"]) == 2
    assert "unknown pitfall" in capsys.readouterr().err


#: Members of the family the seed-written pitfalls are also made in (their fingerprints there).
MEMBERS = {"relu": NetworkSpec(activation="relu"), "sigmoid-sum": NetworkSpec(activation="sigmoid", reduction="sum"),
           "l2-full-biases": NetworkSpec(l2=0.01, l2_form="full", l2_biases=True)}
SEED_WRITTEN = [p.name for p in PITFALLS.values() if p.is_gradient and not p.takes_spec and not p.precision
                and SETTINGS[p.caught_on].spec.is_seed and SETTINGS[p.caught_on].calls == 1]


@pytest.mark.parametrize("member", list(MEMBERS))
@pytest.mark.parametrize("name", SEED_WRITTEN)
def test_a_seed_pitfall_made_in_another_member_is_the_same_mistake_there(name, member):
    """The fingerprint the diagnosis uses for a case of another member: the pitfall run with that
    member's activation, reduction and penalty fails, against torch built for that member, on
    exactly the quantities it corrupts in the seed network; where it means nothing it is refused."""
    p, spec = PITFALLS[name], MEMBERS[member]
    case = SETTINGS[p.caught_on].case()
    if not p.applies(spec):
        with pytest.raises(ValueError, match=f"pitfall {name} is not a mistake of the network"):
            member_outputs(p, spec, *case[:3])
        return
    ref = functools.partial(oracle("torch"), spec=spec)
    checks = check_case(lambda *a: member_outputs(p, spec, *a), ref, *case[:3], rtol=FLOAT64_ORACLE_RTOL)
    assert failed_quantities(checks) == tuple(q for q in QUANTITIES if q in p.hits)


@pytest.mark.parametrize("name", GRADIENT)
def test_pitfall_declares_the_member_it_is_a_mistake_of(name):
    p = PITFALLS[name]
    assert SETTINGS[p.caught_on].spec == p.spec and p.applies(p.spec)
    assert "# BUG" in p.source() and "# RIGHT" in p.source()


@pytest.mark.parametrize("member", ["relu-sum", "sigmoid-l2"])
def test_the_gallery_of_another_member_catches_every_mistake_of_it(member):
    """``gallery(spec=...)``: every gradient pitfall that is a mistake of the member, made in it on
    its own problem, is caught by the oracle built for that member; the others are left out.
    One known exception: the confident problem (scratch.cases.confident_case) is built around
    tanh's saturation, so with another activation its logits need not be confident and the
    float32 cancellation of yhat - y need not show there."""
    spec = {"relu-sum": NetworkSpec(activation="relu", reduction="sum"),
            "sigmoid-l2": NetworkSpec(activation="sigmoid", l2=0.01)}[member]
    rows = gallery(("torch",), spec=spec)
    names = {r["name"] for r in rows}
    assert names == {p.name for p in PITFALLS.values() if p.is_gradient and p.applies(spec)}
    missed = {r["name"] for r in rows if r["caught_by"] != ["torch"]}
    assert missed <= {"float32_yhat_minus_y"}, missed
    assert all(spec.tag() in r["caught_on"] for r in rows)
