"""``compare`` and ``pitfalls`` over the family (``--activations``), and the page's family section.

Tiny sweeps only (one seed, the small shape, float64, labels): the family's full cross product
is the business of ``tests/test_family.py``; here it is the commands' plumbing that is checked.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

import scratch
from scratch.lab.cli import main
from scratch.tolerances import FLOAT64_ORACLE_RTOL

TINY = ["--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels", "--quiet"]
ACTIVATIONS = ["tanh", "relu", "leaky_relu", "sigmoid"]
QUANTITIES = ["loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1"]


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------
def test_compare_runs_every_listed_activation_with_the_other_options(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["compare", *TINY, "--activations", "tanh,relu", "leaky_relu,sigmoid", "--alpha", "0.2",
               "--l2", "1e-3", "--l2-form", "full", "--reduction", "sum", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = json.loads(out.read_text())
    nets = ["tanh-sum-l2full1e-03", "relu-sum-l2full1e-03", "leaky_relu0.2-sum-l2full1e-03", "sigmoid-sum-l2full1e-03"]
    assert report["passed"] and report["networks"] == nets
    assert [s["activation"] for s in report["specs"]] == ACTIVATIONS
    assert [s["alpha"] for s in report["specs"]] == [0.01, 0.01, 0.2, 0.01]  # --alpha is leaky_relu's only
    assert all(s["l2"] == 1e-3 and s["l2_form"] == "full" and s["reduction"] == "sum" for s in report["specs"])
    assert report["n_pairs"] == 4 * 2  # members x oracles (torch, jax), one case each
    assert sorted((r["network"], r["quantity"]) for r in report["summary"]) == sorted(
        (n, q) for n in nets for q in QUANTITIES)
    assert {c["network"] for c in report["cases"]} == set(nets)
    for r in report["summary"]:
        assert math.isfinite(r["max_rel"]) and r["max_rel"] <= FLOAT64_ORACLE_RTOL, r
    assert "network" in text and all(n in text for n in nets)


def test_compare_without_network_options_keeps_the_seed_table(capsys):
    assert main(["compare", *TINY, "--oracles", "torch"]) == 0
    header = capsys.readouterr().out.splitlines()[2]
    assert "quantity" in header and "network" not in header


def test_compare_passes_the_spec_to_scratch_and_exits_1_when_a_member_differs(monkeypatch, tmp_path):
    """A derivative that is wrong for relu only: the relu rows fail, the tanh rows do not."""
    import scratch.lab.comparison as cmd

    def wrong_for_relu(params, x, y, spec=None):
        L, g = scratch.loss_and_grads(params, x, y, spec=spec)
        return (L, g._replace(db1=g.db1 * 0)) if spec is not None and spec.activation == "relu" else (L, g)

    monkeypatch.setattr(cmd, "loss_and_grads", wrong_for_relu)
    out = tmp_path / "r.json"
    assert main(["compare", *TINY, "--oracles", "torch", "--activations", "tanh,relu", "--json", str(out)]) == 1
    failed = {(s["network"], s["quantity"]) for s in json.loads(out.read_text())["summary"] if not s["passed"]}
    assert failed == {("relu", "db1")}


BAD = [
    (["--activations", "relus"], "argument --activations: invalid choice: 'relus'", "did you mean 'relu'"),
    (["--activations", "relu,relu"], "argument --activations: relu listed twice", ""),
    (["--activations", "relu,tanh", "--alpha", "0.1"], "--alpha 0.1: the slope belongs to leaky_relu", "not in"),
    (["--activation", "relu", "--activations", "tanh"], "--activation relu and --activations tanh", "give one"),
    (["--activation", "relu", "--alpha", "0.1"], "--alpha 0.1: the slope belongs to --activation leaky_relu", ""),
    (["--l2", "-1"], "argument --l2: '-1': lambda must be", "[0, 1e+06]"),
    (["--l2", "x"], "argument --l2: 'x' is not a number", ""),
    (["--alpha", "1", "--activations", "leaky_relu"], "argument --alpha: '1'", "[0, 1)"),
    (["--reduction", "median"], "argument --reduction: invalid choice: 'median'", ""),
]


@pytest.mark.parametrize("command", ["compare", "pitfalls"])
@pytest.mark.parametrize("argv, message, more", BAD, ids=["unknown", "twice", "alpha-without-leaky", "both-options",
                                                          "alpha-with-relu", "negative-l2", "l2-not-a-number",
                                                          "alpha-1", "reduction"])
def test_bad_network_options_exit_2_before_any_work(command, argv, message, more, monkeypatch, capsys, tmp_path):
    import scratch.lab.commands.compare as cmp
    import scratch.lab.commands.pitfalls as pit

    def no_work(*a, **k):
        raise AssertionError("work started before the usage check")

    monkeypatch.setattr(cmp, "load_oracles", no_work)
    monkeypatch.setattr(cmp, "compare_sweep", no_work)
    monkeypatch.setattr(pit, "load_installed", no_work)
    monkeypatch.setattr(pit, "gallery", no_work)
    out = tmp_path / "r.json"
    try:  # argparse exits 2 itself; a UsageError of the command is main's exit status 2
        rc = main([command, *argv, "--json", str(out)])
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and more in err and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# pitfalls
# --------------------------------------------------------------------------------------------
def test_pitfalls_over_relu_runs_the_relu_gallery(tmp_path, capsys):
    out = tmp_path / "p.json"
    rc = main(["pitfalls", "--activations", "relu", "--oracles", "torch", "--quiet", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = json.loads(out.read_text())
    names = [r["name"] for r in report["pitfalls"]]
    assert report["networks"] == ["relu"] and {r["network"] for r in report["pitfalls"]} == {"relu"}
    assert "relu_derivative_ge" in names and "missing_mean" in names
    for tanh_only in ("tanh_derivative_from_z", "float32_tanh_derivative_from_a1", "float32_sigmoid_derivative"):
        assert tanh_only not in names and tanh_only not in text
    relu = next(r for r in report["pitfalls"] if r["name"] == "relu_derivative_ge")
    assert relu["caught_by"] == ["torch"] and "relu" in relu["caught_on"]
    assert "network" in text and "relu = relu, reduction mean, no L2" in text


def test_pitfalls_with_l2_adds_the_l2_pitfalls(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["pitfalls", "--l2", "1e-3", "--oracles", "torch", "--quiet", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["pitfalls"]
    names = {r["name"] for r in rows}
    assert {"l2_gradient_other_convention", "l2_on_biases", "penalty_missing_from_loss",
            "penalty_missing_from_gradient"} <= names
    assert {r["network"] for r in rows} == {"tanh-l2half1e-03"} and "tanh_derivative_from_z" in names


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------
def test_the_page_shows_the_family(monkeypatch):
    from scratch.lab.page import report_page as rp

    plan = dataclasses.replace(rp.QUICK, family={"seeds": [0], "shapes": ["small"], "targets": ["labels"],
                                                 "oracles": ["torch", "jax"]})
    run = rp.collect(plan, only=("family",))
    page = rp.render(run)
    assert run.failures() == [] and run.as_json()["family"]["networks"] == ACTIVATIONS
    sec = page[page.index('id="family"'):page.index('id="provenance"')]
    assert "dz" in sec and "is the same for every activation" in sec and "never touches" in sec
    for member in ("tanh (the seed network)", "relu", "leaky_relu (slope α)", "sigmoid", "reduction sum",
                   "L2, half", "L2, full", "L2 on the biases too"):
        assert f"<td>{member}</td>" in sec, member
    worst = rp.family_worst(run.data["family"])
    assert {(w["network"], w["oracle"]) for w in worst} == {(a, o) for a in ACTIVATIONS for o in ("torch", "jax")}
    for w in worst:
        assert math.isfinite(w["max_rel"]) and w["max_rel"] <= FLOAT64_ORACLE_RTOL and w["passed"], w
    assert sec.count("badge pass") == len(ACTIVATIONS)


@pytest.mark.parametrize("options", [["--l2-biases"], ["--l2-form", "full"], ["--l2-form", "half", "--l2-biases"]],
                         ids=["biases", "form", "both"])
def test_l2_options_without_l2_are_usage_errors(options, capsys):
    """They say how lambda applies; without --l2 they would do nothing (silently): exit 2."""
    from scratch.lab.cli import main

    assert main(["compare", "--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels",
                 "--quiet", *options]) == 2
    assert "give --l2 LAMBDA > 0 too" in capsys.readouterr().err
