"""Identify: ``scratch.identify.identify`` / ``check --identify`` names the member of the family an
implementation computes, then checks against it.

Every implementation is written here, in plain NumPy, the ways real code writes them (course
notes' ReLU with a full L2 and a summed loss, (1, H) bias rows, gradients keyed ``W1``; a
book's sigmoid; a tanh mean net; leaky ReLUs; a wrong forward pass; a wrong backward pass);
none uses scratch's network.  The expected member is the one each was written to compute.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratch import NetworkSpec
from scratch.identify import identify
from scratch.lab.cli import main
from scratch.testing import identify_implementation

SWEEP = dict(seeds=[0], shapes=["small", "n1", "c1"], dtypes=["float64"], targets=["labels"])


def _act(name, z, alpha):
    if name == "tanh":
        return np.tanh(z), 1.0 - np.tanh(z) ** 2
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s, s * (1.0 - s)
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(z.dtype)
    return np.where(z > 0, z, alpha * z), np.where(z > 0, 1.0, alpha).astype(z.dtype)


def make_net(act="tanh", reduction="mean", lam=0.0, form="half", biases=False, alpha=0.01,
             bias_rows=False, keyed=False):
    """A two-layer net written the plain way, for labels y (N,)."""
    def net(params, X, y):
        W1, b1, W2, b2 = params
        N = X.shape[0]
        z1 = X @ W1 + b1
        a1, da = _act(act, z1, alpha)
        s = a1 @ W2 + b2
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        scale = 1.0 / N if reduction == "mean" else 1.0
        loss = -np.log(p[np.arange(N), y]).sum() * scale
        regs = (W1, b1, W2, b2) if biases else (W1, W2)
        half = 0.5 if form == "half" else 1.0
        loss = loss + half * lam * sum(np.sum(w * w) for w in regs)
        k = lam if form == "half" else 2.0 * lam
        dz2 = p.copy()
        dz2[np.arange(N), y] -= 1.0
        dz2 *= scale
        dW2 = a1.T @ dz2 + k * W2
        db2 = dz2.sum(axis=0, keepdims=bias_rows) + (k * (b2.reshape(1, -1) if bias_rows else b2) if biases else 0)
        dz1 = (dz2 @ W2.T) * da
        dW1 = X.T @ dz1 + k * W1
        db1 = dz1.sum(axis=0, keepdims=bias_rows) + (k * (b1.reshape(1, -1) if bias_rows else b1) if biases else 0)
        g = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
        if keyed:
            g = {k_[1:]: v for k_, v in g.items()}
        return loss, g
    return net


def course_notes_net(params, X, y, reg=1e-3):
    """The course notes' way: ReLU, data loss summed, reg * sum W^2 (gradient 2 reg W), biases as
    (1, H) rows, gradients keyed by parameter name."""
    W1, b1, W2, b2 = params
    b1, b2 = b1.reshape(1, -1), b2.reshape(1, -1)
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    N = X.shape[0]
    loss = np.sum(-np.log(probs[range(N), y])) + reg * np.sum(W1 * W1) + reg * np.sum(W2 * W2)
    dscores = probs
    dscores[range(N), y] -= 1
    dW2 = hidden.T @ dscores + 2 * reg * W2
    db2 = np.sum(dscores, axis=0, keepdims=True)
    dhidden = dscores @ W2.T
    dhidden[hidden <= 0] = 0
    dW1 = X.T @ dhidden + 2 * reg * W1
    db1 = np.sum(dhidden, axis=0, keepdims=True)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def softplus_net(params, X, y):
    """A network outside the family: softplus hidden units, log(1 + e^z), derivative sigmoid(z)."""
    W1, b1, W2, b2 = params
    N = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.log1p(np.exp(z1))
    s = a1 @ W2 + b2
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dz2 = p.copy()
    dz2[np.arange(N), y] -= 1
    dz2 /= N
    dz1 = dz2 @ W2.T / (1 + np.exp(-z1))
    return loss, {"dW1": X.T @ dz1, "db1": dz1.sum(axis=0), "dW2": a1.T @ dz2, "db2": dz2.sum(axis=0)}


def wrong_backward_net(params, X, y):
    """Right forward pass (tanh, mean), wrong backward: dW1 uses the activation's derivative
    1 - a1 instead of 1 - a1^2."""
    W1, b1, W2, b2 = params
    loss, g = make_net("tanh")(params, X, y)
    a1 = np.tanh(X @ W1 + b1)
    N = X.shape[0]
    s = a1 @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = p.copy()
    dz2[np.arange(N), y] -= 1
    dz1 = (dz2 / N) @ W2.T * (1 - a1)
    return loss, {**g, "dW1": X.T @ dz1, "db1": dz1.sum(axis=0)}


IMPLEMENTATIONS = {
    # id: (implementation, the member it computes, l2_form to report in)
    "course-notes-relu-sum-l2full": (course_notes_net, NetworkSpec("relu", l2=1e-3, l2_form="full", reduction="sum"), "full"),
    "sigmoid-mean": (make_net("sigmoid"), NetworkSpec("sigmoid"), "half"),
    "tanh-mean-rows": (make_net("tanh", bias_rows=True), NetworkSpec(), "half"),
    "tanh-sum-keyed": (make_net("tanh", "sum", keyed=True), NetworkSpec(reduction="sum"), "half"),
    "leaky0.1-mean": (make_net("leaky_relu", alpha=0.1), NetworkSpec("leaky_relu", alpha=0.1), "half"),
    "leaky0.07-sum-l2half": (make_net("leaky_relu", "sum", 0.02, alpha=0.07),
                             NetworkSpec("leaky_relu", alpha=0.07, l2=0.02, reduction="sum"), "half"),
    "relu-mean-l2half-biases": (make_net("relu", lam=0.05, biases=True),
                                NetworkSpec("relu", l2=0.05, l2_biases=True), "half"),
    "sigmoid-mean-l2full-as-half": (make_net("sigmoid", lam=0.01, form="full"),
                                    NetworkSpec("sigmoid", l2=0.02, l2_form="half"), "half"),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])  # float32 probes: noisier fits, the same findings
@pytest.mark.parametrize("name", list(IMPLEMENTATIONS))
def test_identify_finds_the_member_and_every_case_passes_against_it(name, dtype):
    fn, want, form = IMPLEMENTATIONS[name]
    found = identify(fn, l2_form=form, **{**SWEEP, "dtypes": [dtype]})
    assert found.matched, found.sentence
    assert found.spec.canonical() == want.canonical(), (found.spec, want)
    assert found.spec.l2_form == (form if want.l2 else found.spec.l2_form)
    assert found.ok and found.report.ok, str(found)
    assert found.sentence == f"matches {want.describe()}; every case passes against that network"


def test_the_course_notes_net_is_reported_in_its_own_form_and_with_its_conventions():
    found = identify_implementation(course_notes_net, l2_form="full", **SWEEP)
    assert found.sentence.startswith("matches relu, reduction sum, L2 lambda ||W||^2 with lambda = 0.001 on weights only")
    text = str(found.report)
    assert text.count("were read as (H,) / (C,)") == 1 and text.count("were read as dW1 db1 dW2 db2") == 1
    half = identify(course_notes_net, **SWEEP)  # the same function, in the half form: lambda doubled
    assert half.spec == NetworkSpec("relu", l2=2e-3, reduction="sum")


def test_a_wrong_forward_pass_is_said_to_differ_at_n1():
    found = identify(softplus_net, **SWEEP)
    assert not found.matched and found.forward_differs
    assert "the forward pass itself differs" in found.sentence and "one-sample case" in found.sentence
    assert "no known pitfall" not in found.sentence
    assert not found.report.ok


def test_a_wrong_backward_pass_is_checked_against_the_member_its_loss_matches():
    found = identify(wrong_backward_net, **SWEEP)
    assert not found.matched and not found.forward_differs
    assert found.closest == NetworkSpec()
    assert "the loss matches tanh, reduction mean, no L2" in found.sentence
    failed = {q for r in found.report.failures() for q in r.failed()}
    assert failed == {"dW1", "db1"}


def test_an_implementation_that_always_raises_is_not_identified():
    def broken(params, x, y):
        raise RuntimeError("not written yet")

    found = identify(broken, **SWEEP)
    assert not found.matched and "no usable loss and gradients" in found.sentence and "not written yet" in found.sentence


def test_identify_rejects_a_bad_l2_form():
    with pytest.raises(ValueError, match="l2_form"):
        identify(course_notes_net, l2_form="double", **SWEEP)


# --------------------------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------------------------

CLI_SWEEP = ["--seeds", "0", "--shapes", "small", "n1", "--dtypes", "float64", "float32", "--targets", "labels",
             "--quiet"]


def test_check_passes_the_course_notes_net_given_its_options(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["check", f"{__file__}:course_notes_net", "--activation", "relu", "--l2", "1e-3", "--l2-form", "full",
            "--reduction", "sum", *CLI_SWEEP, "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "for relu, reduction sum, L2 lambda ||W||^2 with lambda = 0.001 on weights only" in text
    data = json.loads(out.read_text())
    assert data["network"] == [NetworkSpec("relu", l2=1e-3, l2_form="full", reduction="sum").as_dict()]
    assert len(data["notes"]) == 2 and data["passed"]


def test_check_of_the_course_notes_net_against_the_seed_network_fails(capsys):
    assert main(["check", f"{__file__}:course_notes_net", *CLI_SWEEP]) == 1
    assert "(the seed network)" in capsys.readouterr().out


def test_check_identify_finds_the_options_by_itself(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert main(["check", f"{__file__}:course_notes_net", "--identify", "--l2-form", "full", *CLI_SWEEP,
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    sentence = ("matches relu, reduction sum, L2 lambda ||W||^2 with lambda = 0.001 on weights only; "
                "every case passes against that network")
    assert out.startswith(sentence) and out.count(sentence) == 1
    data = json.loads(out_json.read_text())
    assert data["identification"]["sentence"] == sentence and data["identification"]["matched"]
    assert data["identification"]["spec"] == NetworkSpec("relu", l2=1e-3, l2_form="full", reduction="sum").as_dict()


def test_check_identify_with_a_network_option_exits_2_before_any_work(capsys, monkeypatch):
    import scratch.testing

    monkeypatch.setattr(scratch.testing, "run_cases", lambda *a, **k: pytest.fail("work started"))
    assert main(["check", f"{__file__}:course_notes_net", "--identify", "--activation", "relu", *CLI_SWEEP]) == 2
    err = capsys.readouterr().err
    assert "--identify finds the network itself" in err and "Traceback" not in err


def test_check_identify_on_a_wrong_forward_pass_exits_1(capsys):
    assert main(["check", f"{__file__}:softplus_net", "--identify", *CLI_SWEEP]) == 1
    assert "the forward pass itself differs" in capsys.readouterr().out
