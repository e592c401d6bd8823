"""The diagnosis on code written the way real code is (issue 18, "diagnosis from real code";
issue 20, precision vs formula).  Every implementation here is written in this file, plainly,
the way a learner or a course writes it (nothing copied from scratch), with the one trait the
test is about: a summed loss, a loss over N*C entries, a float32 clip bound, two different
crashes, label-only code, JAX without x64, a zero truth, another hidden activation, and a
correct implementation that loses digits on confident rows.

PYTEST_DONT_REWRITE: the bare ``assert`` of ``crashes_twice`` must stay bare (no message), as in
a user's module that pytest does not rewrite."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import scratch.testing as st
from scratch.compare import check_quantity
from scratch.diagnosis import blind_spots
from scratch.tolerances import FLOAT64_ORACLE_RTOL


def act(name, z):
    """The hidden activation, written plainly."""
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    return 1 / (1 + np.exp(-z))


def act_grad(name, z, a):
    """Its derivative, the textbook way."""
    if name == "tanh":
        return 1 - a**2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01).astype(z.dtype)
    return a * (1 - a)


def course_net(params, x, y, *, activation="tanh", reduction="mean", loss_over=None, grad_factor=None):
    """A two-layer network the way course notes write it: max-shifted softmax, log-softmax as
    z - max - log sum e, dz2 = (p * s - Y) / N (or without / N for a summed loss).

    ``loss_over``: "NC" averages the loss over all N*C entries (np.mean), "NC/N" then divides by
    N again, "C" multiplies the summed loss by C; ``grad_factor``: the same factor on every gradient
    (code that differentiates its own loss consistently)."""
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    z1 = x @ W1 + b1
    a1 = act(activation, z1)
    z2 = a1 @ W2 + b2
    z = z2 - z2.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    Y = np.eye(C, dtype=x.dtype)[y] if y.ndim == 1 else y
    k = 1.0 if reduction == "sum" else 1.0 / N
    if loss_over == "NC":
        loss = -np.mean(Y * logp)
    elif loss_over == "NC/N":
        loss = -np.mean(Y * logp) / N
    elif loss_over == "C":
        loss = -np.sum(Y * logp) * k * C
    else:
        loss = -np.sum(Y * logp) * k
    dz2 = (p * Y.sum(axis=1, keepdims=True) - Y) * k
    dz1 = dz2 @ W2.T * act_grad(activation, z1, a1)
    g = {"dW1": x.T @ dz1, "db1": dz1.sum(0), "dW2": a1.T @ dz2, "db2": dz2.sum(0)}
    if grad_factor is not None:
        f = {"C": 1.0 / C, "NC": 1.0 / C, "NC/N": 1.0 / (N * C)}.get(grad_factor, grad_factor)
        g = {key: v * x.dtype.type(f) for key, v in g.items()}
    return x.dtype.type(loss), g


SMALL = dict(seeds=[0, 1], shapes=["small", "c10", "wide"], dtypes=["float64"], targets=["labels", "soft"],
             blind_spots=False)


def text_of(report) -> str:
    return "\n".join(map(str, report.diagnosis))


# --------------------------------------------------------------------------------------------
# Factors: a sum, 1/C, N*C, 1/(N*C)
# --------------------------------------------------------------------------------------------


def summed_loss(p, x, y):
    return course_net(p, x, y, reduction="sum")


def test_a_summed_loss_with_its_own_gradients_is_said_to_be_a_sum():
    report = st.check_implementation(summed_loss, **SMALL)
    text = text_of(report)
    assert not report.ok
    assert ("your loss and gradients are consistently N x: your loss is a sum, not a mean "
            "(pass --reduction sum if that is what you meant)") in text, text
    assert "missing_mean" not in text, text
    assert st.check_implementation(summed_loss, spec={"reduction": "sum"}, **SMALL).ok


@pytest.mark.parametrize("over, grads, expected", [
    ("NC", None, "loss is 1/C times the truth on every case (a mean over all N*C entries, not over the N samples)"),
    ("NC", "NC", "dW2 is 1/C times the truth on every case"),
    ("NC/N", None, "loss is 1/(N*C) times the truth on every case"),
    ("C", None, "loss is C times the truth on every case"),
], ids=["loss-mean-over-NC", "loss-and-grads-over-NC", "loss-over-NC-and-N", "loss-times-C"])
def test_factors_of_C_are_named(over, grads, expected):
    def fn(p, x, y):
        return course_net(p, x, y, loss_over=over, grad_factor=grads)

    text = text_of(st.check_implementation(fn, **SMALL))
    assert expected in text, text
    assert "changes from case to case" not in text, text


def test_a_loss_over_NC_entries_is_the_gallery_pitfall():
    def fn(p, x, y):
        return course_net(p, x, y, loss_over="NC")

    report = st.check_implementation(fn, **SMALL)
    assert [d.pitfall for d in report.diagnosis if d.kind == "pitfall"] == ["loss_mean_over_all_entries"], text_of(report)


# --------------------------------------------------------------------------------------------
# Non-finite outputs, exceptions, label-only code, JAX without x64
# --------------------------------------------------------------------------------------------


def clipped_odds(params, x, y):
    """Clips p to [1e-15, 1 - 1e-15] and takes log p as log(odds / (1 + odds)), odds = p / (1 - p):
    right in float64; in float32 the bound 1 - 1e-15 is exactly 1, odds = 1/0 = inf, inf/inf = NaN."""
    loss, g = course_net(params, x, y)
    W1, b1, W2, b2 = params
    z2 = np.tanh(x @ W1 + b1) @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = np.clip(e / e.sum(axis=1, keepdims=True), 1e-15, 1 - 1e-15).astype(x.dtype)
    odds = p / (1 - p)
    Y = np.eye(W2.shape[1], dtype=x.dtype)[y]
    return x.dtype.type(-np.sum(Y * np.log(odds / (1 + odds))) / x.shape[0]), g


def test_nan_outputs_are_a_finding_of_their_own_with_quantities_dtypes_and_shapes():
    report = st.check_implementation(clipped_odds, seeds=[0], shapes=["confident", "small"], dtypes=["float64", "float32"],
                                     targets=["labels"], blind_spots=False)
    found = [d for d in report.diagnosis if d.kind == "non-finite"]
    assert len(found) == 1, text_of(report)
    text = found[0].text
    assert text.startswith("non-finite outputs: loss NaN on 1 case(s) (float32; shapes confident; array shape ())"), text
    assert "Only in float32" in text and "1 - 1e-15 that is exactly 1 in float32" in text, text


def crashes_twice(params, x, y):
    if params[2].shape[1] == 1:
        raise ValueError("need at least two classes")
    assert x.shape[0] > 1
    return course_net(params, x, y)


def _line_of(fn, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_every_distinct_exception_is_counted_with_the_users_file_and_line():
    report = st.check_implementation(crashes_twice, seeds=[0, 1], shapes=["c1", "n1", "small"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    raised = [d for d in report.diagnosis if d.kind == "raised"]
    assert len(raised) == 1, text_of(report)
    text = raised[0].text
    here = "tests/test_diagnosis_real_code.py"
    assert "no result on 4 of 6 case(s): 2 distinct errors" in text, text
    assert f"raised ValueError: need at least two classes (at {here}:{_line_of(crashes_twice, 'raise ValueError')}) on 2 case(s)" in text, text
    assert f"raised AssertionError at {here}:{_line_of(crashes_twice, 'assert x.shape')}: assert x.shape[0] > 1 on 2 case(s)" in text, text


def labels_only(params, x, y):
    """Indexes with y: integer labels only (float targets raise IndexError)."""
    W1, b1, W2, b2 = params
    N = x.shape[0]
    a1 = np.tanh(x @ W1 + b1)
    z2 = a1 @ W2 + b2
    z = z2 - z2.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dz2 = p.copy()
    dz2[np.arange(N), y] -= 1
    dz2 /= N
    dz1 = dz2 @ W2.T * (1 - a1**2)
    return x.dtype.type(loss), {"dW1": x.T @ dz1, "db1": dz1.sum(0), "dW2": a1.T @ dz2, "db2": dz2.sum(0)}


def test_label_only_code_gets_the_targets_labels_hint():
    report = st.check_implementation(labels_only, seeds=[0], shapes=["small"], dtypes=["float64"], blind_spots=False)
    text = text_of(report)
    assert "It raised on float targets only (onehot soft unnormalized)" in text and "--targets labels" in text, text
    assert st.check_implementation(labels_only, seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"]).ok


def jax_float32(params, x, y):
    """A JAX implementation run without x64: float64 inputs come back float32."""
    import jax
    import jax.numpy as jnp

    def loss_fn(P, x, y):
        W1, b1, W2, b2 = P
        z2 = jnp.tanh(x @ W1 + b1) @ W2 + b2
        return -jnp.mean(jax.nn.log_softmax(z2)[jnp.arange(x.shape[0]), y])

    with jax.enable_x64(False):
        P = tuple(jnp.asarray(a) for a in params)
        L, g = jax.value_and_grad(loss_fn)(P, jnp.asarray(x), jnp.asarray(y))
    return np.asarray(L), dict(zip(("dW1", "db1", "dW2", "db2"), (np.asarray(a) for a in g)))


def test_jax_without_x64_gets_the_x64_hint():
    report = st.check_implementation(jax_float32, seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"],
                                     blind_spots=False)
    found = [d for d in report.diagnosis if d.kind == "dtype"]
    assert found and 'jax.config.update("jax_enable_x64", True)' in found[0].text, text_of(report)


# --------------------------------------------------------------------------------------------
# A zero truth: the C = 1 loss
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset, passes", [(1e-15, True), (1e-3, False)], ids=["rounding-1e-15", "wrong-1e-3"])
def test_a_zero_truth_is_measured_against_the_problems_scale(offset, passes):
    """With one class the loss is exactly 0; a rounding-sized 1e-15 is not relative error 1."""
    def off(p, x, y):
        loss, g = course_net(p, x, y)
        return loss + x.dtype.type(offset), g

    report = st.check_implementation(off, seeds=[0, 1], shapes=["c1"], dtypes=["float64"], targets=["labels"],
                                     blind_spots=False)
    assert report.ok is passes, report.summary()


def test_check_quantity_floor_applies_to_an_exact_zero_only():
    got, zero, small = np.float64(1e-15), np.float64(0.0), np.float64(1e-12)
    kw = dict(rtol=FLOAT64_ORACLE_RTOL, dtype=np.float64, shape=())
    assert check_quantity("loss", got, zero, **kw).max_rel == 1.0  # no floor: relative error 1
    assert check_quantity("loss", got, zero, floor=1.0, **kw).passed
    assert not check_quantity("loss", got + 1e-3, zero, floor=1.0, **kw).passed
    assert check_quantity("loss", got, small, floor=1.0, **kw).max_rel > 0.9  # a non-zero truth keeps its own scale


# --------------------------------------------------------------------------------------------
# The family: another hidden activation, a fingerprint made in the case's member
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "leaky_relu"])
def test_another_activation_against_the_seed_network_is_named(activation):
    def fn(p, x, y):
        return course_net(p, x, y, activation=activation)

    text = text_of(st.check_implementation(fn, **SMALL))
    assert f"your outputs match a {activation} hidden layer, not tanh; pass --activation {activation}" in text, text
    assert "no known pitfall matches" not in text, text


def test_relu_with_a_summed_loss_names_both_options():
    def fn(p, x, y):
        return course_net(p, x, y, activation="relu", reduction="sum")

    text = text_of(st.check_implementation(fn, **SMALL))
    assert "match a relu hidden layer with reduction sum" in text and "--activation relu --reduction sum" in text, text


def test_pitfall_fingerprints_are_made_in_the_cases_member():
    """missing 1/N in a relu network, checked as relu: the pitfall, computed for relu, matches."""
    def fn(p, x, y):
        loss, g = course_net(p, x, y, activation="relu")
        return loss, {k: v * x.shape[0] for k, v in g.items()}

    report = st.check_implementation(fn, spec={"activation": "relu"}, **SMALL)
    assert [d.pitfall for d in report.diagnosis if d.kind == "pitfall"] == ["missing_mean"], text_of(report)


def test_pitfalls_of_another_member_are_not_fingerprinted_nor_blind_spots():
    relu_cases = st.cases(seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"], spec={"activation": "relu"})
    spots = {b.pitfall for b in blind_spots(relu_cases)}
    assert not spots & {"tanh_derivative_from_z", "float32_tanh_derivative_from_a1", "float32_sigmoid_derivative"}
    assert "relu_derivative_ge" in spots  # no random case has z1 exactly 0


# --------------------------------------------------------------------------------------------
# Right formula, lost digits (issue 20)
# --------------------------------------------------------------------------------------------


def test_a_correct_float64_implementation_on_confident_rows_gets_a_precision_finding_not_a_pitfall():
    report = st.check_implementation(course_net, seeds=[0, 1], shapes=["huge", "confident"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    text = text_of(report)
    assert not report.ok
    assert "softmax_without_max_shift" not in text and "log_of_softmax" not in text, text
    assert "no known pitfall matches loss" not in text, text
    lost = [d for d in report.diagnosis if d.kind == "precision" and "loss" in d.quantities]
    assert lost and "right formula, lost digits" in lost[0].text and "log1p(T)" in lost[0].text, text
    assert "relative error of loss" in lost[0].text, text


@pytest.mark.parametrize("reference", ["torch", "jax"])
def test_a_reference_that_loses_digits_does_not_fail_the_user(reference):
    """scratch's cancellation-free function as the user's, against torch or JAX on confident
    rows: the reference itself is off the truth there (the premise, asserted first); those
    quantities are judged against the truth instead, pass, and the report says why."""
    case = st.cases(seeds=[0], shapes=["confident"], dtypes=["float64"], targets=["labels"])[0]
    ref = st.check_case(st.get_reference("scratch"), case, reference=st.get_reference(reference))
    assert not ref.ok, f"{reference} agrees with scratch to 1e-10 on confident rows: the premise is gone"
    report = st.check_implementation(st.get_reference("scratch"), seeds=[0], shapes=["confident"],
                                     dtypes=["float64"], targets=["labels"], reference=reference, blind_spots=False)
    assert report.ok, report.summary()
    found = [d for d in report.diagnosis if d.kind == "reference"]
    assert found and f"the reference {reference} itself loses digits on shapes confident" in found[0].text, text_of(report)
    assert "Notes:" in report.summary() and "judged against the cancellation-free truth" in report.summary()


def test_a_wrong_gradient_still_fails_against_a_reference_that_loses_digits():
    def doubled_db1(p, x, y):
        loss, g = course_net(p, x, y)
        return loss, {**g, "db1": 2 * g["db1"]}

    report = st.check_implementation(doubled_db1, seeds=[0], shapes=["confident", "small"], dtypes=["float64"],
                                     targets=["labels"], reference="torch", blind_spots=False)
    assert not report.ok and "db1" in {q for r in report.failures() for q in r.failed()}, report.summary()
    # and a doubled db1 is never "right formula, lost digits", on the confident case either (it
    # was: its truth there is below the size of the terms that cancel)
    assert not any(d.kind == "precision" and "db1" in d.quantities for d in report.diagnosis), report.summary()
    assert any(d.kind == "signature" and d.quantities == ("db1",) for d in report.diagnosis), report.summary()


def test_blind_spot_advice_names_the_dtype_as_an_option():
    spots = {b.pitfall: str(b) for b in blind_spots(st.cases(seeds=[0], shapes=["small"], dtypes=["float64"],
                                                             targets=["labels"]))}
    assert "--shapes confident --dtypes float32 --targets labels" in spots["float32_yhat_minus_y"], spots


def careful_activation(params, x, y):
    """Right formulas; tanh' from z1 without cancellation, but log-sum-exp as max + log sum and
    dz2 = p - y: only the output layer loses digits on confident rows."""
    W1, b1, W2, b2 = params
    N, C = x.shape[0], W2.shape[1]
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2
    m = z2.max(axis=1, keepdims=True)
    logp = z2 - (m + np.log(np.exp(z2 - m) @ np.ones(C))[:, None])
    Y = np.eye(C)[y]
    dz2 = (np.exp(logp) - Y) / N
    u = np.exp(-2 * np.abs(z1))
    dz1 = dz2 @ W2.T * (4 * u / (1 + u) ** 2)
    return -(Y * logp).sum() / N, {"dW1": x.T @ dz1, "db1": dz1.sum(0), "dW2": a1.T @ dz2, "db2": dz2.sum(0)}


def test_the_precision_finding_names_the_operation_that_lost_the_digits():
    report = st.check_implementation(careful_activation, seeds=[0, 1], shapes=["confident"], dtypes=["float64"],
                                     targets=["labels"], blind_spots=False)
    by_q = {q: d for d in report.diagnosis if d.kind == "precision" for q in d.quantities}
    assert {"loss", "dW2", "dW1"} <= set(by_q), text_of(report)
    assert "yhat - y at each confident row's most probable class" in by_q["dW1"].text, by_q["dW1"].text
    assert "activation's derivative" not in by_q["dW1"].text, by_q["dW1"].text  # it is computed from z1 here
    assert "log1p(T)" in by_q["loss"].text and "yhat - y" not in by_q["loss"].text, by_q["loss"].text


def test_a_relu_forward_pass_with_a_gradient_bug_is_named_by_its_loss():
    """relu code with every gradient N x, checked as the seed network: no member matches all of
    it, but the loss says the forward pass is relu's."""
    def fn(p, x, y):
        loss, g = course_net(p, x, y, activation="relu")
        return loss, {k: v * x.shape[0] for k, v in g.items()}

    text = text_of(st.check_implementation(fn, **SMALL))
    assert "your loss matches a relu hidden layer (the forward pass is relu's), but not every gradient does" in text, text


def exits_on_float_targets(params, x, y):
    """Code that ends the process (in-process: raises SystemExit) where a labels-only one raises."""
    if y.ndim == 2:
        raise SystemExit(0)
    return scratch_truth(params, x, y)


def scratch_truth(params, x, y):
    from scratch.network import loss_and_grads

    return loss_and_grads(params, x, y)


def test_an_exit_gets_no_targets_labels_hint():
    """Following the hint would turn a crash into a pass: only the code's own exceptions earn it."""
    report = st.check_implementation(exits_on_float_targets, seeds=[0], shapes=["small"], dtypes=["float64"],
                                     blind_spots=False)
    assert not report.ok and "--targets labels" not in text_of(report), text_of(report)


def stub(params, x, y):
    """A stub: the right loss, every gradient zeros."""
    L, g = scratch_truth(params, x, y)
    return L, {k: np.zeros_like(getattr(g, k)) for k in ("dW1", "db1", "dW2", "db2")}


def test_all_zero_gradients_match_no_pitfall():
    """A float32 saturated case makes some pitfalls' dW1 zero too: zeros are no evidence for them."""
    report = st.check_implementation(stub, seeds=[0], shapes=["small", "confident"], dtypes=["float32"],
                                     targets=["labels"], blind_spots=False)
    assert not report.ok
    assert not [d for d in report.diagnosis if d.pitfall], text_of(report)
    assert "all zeros on every failing case" in text_of(report)
