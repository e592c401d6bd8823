"""The diagnosis names the mistake: every gradient pitfall of the gallery, wrapped as a user's
implementation, is diagnosed as itself; correct code gets no diagnosis; a bug no pitfall
matches gets "no known pitfall matches" and its signature; blind spots are reported."""

from __future__ import annotations

import pytest

import scratch.testing as st
from scratch.diagnosis import blind_spots, gradient_pitfalls
from scratch.pitfalls import PITFALLS, SETTINGS, fresh, member_outputs
from scratch.testing import run_cases

import user_impls as U

GRADIENT_PITFALLS = [p.name for p in PITFALLS.values() if p.is_gradient]


def sweep_showing(name: str) -> dict:
    """A small sweep that contains the problem the pitfall is shown on, plus an ordinary one."""
    s = SETTINGS[PITFALLS[name].caught_on]
    shape = "huge" if s.logit_scale >= 100 else ("confident" if s.shape in ("confident", "mixed") else s.shape)
    return dict(seeds=[0, 1], shapes=list(dict.fromkeys([shape, "small"])), dtypes=[s.dtype], targets=[s.target])


def dead(case, k):
    """The case with hidden units 0..k-1 switched off: z1[:, :k] = 0 exactly (ReLU's kink)."""
    W1, b1 = case.params.W1.copy(), case.params.b1.copy()
    W1[:, :k], b1[:k] = 0, 0
    return case._replace(params=case.params._replace(W1=W1, b1=b1))


def kit_report(name: str):
    """The kit's report on pitfall ``name`` written as a user's function for the member it is a
    mistake of, on a sweep of that member containing the problem it shows on."""
    p = PITFALLS[name]
    s = SETTINGS[p.caught_on]
    cases = st.cases(spec=s.spec, **sweep_showing(name))
    if s.dead_units:
        cases = [dead(c, s.dead_units) for c in cases]

    def user(params, x, y):
        return member_outputs(p, s.spec, params, x, y)

    if s.calls > 1:  # state kept between calls: one instance for the whole sweep
        user = fresh(p)

    return st.make_report(run_cases(user, cases), user, "scratch", "params", sweep_desc={}, blind_spots=False, name=name)


@pytest.mark.parametrize("name", GRADIENT_PITFALLS)
def test_every_gallery_pitfall_is_diagnosed_as_itself(name):
    report = kit_report(name)
    assert not report.ok, f"{name} passed its own sweep"
    named = [d.pitfall for d in report.diagnosis if d.kind == "pitfall"]
    assert named and named[0] == name, f"{name} diagnosed as {named}:\n" + "\n".join(map(str, report.diagnosis))
    assert f"python -m scratch pitfalls --show {name}" in report.failure_message()


def test_gallery_covers_every_gradient_pitfall_but_the_two_call_one():
    assert {p.name for p in gradient_pitfalls()} == set(GRADIENT_PITFALLS) - {"accumulating_gradients"}


def test_missing_mean_says_n_times():
    def missing_n(p, x, y):
        L, g = U.textbook(p, x, y)
        return L, {k: v * x.shape[0] for k, v in g.items()}

    report = st.check_implementation(missing_n, seeds=[0], shapes=["small", "n1"], dtypes=["float64"], targets=["labels"])
    text = "\n".join(map(str, report.diagnosis))
    assert "pitfall `missing_mean`" in text and "N times the truth" in text and "N > 1 (passes wherever N = 1)" in text


@pytest.mark.parametrize("fn, shapes, dtypes, targets, expected", [
    (U.column_sign, ["small"], ["float64"], ["labels"], "dW2: sign flipped only in column(s) 0 of 3"),
    (U.doubled, ["small"], ["float64"], ["labels"], "is twice the truth"),
    (U.upcast, ["small"], ["float64", "float32"], ["labels"], "dtype: got float64, expected float32; fails only for dtype float32"),
    (U.argmax_targets, ["small"], ["float64"], ["onehot", "soft", "unnormalized"], "fails only for targets soft unnormalized"),
    (U.transposed_dW2, ["square"], ["float64"], ["labels"], "dW2 is the transpose of the truth"),
    (U.transposed_dW2, ["small"], ["float64"], ["labels"], "dW2 has shape (3, 5), the transpose of (5, 3)"),
], ids=["column-sign", "doubled", "upcast", "argmax-targets", "transpose-square", "transpose-shape"])
def test_unknown_bugs_get_no_pitfall_and_a_signature(fn, shapes, dtypes, targets, expected):
    report = st.check_implementation(fn, seeds=[0, 1], shapes=shapes, dtypes=dtypes, targets=targets, blind_spots=False)
    text = "\n".join(map(str, report.diagnosis))
    assert not report.ok and "no known pitfall matches" in text and expected in text, text
    assert not any(d.kind == "pitfall" for d in report.diagnosis), text


def test_correct_code_on_hard_cases_has_no_diagnosis():
    report = st.check_implementation(st.get_reference("scratch"), seeds=[0, 1], shapes=["confident", "huge", "small"])
    assert report.ok and report.diagnosis == [] and report.blind_spots == [], report.summary()


def test_textbook_float32_fails_confident_cases_diagnosed_as_cancellation():
    """What torch and JAX do too: the textbook formulas lose every digit on confident, saturated rows."""
    report = st.check_implementation(U.textbook, seeds=[0], shapes=["confident", "small"], dtypes=["float32"],
                                     targets=["labels"])
    text = report.failure_message()
    assert "pitfall `float32_tanh_derivative_from_a1`" in text and "torch and JAX compute it the same way" in text, text
    assert "loss: right formula, lost digits" in text and "log1p(T)" in text, text
    assert "fails only for shapes confident (passes on small)" in text, text


@pytest.mark.parametrize("sweep, invisible", [
    (dict(shapes=["n1"], dtypes=["float64"], targets=["labels"]), {"missing_mean", "bias_gradient_by_mean"}),
    (dict(shapes=["c1"], dtypes=["float64"], targets=["labels"]), {"sign_flipped", "elementwise_softmax_derivative"}),
    (dict(shapes=["small"], dtypes=["float64"], targets=["labels"]),
     {"yhat_minus_y", "softmax_without_max_shift", "log_of_softmax", "float32_yhat_minus_y",
      "float32_tanh_derivative_from_a1"}),
], ids=["only-N1", "only-C1", "only-small-float64-labels"])
def test_restricted_sweeps_report_their_blind_spots(sweep, invisible):
    spots = {b.pitfall for b in blind_spots(st.cases(seeds=[0], **sweep))}
    assert invisible <= spots, spots


@pytest.mark.parametrize("first", ["tanh", "relu"])
def test_a_sweep_of_several_members_is_blind_to_a_pitfall_only_where_every_member_it_applies_to_is(first):
    """Seed cases (tanh, C = 1) and ReLU cases (small), float64 labels, in either order: a pitfall
    of one member only is judged on that member's cases (its own blind spot there, whatever the
    other member's cases show); a pitfall of both is a blind spot only when both members are
    blind to it (a flipped sign is invisible at C = 1 and seen on the ReLU cases)."""
    from scratch.pitfalls import PITFALLS
    from scratch.spec import NetworkSpec

    members = {"tanh": NetworkSpec(), "relu": NetworkSpec(activation="relu")}
    shapes = {"tanh": ["c1"], "relu": ["small"]}
    sweep = dict(seeds=[0], dtypes=["float64"], targets=["labels"])
    per = {k: st.cases(**sweep, shapes=shapes[k], spec=sp) for k, sp in members.items()}
    alone = {k: {b.pitfall for b in blind_spots(per[k])} for k in members}
    both = {b.pitfall for b in blind_spots([c for k in [first] + [k for k in members if k != first] for c in per[k]])}
    expected = set()
    for name, p in PITFALLS.items():
        on = [k for k, sp in members.items() if p.applies(sp)]
        if on and all(name in alone[k] for k in on):
            expected.add(name)
    assert both == expected
    only_tanh = {n for n in alone["tanh"] if not PITFALLS[n].applies(members["relu"])}
    assert only_tanh and only_tanh <= both  # the ReLU cases do not hide a tanh-only blind spot
    assert "sign_flipped" in alone["tanh"] and "sign_flipped" not in alone["relu"] | both


def test_zero_biases_are_a_blind_spot_of_cases_with_zero_biases():
    cases = [c._replace(params=c.params._replace(b1=0 * c.params.b1, b2=0 * c.params.b2))
             for c in st.cases(seeds=[0], shapes=["small"], dtypes=["float64"], targets=["labels"])]
    assert "zero_biases_hide_a_bias_bug" in {b.pitfall for b in blind_spots(cases)}
    assert "zero_biases_hide_a_bias_bug" not in {b.pitfall for b in blind_spots(st.cases(seeds=[0], shapes=["small"]))}


def test_the_full_default_sweep_plus_hard_shapes_has_no_blind_spot():
    shapes = [*st.DEFAULT_SHAPES, "confident", "huge"]
    assert blind_spots(st.cases(seeds=[0], shapes=shapes)) == []


def test_two_mistakes_at_once_are_both_named_on_their_part_of_the_sweep():
    """A bias bug everywhere plus the textbook float32 cancellations on confident rows: each
    pitfall is named on the cases it explains, the rest gets its signature."""
    def two_bugs(p, x, y):
        L, g = U.textbook(p, x, y)
        N = x.shape[0]
        return L, {**g, "db1": g["db1"] / N}

    report = st.check_implementation(two_bugs, seeds=[0], shapes=["small", "confident"], dtypes=["float32"],
                                     targets=["labels"], blind_spots=False)
    by_pitfall = {d.pitfall: d for d in report.diagnosis if d.pitfall}
    assert "bias_gradient_by_mean" in by_pitfall and "shapes small" in by_pitfall["bias_gradient_by_mean"].text
    assert "float32_tanh_derivative_from_a1" in by_pitfall
    assert "shapes confident" in by_pitfall["float32_tanh_derivative_from_a1"].text


def test_a_wrong_loss_gets_a_named_ratio_or_its_relative_error():
    """A scalar is always some multiple of the truth: only a ratio that names something is said."""
    def loss_plus_one(p, x, y):
        L, g = U.textbook(p, x, y)
        return L + x.dtype.type(1), g

    def loss_doubled(p, x, y):
        L, g = U.textbook(p, x, y)
        return 2 * L, g

    sweep = dict(seeds=[0, 1], shapes=["small"], dtypes=["float64"], targets=["labels"], blind_spots=False)
    text = "\n".join(map(str, st.check_implementation(loss_plus_one, **sweep).diagnosis))
    assert "loss: relative error up to" in text and "multiple of the truth" not in text, text
    text = "\n".join(map(str, st.check_implementation(loss_doubled, **sweep).diagnosis))
    assert "loss is twice the truth" in text, text


def test_a_restricted_sweep_says_so_in_its_first_line():
    def mean_db1(p, x, y):
        L, g = U.textbook(p, x, y)
        return L, {**g, "db1": g["db1"] / x.shape[0]}

    report = st.check_implementation(mean_db1, seeds=[0], shapes=["n1"], dtypes=["float64"], targets=["labels"])
    first = str(report).splitlines()[0]
    assert report.ok and "all passed; " in first and "cannot reveal (blind spots below)" in first, first
    assert "bias_gradient_by_mean" in {b.pitfall for b in report.blind_spots}
