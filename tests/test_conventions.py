"""Conventions of real code that are not mistakes: accepted, and said once in the report.

Biases' gradients as (1, H) / (1, C) rows, gradients keyed by parameter name (``W1``), and a
class-based model (``params`` dict + ``loss(X, y)`` -> ``(loss, grads)``, the layout of the
CS231n ``TwoLayerNet`` assignment).  Every implementation is written here in plain NumPy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratch import NetworkSpec
from scratch.adapter import NOTE_BIAS_ROWS, NOTE_PARAM_KEYS, ImplementationError, from_model, read_outputs
from scratch.lab.cli import main
from scratch.testing import check_implementation

SWEEP = dict(seeds=[0, 1], shapes=["small", "n1", "h1"], dtypes=["float64", "float32"], targets=["labels"])
RELU_FULL = NetworkSpec("relu", l2=0.01, l2_form="full")


def tanh_net(params, X, y, *, rows=False, keyed=False, db1_scale=1.0):
    """The seed network for labels, written plainly; options for the conventions under test."""
    W1, b1, W2, b2 = params
    N = X.shape[0]
    a1 = np.tanh(X @ W1 + b1)
    s = a1 @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dz2 = p.copy()
    dz2[np.arange(N), y] -= 1
    dz2 /= N
    dz1 = dz2 @ W2.T * (1 - a1 ** 2)
    g = {"dW1": X.T @ dz1, "db1": db1_scale * dz1.sum(axis=0, keepdims=rows), "dW2": a1.T @ dz2,
         "db2": dz2.sum(axis=0, keepdims=rows)}
    if keyed:
        g = {k[1:]: v for k, v in g.items()}
    return X.dtype.type(loss), g


class TwoLayerNet:
    """The CS231n assignment's layout: ReLU, mean data loss + reg * sum W^2, grads keyed W1..."""

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, reg=0.01):
        rng = np.random.default_rng(0)
        self.params = {"W1": std * rng.standard_normal((input_size, hidden_size)), "b1": np.zeros(hidden_size),
                       "W2": std * rng.standard_normal((hidden_size, output_size)), "b2": np.zeros(output_size)}
        self.reg = reg

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        h = np.maximum(0, X @ W1 + b1)
        scores = h @ W2 + b2
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean() + self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        d = probs.copy()
        d[np.arange(N), y] -= 1
        d /= N
        grads = {"W2": h.T @ d + 2 * self.reg * W2, "b2": d.sum(axis=0)}
        dh = d @ W2.T
        dh[h <= 0] = 0
        grads["W1"] = X.T @ dh + 2 * self.reg * W1
        grads["b1"] = dh.sum(axis=0)
        return X.dtype.type(loss), grads


def test_bias_rows_are_read_as_vectors_and_noted_once():
    report = check_implementation(lambda p, x, y: tanh_net(p, x, y, rows=True), **SWEEP)
    assert report.ok, str(report)
    assert report.notes == [NOTE_BIAS_ROWS] and str(report).count(NOTE_BIAS_ROWS) == 1
    assert json.loads(report.to_json())["notes"] == [NOTE_BIAS_ROWS]


def test_a_bias_row_note_never_masks_a_wrong_value():
    report = check_implementation(lambda p, x, y: tanh_net(p, x, y, rows=True, db1_scale=2.0), **SWEEP)
    assert not report.ok and report.notes == [NOTE_BIAS_ROWS]
    assert {q for r in report.failures() for q in r.failed()} == {"db1"}


def test_a_bias_column_is_not_a_convention():
    def columns(p, x, y):
        L, g = tanh_net(p, x, y)
        return L, {**g, "db1": g["db1"].reshape(-1, 1)}

    report = check_implementation(columns, **{**SWEEP, "shapes": ["small", "n1"]})  # H > 1: a column is not a row
    assert not report.ok and report.notes == [] and "shape" in report.failures()[0].checks["db1"].problem


def test_gradients_keyed_by_parameter_name_are_accepted_and_noted():
    report = check_implementation(lambda p, x, y: tanh_net(p, x, y, keyed=True, rows=True), **SWEEP)
    assert report.ok and report.notes == [NOTE_PARAM_KEYS, NOTE_BIAS_ROWS]


@pytest.mark.parametrize("grads, message", [
    ({"dW1": 1, "b1": 1, "dW2": 1, "db2": 1}, "ambiguous"),
    ({"W1": 1, "dW1": 1, "b1": 1, "W2": 1, "b2": 1}, "both parameter names"),
    ({"W1": np.ones(2), "b1": np.ones(2), "W2": np.ones(2)}, "missing db2"),
], ids=["mixed", "both-spellings", "one-missing"])
def test_a_mixed_or_incomplete_mapping_is_an_implementation_error(grads, message):
    with pytest.raises(ImplementationError, match=message):
        read_outputs((np.float64(1.0), grads))


@pytest.mark.parametrize("how", ["class", "factory", "from_model"])
def test_a_class_based_model_is_checked(how):
    if how == "class":
        report = check_implementation(TwoLayerNet, signature="model", spec=RELU_FULL, **SWEEP)
    elif how == "factory":
        report = check_implementation(lambda: TwoLayerNet(1, 1, 1), signature="model", spec=RELU_FULL, **SWEEP)
    else:
        report = check_implementation(from_model(TwoLayerNet), spec=RELU_FULL, **SWEEP)
    assert report.ok, str(report)
    assert report.notes == [NOTE_PARAM_KEYS]


def test_the_model_gets_the_cases_parameters_as_copies():
    seen = []

    class Spy(TwoLayerNet):
        def loss(self, X, y=None):
            seen.append(self.params["W1"])
            out = super().loss(X, y)
            self.params["W1"] += 1.0  # the model may do what it likes with its own copy
            return out

    report = check_implementation(Spy, signature="model", spec=RELU_FULL, **SWEEP)
    assert report.ok, str(report)
    assert all(isinstance(w, np.ndarray) for w in seen)


def test_a_model_without_loss_is_an_implementation_error():
    class NoLoss:
        params: dict = {}

    with pytest.raises(ImplementationError, match="no loss"):
        check_implementation(NoLoss, signature="model", **SWEEP)


def test_check_cli_takes_a_model_class(capsys):
    argv = ["check", f"{__file__}:TwoLayerNet", "--signature", "model", "--activation", "relu", "--l2", "0.01",
            "--l2-form", "full", "--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels",
            "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "all passed" in out and NOTE_PARAM_KEYS in out


def test_identify_finds_the_model_classes_member():
    from scratch.identify import identify

    found = identify(TwoLayerNet, signature="model", l2_form="full", seeds=[0], shapes=["small"],
                     dtypes=["float64"], targets=["labels"])
    assert found.spec == RELU_FULL and found.ok, found.sentence
