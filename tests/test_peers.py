"""Third-party implementations (scratch.peers) checked as clients: where they agree, and where
and why they do not.

Agreement: every peer on every case it declares in ``scratch.peers.PEERS_SUPPORT`` (seeds x
shapes x dtypes x target kinds), by the one comparison (scratch.compare.check_case) against
scratch at scratch.tolerances.oracle_rtol.  Disagreement: each convention a peer has outside
that support is asserted together with its cause, so neither can go stale.  The confident and
saturated cases of scratch.lab.accuracy are run through every peer and their elementwise errors
against the 60-digit truth are pinned to named bounds.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

import scratch
from scratch import Grads, peers
from scratch.lab.accuracy import errors, truth
from scratch.cases import CONFIDENT_TARGETS, DTYPES, SHAPES, TARGETS, confident_case, make_case, sweep
from scratch.compare import QUANTITIES, check_case, check_quantity, format_failures
from scratch.tolerances import (
    ACCURACY_DZ1_GOAL,
    ACCURACY_DZ2_GOAL,
    ACCURACY_FLOAT64_AGREEMENT,
    FRAMEWORK_CANCELLATION_MIN_ERROR,
    oracle_rtol,
)

from conftest import SEEDS

PEERS = tuple(peers.REGISTRY)


def as_grads(fn):
    """A peer's ``(loss, mapping)`` as the ``(loss, Grads)`` that scratch.compare takes."""

    def run(params, x, y):
        loss, g = fn(params, x, y)
        return loss, Grads(**g)

    return run


def peer(name):
    return as_grads(peers.get(name))


# --------------------------------------------------------------------------- agreement

SUPPORTED = [
    pytest.param(p, seed, shape, dtype, target, id=f"{p}-{shape}-{dtype}-{target}-s{seed}")
    for p in PEERS
    for shape in SHAPES
    for dtype in DTYPES
    for target in TARGETS
    for seed in SEEDS
    if peers.supports(p, dtype, target, SHAPES[shape])
]


@pytest.mark.parametrize("name,seed,shape_name,dtype_name,target", SUPPORTED)
def test_peer_agrees_with_scratch(name, case, shape_name, dtype_name):
    """Loss and all six gradients (dtype kept, finite, within oracle_rtol of the truth)."""
    checks = check_case(peer(name), scratch.loss_and_grads, case.params, case.x, case.y,
                        rtol=oracle_rtol(dtype_name, SHAPES[shape_name]))
    failures = format_failures(checks)
    assert not failures, f"{name} on {case.name}:\n{failures}"
    assert [c.quantity for c in checks] == list(QUANTITIES)


def test_support_is_declared_for_every_peer():
    assert set(peers.PEERS_SUPPORT) == set(peers.REGISTRY)
    for name, s in peers.PEERS_SUPPORT.items():
        assert set(s["dtypes"]) <= set(DTYPES) and set(s["targets"]) <= set(TARGETS), name
        assert set(s["quantities"]) == set(QUANTITIES), name
    # the agreement test covers every dtype and target kind each peer declares
    for name, s in peers.PEERS_SUPPORT.items():
        covered = [p.values[3:5] for p in SUPPORTED if p.values[0] == name]
        assert {d for d, _ in covered} == set(s["dtypes"]) and {t for _, t in covered} == set(s["targets"]), name


def test_supports_reads_the_declaration():
    assert peers.supports("sklearn", np.float32, "soft", SHAPES["c10"])
    assert not peers.supports("sklearn", "float64", "unnormalized", SHAPES["c10"])
    assert not peers.supports("sklearn", "float64", "labels", SHAPES["c1"])
    assert peers.supports("sklearn-logistic", "float64", "labels", SHAPES["tall"])
    assert not peers.supports("sklearn-logistic", "float64", "labels", SHAPES["c10"])
    assert peers.supports("autograd", "float32", "unnormalized", SHAPES["c1"])


def test_sweep_options_select_the_supported_shapes():
    assert peers.sweep_options("sklearn-logistic")["shapes"] == [n for n, d in SHAPES.items() if d[3] == 2]
    assert "c1" not in peers.sweep_options("sklearn")["shapes"] and "confident" in peers.sweep_options("sklearn")["shapes"]
    assert peers.sweep_options("autograd")["shapes"] == [*SHAPES, "confident"]
    assert peers.sweep_options("sklearn")["targets"] == ["labels", "onehot", "soft"]


@pytest.mark.parametrize("name", PEERS)
def test_the_kit_passes_each_peer_on_what_it_supports(name):
    """The peers as real clients of scratch.testing: a ``(loss, mapping)`` return with dz1, dz2,
    checked on exactly its declared sweep (the confident cases aside: see below)."""
    from scratch.testing import check_implementation

    report = check_implementation(peers.get(name), seeds=[0], name=name, blind_spots=False,
                                  **peers.sweep_options(name, shapes=tuple(SHAPES)))
    assert report.ok, str(report)


def test_unknown_peer_is_named():
    with pytest.raises(ValueError, match="unknown peer 'nope'"):
        peers.get("nope")


@pytest.mark.parametrize("name,library", [("sklearn", "sklearn"), ("sklearn-logistic", "sklearn"), ("autograd", "autograd")])
def test_missing_library_names_the_extra(monkeypatch, name, library):
    module = peers.REGISTRY[name][0].partition(":")[0]
    monkeypatch.setitem(sys.modules, library, None)  # "not installed"
    monkeypatch.delitem(sys.modules, module)
    with pytest.raises(peers.MissingFramework, match=r"pip install 'scratch-backprop\[peers\]'"):
        peers.get(name)


@pytest.mark.parametrize("name", PEERS)
def test_peer_keeps_float32(name):
    """No silent upcast: a float32 case gives float32 loss and arrays (sklearn and autograd both
    run NumPy's float32 kernels)."""
    c = make_case(0, SHAPES["tall"], np.float32, "labels")
    loss, g = peers.get(name)(c.params, c.x, c.y)
    assert isinstance(loss, np.floating) and loss.dtype == np.float32
    assert {k: v.dtype for k, v in g.items()} == {k: np.dtype(np.float32) for k in Grads._fields}


# --------------------------------------------------------------------------- disagreement

def test_sklearn_unnormalized_targets_use_yhat_minus_y():
    """sklearn's output delta is ``yhat - y`` (its canonical-link shortcut), the gradient only
    when each row of y sums to 1; the gradient of (7) is ``(yhat * sum_c y_c - y) / N``.  Its
    loss, ``-mean_n sum_c y log yhat``, is the same formula as ours, so the loss still agrees."""
    c = make_case(0, SHAPES["c10"], np.float64, "unnormalized")
    assert np.ptp(c.y.sum(axis=1)) > 1.0  # rows far from summing to 1
    rtol = oracle_rtol(np.float64, SHAPES["c10"])
    checks = {k.quantity: k for k in check_case(peer("sklearn"), scratch.loss_and_grads, *c[:3], rtol=rtol)}
    assert checks["loss"].passed
    assert {q for q, k in checks.items() if not k.passed} == set(QUANTITIES) - {"loss"}
    assert checks["dz2"].max_rel > 0.1
    # the cause, exactly: sklearn's dz2 is (yhat - y) / N
    _, g = peers.get("sklearn")(*c[:3])
    N, C = c.y.shape
    expected = (scratch.forward(c.params, c.x).yhat - c.y) / N
    assert check_quantity("dz2", g["dz2"], expected, rtol=rtol, dtype=np.float64, shape=(N, C)).passed


def test_sklearn_logistic_takes_y0_as_one_minus_y1():
    """For C = 2 as ``fit`` builds it, only ``y_1`` reaches sklearn (binary_log_loss uses
    ``1 - y_1`` for ``y_0``): on unnormalized targets it matches scratch on ``[1 - y_1, y_1]``,
    not on the targets given."""
    c = make_case(1, SHAPES["tall"], np.float64, "unnormalized")
    y = c.y.copy()
    y[:, 1] %= 1.0  # keep y_1 in [0, 1) so that [1 - y_1, y_1] is a valid target; y_0 stays in [0, 3)
    y_seen = np.stack([1.0 - y[:, 1], y[:, 1]], axis=1)
    assert np.max(np.abs(y[:, 0] - y_seen[:, 0])) > 0.5
    rtol = oracle_rtol(np.float64, SHAPES["tall"])
    fn = peer("sklearn-logistic")
    given = check_case(fn, scratch.loss_and_grads, c.params, c.x, y, rtol=rtol)
    assert not any(k.passed for k in given), format_failures(given)  # loss and every gradient
    seen = check_case(lambda p, x, _: fn(p, x, y), scratch.loss_and_grads, c.params, c.x, y_seen, rtol=rtol)
    assert not format_failures(seen)


def test_sklearn_clips_probabilities_in_its_loss():
    """``log_loss`` clips yhat to [eps, 1 - eps]: where a label's probability is below eps64 the
    loss differs (sklearn's is the clipped one), while the gradients (``yhat - y``, unclipped)
    still agree."""
    c = make_case(0, SHAPES["c10"], np.float64, "labels", logit_scale=10.0)
    N = c.x.shape[0]
    eps = np.finfo(np.float64).eps
    p = scratch.forward(c.params, c.x).yhat[np.arange(N), c.y]
    assert np.count_nonzero(p < eps) >= 1  # the precondition: some label probability below eps
    rtol = oracle_rtol(np.float64, SHAPES["c10"])
    checks = {k.quantity: k for k in check_case(peer("sklearn"), scratch.loss_and_grads, *c[:3], rtol=rtol)}
    assert {q for q, k in checks.items() if not k.passed} == {"loss"}
    clipped = -np.mean(np.log(np.clip(p, eps, 1 - eps)))
    loss, _ = peers.get("sklearn")(*c[:3])
    assert check_quantity("loss", loss, clipped, rtol=rtol, dtype=np.float64, shape=()).passed
    assert loss < scratch.loss_and_grads(*c[:3])[0]  # clipping raises the probabilities: a smaller loss


def test_sklearn_has_no_one_class_network():
    """C = 1: sklearn's LabelBinarizer encodes a single class as a column of zeros (its negative
    label), so the adapter refuses it; sklearn-logistic is C = 2 only."""
    from sklearn.preprocessing import label_binarize

    np.testing.assert_array_equal(label_binarize(np.zeros(3, int), classes=[0]), np.zeros((3, 1)))
    c1 = make_case(0, SHAPES["c1"], np.float64, "labels")
    with pytest.raises(ValueError, match="C >= 2"):
        peers.get("sklearn")(*c1[:3])
    c10 = make_case(0, SHAPES["c10"], np.float64, "labels")
    with pytest.raises(ValueError, match="C = 2 network only"):
        peers.get("sklearn-logistic")(*c10[:3])


def test_sklearn_two_class_routes_agree():
    """C = 2 both ways (softmax with 2 outputs set by hand; one logistic output as ``fit`` builds
    it) give the same loss and gradients."""
    c = make_case(2, SHAPES["tall"], np.float64, "soft")
    checks = check_case(peer("sklearn-logistic"), peer("sklearn"), *c[:3], rtol=oracle_rtol(np.float64, SHAPES["tall"]))
    assert not format_failures(checks)


# --------------------------------------------------------------------------- confident, saturated

CONFIDENT_SEEDS = (0, 1, 2, 3)


@functools.lru_cache(maxsize=None)
def confident(seed):
    """The float32 confident case of ``seed`` and its 60-digit truth (float64 runs use the
    same float32-rounded numbers, exactly representable: the same problem)."""
    c = confident_case(seed)
    return c, truth(*c[:3])


inf = float("inf")
EXACT = (0.0, ACCURACY_FLOAT64_AGREEMENT)  # float64 rounding
DZ2_GOAL = (0.0, ACCURACY_DZ2_GOAL)
DZ1_GOAL = (0.0, ACCURACY_DZ1_GOAL)
LOSES_DIGITS = (ACCURACY_FLOAT64_AGREEMENT, ACCURACY_DZ2_GOAL)  # worse than float64 rounding, within float32's goal
NOT_EXACT = (ACCURACY_FLOAT64_AGREEMENT, inf)
CANCELS = (FRAMEWORK_CANCELLATION_MIN_ERROR, inf)  # the value is wrong (error ~1)

#: Elementwise errors (scratch.lab.accuracy.errors, eq. (E)) of each peer on the confident,
#: saturated cases, as bounds.  Measured over seeds 0-11 (worst; best):
#: sklearn float32: every quantity 0.62-3 (yhat - y and 1 - a1^2 round to 0; loss clipped);
#: sklearn float64: dz1, dz1_plain 0.93-1 (tanh rounds to 1 beyond |z1| = 18.7), dW1 1.2e-5-1.1e-3,
#: db1 3.6e-7-8.2e-5, loss 7e-11-1.9e-9, dz2 1.3e-8-9.5e-8 (yhat - y with T ~ 1e-8);
#: autograd float32: gradients 7.4e-7-1.4e-5 (dz1_plain 3.9e-4), loss 0.56-1 (log(1 + T));
#: autograd float64: gradients <= 1.8e-14 (dz1_plain 6.4e-13), loss 1.1e-11-1.7e-9.
CONFIDENT_EXPECTED = {
    ("sklearn", "float32"): {q: CANCELS for q in ("loss", *Grads._fields, "dz1_plain")},
    ("sklearn", "float64"): {"loss": LOSES_DIGITS, "dz2": LOSES_DIGITS, "dW2": LOSES_DIGITS, "db2": LOSES_DIGITS,
                             "dz1": CANCELS, "dz1_plain": CANCELS, "dW1": NOT_EXACT, "db1": NOT_EXACT},
    ("autograd", "float32"): {"loss": CANCELS, "dz2": DZ2_GOAL, "dW2": DZ2_GOAL, "db2": DZ2_GOAL,
                              "dz1": DZ1_GOAL, "dz1_plain": DZ1_GOAL, "dW1": DZ1_GOAL, "db1": DZ1_GOAL},
    ("autograd", "float64"): {"loss": LOSES_DIGITS, **{q: EXACT for q in (*Grads._fields, "dz1_plain")}},
}


@pytest.mark.parametrize("seed", CONFIDENT_SEEDS, ids=[f"s{s}" for s in CONFIDENT_SEEDS])
@pytest.mark.parametrize("name,dtype_name", list(CONFIDENT_EXPECTED), ids=[f"{p}-{d}" for p, d in CONFIDENT_EXPECTED])
def test_confident_saturated_errors(name, dtype_name, seed):
    c, t = confident(seed)
    e = errors(peer(name)(*c.astype(DTYPES[dtype_name])[:3]), t)
    expected = CONFIDENT_EXPECTED[(name, dtype_name)]
    assert set(expected) == set(e)
    outside = {q: f"{e[q]:.3g} not in [{lo:.3g}, {hi:.3g}]" for q, (lo, hi) in expected.items() if not lo <= e[q] <= hi}
    assert not outside, f"{name} {dtype_name} seed {seed}: {outside}"


#: What the kit's check (check_case at oracle_rtol, relative to the largest magnitude) reports
#: on the confident sweep cases: which quantities fail.
CONFIDENT_KIT_FAILS = {
    ("sklearn", "float32"): set(QUANTITIES),
    ("sklearn", "float64"): set(QUANTITIES),
    ("autograd", "float32"): {"loss"},
    ("autograd", "float64"): {"loss"},
}


@pytest.mark.parametrize("name,dtype_name", list(CONFIDENT_KIT_FAILS), ids=[f"{p}-{d}" for p, d in CONFIDENT_KIT_FAILS])
def test_confident_sweep_cases_through_the_kit(name, dtype_name):
    for sc in sweep(seeds=(0,), shapes=("confident",), dtypes=(dtype_name,), targets=CONFIDENT_TARGETS):
        checks = check_case(peer(name), scratch.loss_and_grads, sc.params, sc.x, sc.y,
                            rtol=oracle_rtol(dtype_name, sc.dims))
        assert {k.quantity for k in checks if not k.passed} == CONFIDENT_KIT_FAILS[(name, dtype_name)], sc.id


def test_sklearn_float32_confident_causes():
    """Why sklearn fails in float32: the label's yhat rounds to 1 or within two floats of it
    (1 / (1 + eps32) -> 1 - eps32), so ``yhat - y`` is 0 or -eps32 there (the truth is
    -T ~ -1e-8 .. -1e-9), and
    the clipped loss is ``-log(1 - eps32)`` ~ eps32 per row whatever the truth; tanh rounds to
    +-1, so ``1 - a1**2`` and dz1 are exactly 0 there."""
    c, t = confident(0)
    loss, g = peers.get("sklearn")(*c[:3])
    N = c.x.shape[0]
    eps32 = np.finfo(np.float32).eps
    assert np.all(np.isin(g["dz2"][np.arange(N), c.y] * N, [0.0, -eps32 / 2, -eps32]))
    assert t.loss < eps32 / 2 and loss == pytest.approx(eps32, rel=1e-3)
    a1 = np.tanh(c.x @ c.params.W1 + c.params.b1)
    assert np.all(np.abs(a1) == 1) and np.all(g["dz1"] == 0) and np.all(t.grads.dz1 != 0)


def test_sklearn_float64_saturation_cause():
    """In float64 too, where |z1| > ~18.7 tanh rounds to +-1 and sklearn's dz1 is exactly 0."""
    c, t = confident(0)
    c64 = c.astype(np.float64)
    _, g = peers.get("sklearn")(*c64[:3])
    rounded = np.abs(np.tanh(c64.x @ c64.params.W1 + c64.params.b1)) == 1
    assert 0 < np.count_nonzero(rounded) < rounded.size
    assert np.all(g["dz1"][rounded] == 0) and np.all(g["dz1"][~rounded] != 0) and np.all(t.grads.dz1 != 0)


def test_autograd_tanh_derivative_is_cancellation_free():
    """Why autograd's float32 dz1 is accurate where torch's is not: its tanh VJP is
    ``g / cosh(x)**2`` (autograd/numpy/numpy_vjps.py), not ``1 - tanh(x)**2``."""
    import autograd
    import autograd.numpy as anp

    x = np.float32(15.0)
    d = autograd.grad(anp.tanh)(x)
    assert np.float32(1) - np.tanh(x) ** 2 == 0
    assert d.dtype == np.float32 and d == pytest.approx(4 * np.exp(-30.0), rel=1e-5)


def test_autograd_dz2_is_accurate_through_the_max_shift():
    """Why autograd's float32 dz2 is accurate on confident rows: the gradient flows through the
    max shift ``m = max_c z2`` too, so the argmax entry receives ``ds_a - sum_c ds_c`` = minus the
    other entries' sum (no ``yhat_a - 1``).  With m a constant (stop-gradient, as JAX's
    log_softmax does) the same code returns ``yhat_a - 1``: 0 or -eps32 there."""
    import autograd
    import autograd.numpy as anp
    from autograd.tracer import getval

    from scratch.peers import hips_autograd

    def stopped(theta, x, y, is_labels):
        W1, b1, W2, b2, e1, e2 = theta
        z2 = anp.dot(anp.tanh(anp.dot(x, W1) + b1 + e1), W2) + b2 + e2
        s = z2 - getval(anp.max(z2, axis=1, keepdims=True))
        l = s - anp.log(anp.sum(anp.exp(s), axis=1, keepdims=True))
        return -anp.mean(l[np.arange(x.shape[0]), y])

    c, t = confident(0)
    N, H, C = c.x.shape[0], c.params.W1.shape[1], c.params.W2.shape[1]
    theta = (*c.params, np.zeros((N, H), np.float32), np.zeros((N, C), np.float32))
    dz2_stopped = autograd.grad(stopped)(theta, c.x, c.y, True)[5]
    dz2_traced = autograd.grad(hips_autograd._loss)(theta, c.x, c.y, True)[5]
    eps32 = np.finfo(np.float32).eps
    assert np.all(np.isin(dz2_stopped[np.arange(N), c.y] * N, [0.0, -eps32 / 2, -eps32]))  # yhat_a - 1, rounded
    err = lambda g: errors((np.float32(t.loss), t.grads._replace(dz2=g)), t)["dz2"]  # noqa: E731
    assert err(dz2_stopped) >= FRAMEWORK_CANCELLATION_MIN_ERROR
    assert err(dz2_traced) <= ACCURACY_DZ2_GOAL
