"""``python -m scratch compare`` over the family: the network options, ``--activations``, one
row per member; bad usage exits 2 before any work; the seed network's output is unchanged."""

from __future__ import annotations

import json

import pytest

from scratch.lab.cli import main


def test_activations_compares_every_member_in_one_run(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["compare", "--quiet", "--seeds", "0", "--shapes", "small", "--targets", "labels", "soft",
               "--activations", "tanh,relu", "leaky_relu", "sigmoid", "--alpha", "0.2", "--l2", "1e-3",
               "--reduction", "sum", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "network" in text and "over 4 network(s)" in text
    report = json.loads(out.read_text())
    nets = {s["network"] for s in report["summary"]}
    assert nets == {"tanh-sum-l2half1e-03", "relu-sum-l2half1e-03", "leaky_relu0.2-sum-l2half1e-03",
                    "sigmoid-sum-l2half1e-03"}
    assert all(s["passed"] and s["cases"] == 4 for s in report["summary"])  # 2 targets x 2 oracles
    assert {c["network"] for c in report["cases"]} == nets and report["n_pairs"] == 4 * 2 * 2 * 2


def test_one_member_by_the_network_options(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["compare", "--quiet", "--seeds", "0", "--shapes", "h1", "--oracles", "numeric", "--activation", "relu",
               "--l2", "0.5", "--l2-form", "full", "--l2-biases", "--json", str(out)])
    assert rc == 0, capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["networks"] == ["relu, reduction mean, L2 lambda ||W||^2 with lambda = 0.5 on weights and biases"]
    assert {c["case"].split("-", 4)[-1] for c in report["cases"]} == {"relu-l2full5e-01b"}


def test_seed_output_has_no_network_column(capsys):
    rc = main(["compare", "--quiet", "--seeds", "0", "--shapes", "small", "--targets", "labels"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "network" not in text and text.splitlines()[0].endswith("rounded inputs)")


@pytest.mark.parametrize("argv, message", [
    (["--activations", "tanh", "gelu"], "invalid choice: 'gelu'"),
    (["--activations", "relu,relu"], "relu listed twice"),
    (["--activation", "relu", "--activations", "sigmoid"], "give one of them"),
    (["--activations", "relu", "--alpha", "0.2"], "--alpha 0.2: the slope belongs to leaky_relu"),
    (["--alpha", "0.2"], "--alpha 0.2"),
    (["--l2", "-1"], "--l2"),
], ids=["unknown", "twice", "both", "alpha-without-leaky", "alpha-tanh", "negative-l2"])
def test_bad_network_usage_exits_2_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "never.json"
    with pytest.raises(SystemExit) as exc:
        rc = main(["compare", "--quiet", "--seeds", "0", "--shapes", "small", "--json", str(out), *argv])
        raise SystemExit(rc)
    err = capsys.readouterr()
    assert exc.value.code == 2, err
    assert message in err.err and "Traceback" not in err.err
    assert not out.exists()
