"""Identify pinned against one-line bugs (issue 21): each test fails on a mutmut survivor.

The sentences of every branch word for word, the probe cases (dtype, target), the fitted
numbers, the member a loss matches at N = 1 (``_forward_matches``: activation, alpha, L2 on
weights or on biases too, its tolerance, a penalty below the loss's resolution), the reduction
picked for a wrong backward pass, and ``Identification``'s text and JSON.  The networks are
written here in plain NumPy (tests/test_identify.py's ``make_net``), the expected members are
the ones they were written to compute.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from scratch import NetworkSpec
from scratch.activations import ACTIVATIONS
from scratch.identify import COMMON_ALPHAS, PROBE_SEEDS, PROBE_SHAPES, Identification, _forward_matches, _Probe, identify
from scratch.network import loss_and_grads
from scratch.spec import SEED
from scratch.testing import cases
from test_identify import course_notes_net, make_net, softplus_net

SWEEP = dict(seeds=[0], shapes=["small", "n1"], dtypes=["float64"], targets=["labels"])


def wrong_backward(reduction="mean", lam=0.0, biases=False):
    """The right loss of tanh (``reduction``, L2 ``lam`` in the half form), dW1 doubled."""
    right = make_net("tanh", reduction, lam=lam, biases=biases)

    def net(params, X, y):
        loss, g = right(params, X, y)
        return loss, {**g, "dW1": 2.0 * g["dW1"]}
    return net


# --------------------------------------------------------------------------------------------
# The sentences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_wrong_backward_pass_is_checked_against_the_reduction_its_loss_has(reduction):
    found = identify(wrong_backward(reduction), **SWEEP)
    want = NetworkSpec(reduction=reduction)
    assert (found.spec, found.closest, found.forward_differs, found.fitted) == (None, want, False, {})
    assert found.sentence == (f"no member of the family matches: the loss matches {want.describe()} (the forward "
                              "pass is right), but the gradients differ; checked against that network below")
    assert found.report.networks == [want]
    assert {q for r in found.report.failures() for q in r.failed()} == {"dW1"}
    assert found.report.identification == found.as_dict()


@pytest.mark.parametrize("biases", [False, True])
def test_a_wrong_backward_pass_with_l2_keeps_the_penalty_its_loss_has(biases):
    found = identify(wrong_backward("sum", lam=0.05, biases=biases), **SWEEP)
    assert found.closest == NetworkSpec(l2=0.05, l2_biases=biases, reduction="sum")
    assert not found.matched and not found.forward_differs


def test_the_forward_pass_differs_sentence_names_the_one_sample_case():
    found = identify(softplus_net, **SWEEP)
    p = cases([0], ["n1"], ["float64"], ["labels"])[0]
    got = float(softplus_net(p.params, p.x, p.y)[0])
    seed = float(loss_and_grads(p.params, p.x, p.y)[0])
    assert found.sentence == (
        "no member of the family matches, and the forward pass itself differs: on a one-sample case "
        f"({p.describe()}) the loss is already wrong for every activation ({', '.join(ACTIVATIONS)}), "
        f"reduction and L2 penalty (got {got:.6g}; the seed network gives {seed:.6g}); "
        "checked against the seed network below")
    assert (found.spec, found.closest, found.forward_differs, found.fitted) == (None, SEED, True, {})
    assert found.report.networks == [SEED]


def test_no_usable_outputs_name_the_first_error():
    def broken(params, x, y):
        raise RuntimeError("not written yet")

    found = identify(broken, **SWEEP)
    first = found.probes[0]
    assert first.case.id == "s0-n1-float64-labels" and "not written yet" in first.error
    assert found.sentence == ("could not identify the network: the implementation returned no usable loss and "
                              f"gradients on the probe cases (first: {first.case.describe()}: {first.error}); "
                              "checked against the seed network below")
    assert (found.spec, found.closest, found.forward_differs, found.fitted) == (None, SEED, False, {})
    assert found.report.networks == [SEED] and not found.report.ok


@pytest.mark.parametrize("bad", ["nan", "shape", "missing"])
def test_unusable_outputs_without_an_error_are_said_so(bad):
    right = make_net("tanh")

    def net(params, X, y):
        loss, g = right(params, X, y)
        if bad == "nan":
            return np.nan, g
        if bad == "shape":
            return loss, {**g, "dW1": g["dW1"].T}  # D != H on every probe
        return loss, {k: v for k, v in g.items() if k != "db2"}

    found = identify(net, **SWEEP)
    if bad == "missing":  # a missing gradient is an error of its own ("returned no db2")
        assert "(first: " in found.sentence
        return
    assert found.sentence == ("could not identify the network: the implementation returned no usable loss and "
                              "gradients on the probe cases (missing, non-finite or wrongly shaped loss or gradients); "
                              "checked against the seed network below")


def test_only_square_probes_usable_is_no_claim_about_the_forward_pass():
    right = make_net("tanh")

    def net(params, X, y):  # dW2 transposed: the right shape only where H = C (the square probes)
        loss, g = right(params, X, y)
        return loss, {**g, "dW2": g["dW2"].T}

    found = identify(net, **SWEEP)
    assert {p.case.shape for p in found.probes if p.got and p.error is None} >= {"square"}
    assert found.sentence == ("no member of the family matches; no one-sample probe (N = 1) returned usable loss and "
                              "gradients, so whether the forward pass itself differs is not known; "
                              "checked against the seed network below")
    assert (found.spec, found.closest, found.forward_differs) == (None, SEED, False)


def test_a_match_that_fails_the_sweep_says_how_many_cases_fail():
    right = make_net("tanh")

    def net(params, X, y):  # right on the probes (N <= 12), wrong from N = 64 on
        loss, g = right(params, X, y)
        return loss, ({**g, "db1": g["db1"] + 1.0} if X.shape[0] > 12 else g)

    found = identify(net, seeds=[0], shapes=["small", "tall"], dtypes=["float64"], targets=["labels"])
    assert found.matched and found.spec == NetworkSpec() and not found.ok
    assert found.sentence == ("matches tanh, reduction mean, no L2 (the seed network); 1 of 2 case(s) fail against "
                              "that network (below)")


# --------------------------------------------------------------------------------------------
# The probes and the fitted numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtypes, target, want_dtype", [
    (["float32"], "labels", "float32"),
    (["float32", "float64"], "onehot", "float64"),
    (["float64", "float32"], "soft", "float64"),
    (None, None, "float64"),
])
def test_the_probes_are_float64_when_allowed_with_the_first_target(dtypes, target, want_dtype):
    seen = []

    def spy(params, X, y):  # any target kind: scratch's own network stands in for the user's here
        seen.append((X.dtype.name, y.ndim))
        L, g = loss_and_grads(params, X, y)
        return L, {"dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2}

    targets = None if target is None else [target, "labels"]
    found = identify(spy, seeds=[0], shapes=["n1"], dtypes=dtypes, targets=targets, blind_spots=False)
    probes = found.probes
    assert [r.case.id for r in probes] == [c.id for c in cases(PROBE_SEEDS, PROBE_SHAPES, [want_dtype],
                                                               [target or "labels"])]
    assert seen[:len(probes)] == [(want_dtype, 1 if (target or "labels") == "labels" else 2)] * len(probes)


def test_the_fitted_numbers():
    notes = identify(course_notes_net, l2_form="full", **SWEEP)
    assert notes.fitted["k"] == pytest.approx(2e-3, rel=1e-9) and math.isnan(notes.fitted["alpha"])
    assert 0.0 <= notes.fitted["score"] <= 2.0
    leaky = identify(make_net("leaky_relu", alpha=0.1), **SWEEP)
    assert leaky.fitted["alpha"] == 0.1 and leaky.fitted["k"] == 0.0
    plain = identify(make_net("tanh"), **SWEEP)
    assert plain.fitted["k"] == 0.0 and plain.fitted["score"] <= 1.0 and math.isnan(plain.fitted["alpha"])


def test_a_slope_search_ending_near_one_does_not_crash():
    """The golden-section search over [0, 0.999) ends near 0.999 for a loss no slope fits; its
    one-digit rounding, 1.0, is not a slope and is skipped (it used to raise ValueError)."""
    right = make_net("tanh")

    def net(params, X, y):  # soft targets read as their argmax labels: no member's loss
        return right(params, X, y.argmax(axis=1))

    found = identify(net, seeds=[0], shapes=["n1"], dtypes=["float64"], targets=["soft"], blind_spots=False)
    assert not found.matched and found.forward_differs


def test_relu_is_found_as_relu_and_not_as_leaky_relu_of_slope_zero():
    found = identify(make_net("relu", "sum"), **SWEEP)
    assert found.spec == NetworkSpec("relu", reduction="sum")


# --------------------------------------------------------------------------------------------
# _forward_matches: the member a loss matches on the one-sample probes
# --------------------------------------------------------------------------------------------


def probes_for(loss_of, shapes=("n1",), seeds=(0, 1, 2), rtol=1e-10):
    """_Probe objects whose loss is ``loss_of(case)`` (the gradients are not read)."""
    out = []
    for c in cases(list(seeds), list(shapes), ["float64"], ["labels"]):
        out.append(_Probe(SimpleNamespace(case=c, got={"loss": np.float64(loss_of(c))}, rtol=rtol)))
    return out


def member_loss(spec):
    return lambda c: float(loss_and_grads(c.params, c.x, c.y, spec=spec)[0])


def test_forward_matches_needs_a_one_sample_probe():
    assert _forward_matches(probes_for(member_loss(SEED), shapes=("small",)), COMMON_ALPHAS) is None


@pytest.mark.parametrize("spec", [
    NetworkSpec(), NetworkSpec("relu"), NetworkSpec("sigmoid"), NetworkSpec("leaky_relu", alpha=0.2),
    NetworkSpec("relu", l2=0.05), NetworkSpec("sigmoid", l2=0.3, l2_biases=True),
])
def test_forward_matches_finds_the_member_and_its_penalty(spec):
    found = _forward_matches(probes_for(member_loss(spec)), COMMON_ALPHAS)
    assert found is not None and found.canonical() == spec.canonical(), found


def test_forward_matches_only_tries_the_alphas_it_is_given():
    spec = NetworkSpec("leaky_relu", alpha=0.2)
    assert _forward_matches(probes_for(member_loss(spec)), (0.01, 0.1)) is None


def test_forward_matches_tolerance_is_twice_the_cases():
    seed = member_loss(SEED)
    assert _forward_matches(probes_for(lambda c: seed(c) * (1 - 1.5e-10)), COMMON_ALPHAS) == _base_seed()
    assert _forward_matches(probes_for(lambda c: seed(c) * (1 - 3e-10)), COMMON_ALPHAS) is None


def test_a_penalty_below_the_losss_resolution_is_no_penalty():
    seed = member_loss(SEED)
    found = _forward_matches(probes_for(lambda c: seed(c) * (1 + 0.5e-10)), COMMON_ALPHAS)
    assert found == _base_seed() and found.l2 == 0.0


def test_a_negative_penalty_is_none():
    relu = member_loss(NetworkSpec("relu"))
    assert _forward_matches(probes_for(lambda c: relu(c) - 1e-3), COMMON_ALPHAS) is None


def _base_seed():
    return NetworkSpec("tanh", 0.01, reduction="mean")


# --------------------------------------------------------------------------------------------
# Identification
# --------------------------------------------------------------------------------------------


def test_identification_text_and_json():
    bare = Identification(None, SEED, True, {}, "the sentence")
    assert str(bare) == "the sentence" and not bare.matched and not bare.ok
    assert bare.as_dict() == {"matched": False, "spec": None, "closest": SEED.as_dict(), "forward_differs": True,
                              "fitted": {}, "sentence": "the sentence"}
    found = identify(make_net("sigmoid"), **SWEEP)
    assert str(found) == str(found.report) and str(found).startswith(found.sentence)
    assert found.matched and found.ok
    d = found.as_dict()
    assert d["spec"] == NetworkSpec("sigmoid").as_dict() == d["closest"] and d["matched"] and not d["forward_differs"]
    matched_no_report = Identification(NetworkSpec(), NetworkSpec(), False, {}, "s")
    assert matched_no_report.matched and not matched_no_report.ok


# --------------------------------------------------------------------------------------------
# What identify hands on to the check, and what it keeps
# --------------------------------------------------------------------------------------------


def test_the_check_gets_blind_spots_name_progress_and_reference():
    seen = []

    def progress(it):
        seen.append(True)
        return it

    def reference(params, x, y):
        return loss_and_grads(params, x, y)

    found = identify(make_net("tanh"), name="mine", progress=progress, reference=reference, **SWEEP)
    assert found.matched and found.report.implementation == "mine"
    assert found.report.reference.endswith("<locals>.reference")
    assert seen, "the progress callback was never called"
    assert found.report.blind_spots, "blind spots are on by default"
    assert identify(make_net("tanh"), blind_spots=False, **SWEEP).report.blind_spots == []


@pytest.mark.parametrize("net, matched", [(make_net("tanh"), True), (wrong_backward(), False),
                                          (softplus_net, False)], ids=["match", "backward", "forward"])
def test_identification_keeps_the_probe_results_and_says_the_forward_pass_is_right(net, matched):
    found = identify(net, **SWEEP)
    assert found.matched is matched
    assert len(found.probes) == len(PROBE_SEEDS) * len(PROBE_SHAPES)
    assert {(r.case.seed, r.case.shape) for r in found.probes} == {(s, sh) for s in PROBE_SEEDS for sh in PROBE_SHAPES}
    if matched:
        assert found.forward_differs is False


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_a_wrong_backward_pass_of_a_relu_mean_net_stays_mean(lam):
    """The reduction is the one whose loss fits the N > 1 probes better than the N = 1 member's
    own (a penalty far above the data term makes the seed network's loss the worst of all)."""
    right = make_net("relu", "mean", lam=lam)

    def net(params, X, y):
        loss, g = right(params, X, y)
        return loss, {**g, "db1": g["db1"] + 1.0}

    found = identify(net, **SWEEP)
    assert not found.matched and found.closest == NetworkSpec("relu", l2=lam, reduction="mean")


def test_a_slope_whose_one_digit_rounding_is_one_is_still_fitted():
    """0.9989 to one digit is 1.0, not a slope: skipped, and the search goes on to 0.9989."""
    found = identify(make_net("leaky_relu", alpha=0.9989), **SWEEP)
    assert found.spec == NetworkSpec("leaky_relu", alpha=0.9989) and found.fitted["alpha"] == 0.9989
