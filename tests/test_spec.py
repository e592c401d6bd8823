"""scratch.spec.NetworkSpec on its own: validation messages, coercion, canonical form, tags.

Written for the mutants a mutmut run over scratch/spec.py left alive (docs/tests.md): each test
names the kind of one-line change it kills.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratch.spec import MAX_L2, SEED, NetworkSpec, as_spec


@pytest.mark.parametrize("fields, message", [
    ({"activation": "gelu"}, "activation must be one of tanh, relu, leaky_relu, sigmoid, got 'gelu'"),
    ({"l2_form": "quarter", "l2": 1.0}, "l2_form must be one of half, full ('half'"),
    ({"reduction": "max"}, "reduction must be one of mean, sum, got 'max'"),
], ids=["activation", "l2_form", "reduction"])
def test_a_bad_choice_lists_the_valid_ones(fields, message):
    """Kills a mangled join of the choices in the message."""
    with pytest.raises(ValueError) as info:
        NetworkSpec(**fields)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("l2", ["0.1", True, None, [0.1]], ids=["str", "bool", "none", "list"])
def test_lambda_must_be_a_number(l2):
    """Kills `isinstance(...) or not isinstance(...)` turned into `and`: a string is not a lambda."""
    with pytest.raises(ValueError, match="l2"):
        NetworkSpec(l2=l2)


def test_lambda_bound_is_inclusive():
    """MAX_L2 itself is accepted, the next float above it refused (kills `<=` -> `<`)."""
    assert NetworkSpec(l2=MAX_L2).l2 == MAX_L2
    with pytest.raises(ValueError, match="l2"):
        NetworkSpec(l2=float(np.nextafter(MAX_L2, np.inf)))


def test_numbers_and_flags_are_stored_as_python_types():
    """alpha and l2 become floats and l2_biases a bool, whatever NumPy or int type came in
    (kills a renamed attribute in the coercion)."""
    s = NetworkSpec("leaky_relu", alpha=np.float32(0.25), l2=np.int64(2), l2_biases=np.bool_(True))
    assert type(s.alpha) is float and s.alpha == 0.25
    assert type(s.l2) is float and s.l2 == 2.0
    assert type(s.l2_biases) is bool and s.l2_biases is True
    assert s == NetworkSpec("leaky_relu", alpha=0.25, l2=2.0, l2_biases=True)


@pytest.mark.parametrize("spec, canonical", [
    (NetworkSpec(l2_form="full", l2_biases=True), SEED),
    (NetworkSpec("relu", l2=0.5, l2_form="full"), NetworkSpec("relu", l2=1.0, l2_form="half")),
    (NetworkSpec("sigmoid", l2=0.5, l2_biases=True), NetworkSpec("sigmoid", l2=0.5, l2_biases=True)),
    (NetworkSpec(reduction="sum", l2=0.25, l2_form="full", l2_biases=True),
     NetworkSpec(reduction="sum", l2=0.5, l2_form="half", l2_biases=True)),
], ids=["no-l2-options-dropped", "full-is-half-doubled", "half-unchanged", "biases-kept"])
def test_canonical_form(spec, canonical):
    """Two specs are the same function exactly when their canonical forms are equal."""
    assert spec.canonical() == canonical
    assert spec.canonical().l2_grad_coefficient == spec.l2_grad_coefficient


@pytest.mark.parametrize("spec, tag", [
    (SEED, ""),
    (NetworkSpec(l2_form="full", l2_biases=True), ""),
    (NetworkSpec("relu", reduction="sum", l2=1e-3), "relu-sum-l2half1e-03"),
    (NetworkSpec("leaky_relu"), "leaky_relu"),
    (NetworkSpec("leaky_relu", alpha=0.2), "leaky_relu0.2"),
    (NetworkSpec("sigmoid", l2=0.1, l2_form="full", l2_biases=True), "sigmoid-l2full1e-01b"),
], ids=["seed", "unused-l2-options", "relu-sum-l2", "leaky-default", "leaky-alpha", "sigmoid-full-biases"])
def test_tag(spec, tag):
    """The tag ends case ids and file names: only what differs from the seed network."""
    assert spec.tag() == tag


def test_is_seed_and_describe():
    assert NetworkSpec(l2_form="full", l2_biases=True).is_seed
    assert not NetworkSpec(reduction="sum").is_seed and not NetworkSpec(l2=1e-9).is_seed
    assert SEED.describe() == "tanh, reduction mean, no L2 (the seed network)"
    assert NetworkSpec("leaky_relu", alpha=0.2, l2=1e-3, l2_form="full").describe() == (
        "leaky_relu (alpha = 0.2), reduction mean, L2 lambda ||W||^2 with lambda = 0.001 on weights only")
    assert NetworkSpec(l2=0.5, l2_biases=True).describe().endswith("on weights and biases")


@pytest.mark.parametrize("spec, text", [
    (NetworkSpec("relu", reduction="sum", l2=1e-3), "relu, reduction sum, L2 (lambda/2)||W||^2 with lambda = 0.001 on "
                                                    "weights only"),
    (NetworkSpec(l2=0.5, l2_biases=True, l2_form="full"), "tanh, reduction mean, L2 lambda ||W||^2 with lambda = 0.5 "
                                                          "on weights and biases"),
    (NetworkSpec("leaky_relu"), "leaky_relu (alpha = 0.01), reduction mean, no L2"),
    (NetworkSpec("sigmoid"), "sigmoid, reduction mean, no L2"),
    (NetworkSpec(l2_form="full", l2_biases=True), "tanh, reduction mean, no L2 (the seed network)"),
    (NetworkSpec(reduction="sum"), "tanh, reduction sum, no L2"),
])
def test_describe_word_for_word(spec, text):
    assert spec.describe() == text == str(spec)


def test_round_trip_through_a_mapping():
    s = NetworkSpec("leaky_relu", alpha=0.3, l2=0.01, l2_form="full", l2_biases=True, reduction="sum")
    assert NetworkSpec.from_dict(s.as_dict()) == s == as_spec(s.as_dict())
    assert NetworkSpec.from_dict(None) is SEED and NetworkSpec.from_dict({}) == SEED and as_spec(None) is SEED


def test_penalty_and_its_gradient():
    """(8) and (8'), written out here: half (lambda/2) sum W^2 with gradient lambda W, biases zero."""
    W1, b1, W2, b2 = np.ones((2, 3)), np.full(3, 2.0), np.full((3, 2), 3.0), np.full(2, 4.0)
    half = NetworkSpec(l2=0.5)
    assert half.penalty((W1, b1, W2, b2)) == 0.25 * (6 * 1 + 6 * 9)
    g = half.penalty_grads((W1, b1, W2, b2))
    np.testing.assert_array_equal(g[0], 0.5 * W1)
    np.testing.assert_array_equal(g[2], 0.5 * W2)
    assert not np.any(g[1]) and not np.any(g[3]) and g[1].shape == (3,) and g[3].shape == (2,)
    full_b = NetworkSpec(l2=0.5, l2_form="full", l2_biases=True)
    assert full_b.penalty((W1, b1, W2, b2)) == 0.5 * (6 + 54 + 3 * 4 + 2 * 16)
    np.testing.assert_array_equal(full_b.penalty_grads((W1, b1, W2, b2))[3], 1.0 * b2)
    assert SEED.penalty((W1, b1, W2, b2)) == 0 and SEED.penalty_grads((W1, b1, W2, b2)) is None


def test_from_dict_errors_word_for_word():
    from dataclasses import fields

    names = [f.name for f in fields(NetworkSpec)]
    with pytest.raises(ValueError) as e:
        NetworkSpec.from_dict(["tanh"])
    assert str(e.value) == f"a network spec must be a mapping of {', '.join(names)}, got list"
    with pytest.raises(ValueError) as e:
        NetworkSpec.from_dict({"zeta": 1, "act": "relu", "l2": 0.1})
    assert str(e.value) == f"unknown network spec field(s) act, zeta; expected {', '.join(sorted(names))}"
