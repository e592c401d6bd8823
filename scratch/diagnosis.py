"""Name the mistake, not only the quantity: pitfall fingerprints, simple signatures, blind spots.

When an implementation fails (:mod:`scratch.testing`), :func:`diagnose` says what the error
looks like:

1. **Pitfall fingerprints.**  Every gradient pitfall of :mod:`scratch.pitfalls` is a complete
   faulty implementation.  Each is run on the same failing cases; a pitfall *matches* a failing
   quantity when, on every failing case tried, its output equals the implementation's (same
   shape, same non-finite entries, relative error within twice the case's tolerance) while
   itself failing against the reference there.  Matches are reported with the pitfall's BUG
   and RIGHT lines and the ``python -m scratch pitfalls --show NAME`` pointer.  The gallery
   (:mod:`scratch.pitfalls`, beside the kit) is imported only inside the functions that run it,
   so importing the kit does not build it.
2. **Simple signatures** for what no pitfall explains: a constant ratio to the truth (N, 1/N,
   -1, 2, 1/2, ...), a transpose, the wrong shape or dtype, non-finite values, an error
   confined to some columns (a sign flip in one column), to each row's true class, to
   confident rows or saturated units, and where in the sweep it fails (only float32, only some
   target kinds or shapes).
3. **Blind spots** (:func:`blind_spots`): the gallery's mistakes that a sweep *cannot* reveal,
   found by running each pitfall on the sweep's cases, so that a restricted sweep never reads
   as a clean bill of health.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import sysconfig
import traceback
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import numpy as np

from .cases import DTYPES, SPECIAL_SHAPES, SweepCase
from .compare import QUANTITIES, check_quantity, reference_result, relative_error, same_values
from .spec import NetworkSpec

#: At most this many failing cases are re-run through the pitfalls (spread over dtype, target, shape).
MAX_CASES = 12
#: A pitfall's output "equals" the implementation's within this many times the case's tolerance
#: (both are computed in the case's dtype, each within one tolerance of the truth).
MATCH_FACTOR = 2.0
#: A ratio to the truth counts as constant when ``g - k r`` is within this many times the
#: case's tolerance (relative to the largest magnitude).
RATIO_FACTOR = 10.0
#: "Right formula, lost digits": where the right formulas computed the plain way (log of a sum,
#: yhat - y, 1 - a1^2) fail too, an error of at most this many units of the dtype's eps times the
#: size of the terms that cancel (:func:`rounding_scale`: the backward pass run on absolute values,
#: with |f'| <= 1) is rounding, whatever the summation order: each of the half-dozen operations
#: of the chain rounds once or twice.  A wrong formula is off by the size of the truth, which on
#: these rows is far above it (a dropped T ~ 1e-9 against 16 eps64 x 20 ~ 7e-14 in float64).
PRECISION_ULPS = 16.0
#: ... and at most this many times the relative error the plain way itself makes there
#: (:func:`_lost_digits`).  Measured (tests/test_diagnosis_real_code.py, the conformance matrix):
#: honest implementations lose up to ~20 times what scratch's plain twin loses (another order of
#: the same operations); a doubled dW1 on a confident case is 4.5e6 times it, and passed the
#: rounding bound alone (its truth is below the size of the terms that cancel).
PRECISION_PLAIN_FACTOR = 1000.0
#: An operation is named as one that lost the digits unless computing it alone the plain way
#: (the rest cancellation-free) costs more than this many times the implementation's error: a
#: plain 1 - a1^2 that would cost ten times the error seen is not what this code does.
ATTRIBUTION_FACTOR = 4.0
#: A reference off the cancellation-free truth by more than this (relative error) has not lost
#: digits to rounding, whatever the dtype: torch and JAX lose up to ~2e-6 on the confident rows
#: in float64 (measured over seeds 0-2 of the confident shape), a float32 cancellation a few 1e-4; 1e-2 is a wrong
#: reference (a custom one, 2x off), and the excuse says so instead of "loses digits".
REFERENCE_ROUNDING_BOUND = 1e-2


@dataclass(frozen=True)
class Finding:
    """One line of a diagnosis: ``quantities`` it explains, ``kind`` ("pitfall", "signature",
    "raised", "stateful", "non-finite", "dtype", "family" (the outputs are another member's),
    "precision" (right formula, lost digits), "reference" (the reference itself loses digits)),
    the ``pitfall`` name when one matches, and the ``text``."""

    quantities: tuple[str, ...]
    kind: str
    text: str
    pitfall: str | None = None

    def __str__(self) -> str:
        return self.text

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"quantities": list(self.quantities), "kind": self.kind, "pitfall": self.pitfall, "text": self.text}


@dataclass(frozen=True)
class BlindSpot:
    """A gallery mistake that the sweep cannot reveal: its ``pitfall`` name, ``title``, ``why``
    (the gallery's reason where it has one) and ``shows_on`` (a problem where it does show)."""

    pitfall: str
    title: str
    why: str
    shows_on: str

    def __str__(self) -> str:
        why = f": {self.why}" if self.why else ""
        return f"`{self.pitfall}` ({self.title}){why}; it shows on {self.shows_on}"

    # ``shows_on`` names the shape, the dtype and the target kind: a precision mistake of float32
    # (right formula, lost digits) is found with --dtypes float32, and adding its shape in float64
    # alone would test something else (see the "precision" findings of :func:`diagnose`).

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"pitfall": self.pitfall, "title": self.title, "why": self.why, "shows_on": self.shows_on}


# --------------------------------------------------------------------------------------------
# Pitfalls, run on a case
# --------------------------------------------------------------------------------------------


def gradient_pitfalls(spec: NetworkSpec | None = None) -> list[Any]:
    """The gallery's gradient pitfalls called once per case (the accumulating one needs two
    calls and is found by the kit's repeat call instead); with ``spec``, only those that are a
    mistake of that member of the family (``Pitfall.applies``: no 1/N to forget in a summed
    loss, no tanh' in a relu network)."""
    from .pitfalls import PITFALLS, SETTINGS

    return [p for p in PITFALLS.values() if p.is_gradient and SETTINGS[p.caught_on].calls == 1
            and (spec is None or p.applies(spec))]


def pitfall_outputs(name: str, case: SweepCase) -> dict[str, np.ndarray]:
    """Pitfall ``name``'s faulty implementation on ``case``, made in the case's member of the
    family (``case.spec``), in its dtype: quantity -> array (empty when the faulty code cannot
    run on the case, e.g. W2 for W2^T where H != C, or the mistake does not apply to the member)."""
    return dict(_pitfall_outputs(name, case.id, case))


#: Outputs computed for a case (pitfall fingerprints, members' truths, the plain formulas, scales),
#: keyed by what and the case; the oldest are dropped beyond :data:`CACHE_SIZE` entries.
_CACHE: dict[tuple, tuple] = {}
CACHE_SIZE = 4096


def _case_key(case: SweepCase) -> tuple:
    """What identifies a case's arrays in the cache: its id and the identity of its arrays (a
    case with one array replaced, e.g. a unit switched off in W1, is another case)."""
    return (case.id, id(case.x), id(case.y), *map(id, case.params))


def _store(key: tuple, value: tuple) -> tuple:
    """Remember ``value`` under ``key`` (dropping the oldest entry beyond :data:`CACHE_SIZE`)."""
    _CACHE[key] = value
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return value


def _pitfall_outputs(name: str, key: str, case: SweepCase) -> tuple:
    from .pitfalls import PITFALLS, member_outputs

    k = (name, key, *_case_key(case))
    if k not in _CACHE:
        p = PITFALLS[name]
        try:
            if not p.applies(case.spec):
                raise LookupError(name)
            L, g = member_outputs(p, case.spec, case.params, case.x, case.y)
        except Exception:  # e.g. W2 for W2^T where H != C: such code cannot run, let alone pass
            _store(k, ())
        else:
            _store(k, (("loss", np.asarray(L)), *((q, np.asarray(v)) for q, v in g._asdict().items())))
    return _CACHE[k]


def bug_lines(name: str) -> tuple[str, str]:
    """The ``# BUG`` and ``# RIGHT`` lines of pitfall ``name``'s source, stripped."""
    from .pitfalls import PITFALLS

    bug = right = ""
    for line in PITFALLS[name].source().splitlines():
        text = line.strip()
        if "# BUG" in text and not bug:
            bug = text
        elif text.startswith("# RIGHT") and not right:
            right = text[1:].strip()
    return bug, right


# --------------------------------------------------------------------------------------------
# What the user's code raised
# --------------------------------------------------------------------------------------------

_SCRATCH_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple({os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "purelib", "platlib")})


def _user_frame(tb: Any) -> traceback.FrameSummary | None:
    """The last frame of traceback ``tb`` that is the user's: outside scratch (the kit's adapter
    calls the function) and, where there is one, outside the standard library and installed
    packages (NumPy raising inside the user's call); None for an empty traceback."""
    frames = [f for f in traceback.extract_tb(tb) if not os.path.abspath(f.filename).startswith(_SCRATCH_DIR)]
    own = [f for f in frames if not os.path.abspath(f.filename).startswith(_LIBRARY_DIRS)]
    chosen = own or frames or traceback.extract_tb(tb)
    return chosen[-1] if chosen else None


def _short_path(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


def describe_exception(exc: BaseException) -> str:
    """What an implementation raised, with the user's file and line: ``ValueError: C must be >= 2
    (at impl.py:12)``; an exception without a message (a bare ``assert``) shows its source line
    instead, ``AssertionError at impl.py:30: assert y.ndim == 1``."""
    frame = _user_frame(exc.__traceback__)
    msg = str(exc).strip()
    text = type(exc).__name__ + (f": {msg}" if msg else "")
    if frame is None:
        return text
    where = f"{_short_path(frame.filename)}:{frame.lineno}"
    if msg:
        return f"{text} (at {where})"
    return f"{text} at {where}" + (f": {frame.line.strip()}" if frame.line else "")


def _raised_findings(results: Sequence[Any]) -> list[Finding]:
    """One finding for every case that raised: each distinct exception (type, message with its
    numbers generalized, place) counted, with where in the sweep it happens; a hint to declare
    ``--targets labels`` when the code raised on float targets only."""
    raised = [r for r in results if r.error]
    if not raised:
        return []
    groups: dict[str, list[Any]] = {}
    for r in raised:
        groups.setdefault(re.sub(r"\d+", "#", r.error), []).append(r)
    parts = []
    for rs in groups.values():
        parts.append(f"{rs[0].error} on {len(rs)} case(s) ({_kinds(rs)}; first: {rs[0].case.describe()})")
    n = len(groups)
    text = (f"no result on {len(raised)} of {len(results)} case(s): {n} distinct errors: "
            + "; ".join(f"({i}) {t}" for i, t in enumerate(parts, 1)) if n > 1 else
            f"no result on {len(raised)} of {len(results)} case(s): {parts[0]}")
    float_targets = {r.case.target for r in raised}
    labels_ran = [r for r in results if r.case.target == "labels" and not r.error]
    # only an exception of the code's own (an index or type error on float targets) earns the hint:
    # an exit, a signal or a time-out in the worker is a crash whatever the targets, never a "labels only"
    own_exceptions = all(r.error.startswith("raised ") and not r.error.startswith(("raised KeyboardInterrupt", "raised SystemExit"))
                         and getattr(r, "ended", None) is None for r in raised)
    if "labels" not in float_targets and labels_ran and own_exceptions:
        text += (f". It raised on float targets only ({' '.join(sorted(float_targets))}) and ran on every "
                 "labels case: if your code takes integer labels only, say so with --targets labels "
                 "(targets=[\"labels\"] in scratch.testing)")
    return [Finding((), "raised", text)]


# --------------------------------------------------------------------------------------------
# Non-finite outputs and dtypes
# --------------------------------------------------------------------------------------------


def _nonfinite_kinds(a: np.ndarray) -> str:
    a = np.asarray(a)
    kinds = [name for name, bad in (("NaN", np.isnan(a)), ("+inf", np.isposinf(a)), ("-inf", np.isneginf(a))) if bad.any()]
    return "/".join(kinds)


def _nonfinite_finding(results: Sequence[Any]) -> list[Finding]:
    """Non-finite outputs, always a finding of their own: which quantities, which values (NaN,
    +inf, -inf), on which dtypes and shapes; a float32-only NaN gets the usual cause."""
    per_q: dict[str, list[Any]] = {}
    for r in results:
        for q, c in r.checks.items():
            if c.problem and c.problem.startswith("non-finite") and "reference" not in c.problem:
                per_q.setdefault(q, []).append(r)
    if not per_q:
        return []
    items, all_bad = [], []
    for q, rs in per_q.items():
        kinds = "/".join(dict.fromkeys(k for r in rs for k in _nonfinite_kinds(r.got[q]).split("/") if k))
        shapes = " ".join(dict.fromkeys(r.case.shape for r in rs))
        arrays = " ".join(dict.fromkeys(str(tuple(np.shape(r.got[q]))) for r in rs))
        dtypes = " ".join(dict.fromkeys(r.case.dtype for r in rs))
        items.append(f"{q} {kinds} on {len(rs)} case(s) ({dtypes}; shapes {shapes}; array shape {arrays})")
        all_bad += rs
    text = "non-finite outputs: " + "; ".join(items)
    bad_dtypes = {r.case.dtype for r in all_bad}
    bad_shapes = {r.case.shape for r in all_bad}
    finite64 = [r for r in results if r.case.dtype == "float64" and r.case.shape in bad_shapes and not r.error
                and not any(c.problem and c.problem.startswith("non-finite") for c in r.checks.values())]
    if bad_dtypes == {"float32"} and finite64:
        text += (". Only in float32 (finite in float64 on the same shapes): a constant or an operation that is "
                 "fine in float64 rounds in float32, e.g. a clip bound 1 - 1e-15 that is exactly 1 in float32, "
                 "then log(1 - p) = log 0 or 0/0; clip with the dtype's own bound (np.finfo(x.dtype).eps)")
    elif bad_shapes <= {"huge"}:
        huge = [r for r in results if r.case.shape == "huge" and not r.error]
        grads_fail = any(q != "loss" and not c.passed for r in huge for q, c in r.checks.items())
        if grads_fail:  # the gradients go wrong too: the softmax itself overflowed
            name = "softmax_without_max_shift"
            text += (". Only on logits of order 1e3, and the gradients are wrong there too: exp(z2) overflows "
                     f"without the max-shift: matches pitfall `{name}`. See: python -m scratch pitfalls --show {name}")
        else:  # right gradients, an infinite loss: the log of a probability that underflowed to 0
            name = "log_of_softmax"
            text += (". Only on logits of order 1e3, in the loss alone (the gradients are right): log of a "
                     f"probability that underflowed to 0: matches pitfall `{name}`. See: python -m scratch "
                     f"pitfalls --show {name}")
        return [Finding(tuple(per_q), "non-finite", text, name)]
    return [Finding(tuple(per_q), "non-finite", text)]


def _dtype_finding(results: Sequence[Any]) -> list[Finding]:
    """float32 outputs in float64 cases: the code computes in float32; with JAX imported, the
    likely cause is ``jax_enable_x64`` left off."""
    qs = [q for q in QUANTITIES if any(r.case.dtype == "float64" and q in r.checks and r.checks[q].problem
                                       and r.checks[q].problem.startswith("dtype: got float32") for r in results)]
    if not qs:
        return []
    n = sum(1 for r in results if r.case.dtype == "float64" and any(
        r.checks[q].problem and r.checks[q].problem.startswith("dtype: got float32") for q in qs if q in r.checks))
    text = f"float32 outputs in float64 cases ({', '.join(qs)} on {n} case(s)): your code computes in float32"
    if "jax" in sys.modules:
        text += ('. JAX is imported: without jax.config.update("jax_enable_x64", True), run before any array is '
                 "made, JAX turns float64 inputs into float32 silently (see python -m scratch pitfalls --show jax_without_x64)")
    else:
        text += " (a float32 constant or buffer, torch's default dtype, or JAX without jax_enable_x64?)"
    return [Finding(tuple(qs), "dtype", text)]


# --------------------------------------------------------------------------------------------
# The family: are the outputs another member's?
# --------------------------------------------------------------------------------------------


def _variants(spec: NetworkSpec) -> list[tuple[NetworkSpec, str]]:
    """The members next to ``spec`` a user may have written instead, with the options that say so."""
    from .activations import ACTIVATIONS

    out = []
    other = "sum" if spec.reduction == "mean" else "mean"
    for act in ACTIVATIONS:
        for red in (spec.reduction, other):
            if act == spec.activation and red == spec.reduction:
                continue
            v = replace(spec, activation=act, alpha=0.01 if act != "leaky_relu" or spec.activation != act else spec.alpha,
                        reduction=red)
            opts = []
            if act != spec.activation:
                opts.append(f"--activation {act}")
            if red != spec.reduction:
                opts.append(f"--reduction {red}")
            out.append((v, " ".join(opts)))
    if spec.l2:
        out.append((replace(spec, l2_form="full" if spec.l2_form == "half" else "half"),
                    f"--l2-form {'full' if spec.l2_form == 'half' else 'half'}"))
        if spec.l2_biases:  # the other way round is the gallery's l2_on_biases, named as a pitfall
            out.append((replace(spec, l2_biases=False), "without --l2-biases"))
    return out


def _member_ref(spec: NetworkSpec, case: SweepCase) -> dict[str, np.ndarray]:
    """The cancellation-free truth of member ``spec`` on ``case`` (scratch, float64 rounding)."""
    k = ("member", spec, *_case_key(case))
    if k not in _CACHE:
        from .network import loss_and_grads

        L, g = reference_result(functools.partial(loss_and_grads, spec=spec), case.params, case.x, case.y)
        _store(k, (("loss", np.asarray(L)), *g._asdict().items()))
    return dict(_CACHE[k])


def _passes(q: str, r: Any, ref: dict[str, np.ndarray], spec: NetworkSpec | None = None) -> bool:
    """Whether the implementation's ``q`` on case result ``r`` passes against ``ref`` (the truth of
    member ``spec``, default the case's), through the one comparison at the case's tolerance."""
    from .compare import zero_truth_floor

    got = r.got.get(q)
    if got is None:
        return False
    floor = zero_truth_floor(r.case.params, r.case.x, r.case.y, spec or r.case.spec) if q == "loss" else 0.0
    return check_quantity(q, got, ref[q], rtol=r.rtol, dtype=DTYPES[r.case.dtype], shape=np.shape(ref[q]),
                          ref_dtype=np.float64, floor=floor).passed


def _family_finding(sample: Sequence[Any], bad_q: list[str]) -> tuple[Finding | None, bool]:
    """Whether the outputs are those of another member of the family on every failing case
    tried (the hidden activation, the reduction, the L2 convention): ``(finding, explains all)``.
    When only the loss matches a member, the forward pass is that member's: said, not explained."""
    if not sample:
        return None, False
    spec = sample[0].case.spec
    if any(r.case.spec != spec for r in sample):
        return None, False
    loss_only = None
    for v, opts in _variants(spec):
        refs = [_member_ref(v, r.case) for r in sample]
        returned = [[q for q in QUANTITIES if r.got.get(q) is not None] for r in sample]
        if all(_passes(q, r, ref, v) for r, ref, qs in zip(sample, refs, returned) for q in qs):
            return Finding(tuple(bad_q), "family", _family_text(spec, v, opts)), True
        if loss_only is None and v.activation != spec.activation and v.reduction == spec.reduction \
                and all(_passes("loss", r, ref, v) for r, ref in zip(sample, refs)):
            loss_only = Finding(("loss",), "family", f"your loss matches a {v.activation} hidden layer (the forward pass "
                                f"is {v.activation}'s), but not every gradient does: check with {opts} to see which")
    return loss_only, False


def _family_text(spec: NetworkSpec, v: NetworkSpec, opts: str) -> str:
    if v.activation == spec.activation and v.reduction != spec.reduction and v.l2 == spec.l2 == 0:
        if v.reduction == "sum":
            return ("your loss and gradients are consistently N x: your loss is a sum, not a mean "
                    "(pass --reduction sum if that is what you meant)")
        return ("your loss and gradients are consistently 1/N x: your loss is a mean, not a sum "
                "(pass --reduction mean if that is what you meant)")
    if v.activation == spec.activation and v.reduction != spec.reduction:
        return (f"your loss and gradients match reduction {v.reduction}: your loss is a {v.reduction} over the samples, "
                f"not a {spec.reduction} (pass {opts} if that is what you meant)")
    if v.activation != spec.activation:
        red = f" with reduction {v.reduction}" if v.reduction != spec.reduction else ""
        return f"your outputs match a {v.activation} hidden layer{red}, not {spec.activation}; pass {opts}"
    return f"your loss and gradients match {v.describe()}; pass {opts}"


# --------------------------------------------------------------------------------------------
# Right formula, lost digits
# --------------------------------------------------------------------------------------------

#: The three operations that lose digits on confident, saturated rows when written the plain way:
#: name -> (what it is, why it loses, the fix).
LOSSY = {
    "log": ("log of the sum of exp(z2 - max) (log-softmax as z - max - log sum e)",
            "on a confident row the sum is 1 + T with T, the other classes' mass, below the dtype's resolution "
            "near 1, so log(1 + T) keeps few or none of T's digits",
            "log1p(T), T = sum over the other classes of exp(z2_c - max): (z2 - max) - log1p(T) "
            "(scratch.softmax.log_softmax)"),
    "yhat": ("yhat - y at each confident row's most probable class",
             "yhat_c rounds toward 1 and 1 - yhat_c = T/(1 + T) loses its digits",
             "that entry as -T/(1 + T) (times 1/N) from T, the other classes' mass (scratch.network.dz2_fused)"),
    "act": ("the activation's derivative from a1 on saturated units",
            "a1 rounds to +-1 (tanh) or 1 (sigmoid) and 1 - a1**2 or a1 (1 - a1) to few or no digits",
            "the derivative from z1: tanh' = 4u/(1 + u)^2 with u = exp(-2|z1|) (scratch.network.tanh_derivative); "
            "sigmoid' = sigma(z1) sigma(-z1)"),
}


def plain_outputs(case: SweepCase, fix: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """The right formulas written the plain way, in the case's dtype, for its member: max-shifted
    softmax, log-softmax as ``z - max - log sum e``, dz2 = ``yhat s - y``, the activation's
    derivative from a1 (``1 - a1**2``, ``a1 (1 - a1)``); the operations in ``fix`` (keys of
    :data:`LOSSY`) computed without cancellation instead.  Right in exact arithmetic: what a
    correct implementation that loses digits computes.  quantity -> array."""
    from .activations import activate, derivative, derivative_from_activation
    from .network import _forward, dz2_fused, one_hot

    k = ("plain", fix, *_case_key(case))
    if k in _CACHE:
        return dict(_CACHE[k])
    spec, (W1, b1, W2, b2), x, y = case.spec, case.params, case.x, case.y
    N, C, dt = x.shape[0], W2.shape[1], x.dtype
    is_labels = y.ndim == 1
    Y = one_hot(y, C, dt) if is_labels else y
    with np.errstate(all="ignore"):
        z1 = x @ W1 + b1  # (1)
        a1 = activate(spec.activation, z1, spec.alpha)  # (2)
        z2 = a1 @ W2 + b2  # (3)
        z = z2 - z2.max(axis=1, keepdims=True)
        e = np.exp(z)
        yhat = e / e.sum(axis=1, keepdims=True)  # (4)
        fwd = _forward(case.params, x, spec) if fix & {"log", "yhat"} else None
        log_yhat = fwd.log_yhat if "log" in fix else z - np.log(e.sum(axis=1, keepdims=True))  # (5)
        scale = dt.type(spec.scale(N))
        loss = -np.sum(Y * log_yhat) * scale + spec.penalty(case.params)  # (6)-(8)
        dz2 = dz2_fused(fwd, y, is_labels, spec=spec) if "yhat" in fix else (yhat * Y.sum(axis=1, keepdims=True) - Y) * scale
        fprime = derivative(spec.activation, z1, spec.alpha) if "act" in fix else \
            derivative_from_activation(spec.activation, a1, spec.alpha)
        dz1 = (dz2 @ W2.T) * fprime  # (3''), (2')
        g = {"dz2": dz2, "dW2": a1.T @ dz2, "db2": dz2.sum(axis=0), "dz1": dz1, "dW1": x.T @ dz1, "db1": dz1.sum(axis=0)}
        reg = spec.penalty_grads(case.params)
        if reg is not None:
            g["dW1"], g["db1"], g["dW2"], g["db2"] = g["dW1"] + reg[0], g["db1"] + reg[1], g["dW2"] + reg[2], g["db2"] + reg[3]
    out = {"loss": np.asarray(loss, dtype=dt), **g}
    _store(k, tuple(out.items()))
    return out


def _error(q: str, a: Any, r: Any) -> float:
    """The relative error of ``a`` against the reference's ``q`` on case result ``r`` (the check's metric)."""
    return check_quantity(q, a, r.ref[q], rtol=r.rtol, dtype=np.asarray(a).dtype, shape=np.shape(r.ref[q]),
                          ref_dtype=np.asarray(r.ref[q]).dtype).max_rel


def _lost_digits(q: str, r: Any) -> float | None:
    """The error the plain right formulas make on ``q`` of case ``r`` when they fail there
    (None when they pass: nothing to lose on this case)."""
    twin = plain_outputs(r.case)
    err = _error(q, twin[q], r)
    return err if err > r.rtol else None


def rounding_scale(q: str, case: SweepCase) -> float:
    """The size of the terms that cancel in ``q`` on ``case`` (float64): for the loss, its
    :func:`scratch.compare.zero_truth_floor`; for a gradient, the largest entry of the backward
    pass run on absolute values (|yhat| s + |y| for dz2, then |a1|^T, |W2|^T, |f'| <= 1, |x|^T, and
    the penalty's |k W|).  A rounding error of the chain is a few eps times this."""
    from .compare import zero_truth_floor
    from .network import Params, _forward

    k = ("scale", q, *_case_key(case))
    if k in _CACHE:
        return _CACHE[k][0]
    spec = case.spec
    params = Params(*(np.asarray(p, np.float64) for p in case.params))
    x = np.asarray(case.x, np.float64)
    with np.errstate(all="ignore"):
        if q == "loss":
            value = zero_truth_floor(params, x, case.y, spec)
        else:
            fwd = _forward(params, x, spec)
            C = params.W2.shape[1]
            Y = np.abs(np.eye(C)[case.y] if case.y.ndim == 1 else np.asarray(case.y, np.float64))
            f = spec.scale(x.shape[0])
            dz2 = (fwd.yhat * Y.sum(axis=1, keepdims=True) + Y) * f
            dz1 = dz2 @ np.abs(params.W2).T
            reg = spec.penalty_grads(Params(*(np.abs(p) for p in params))) or (0, 0, 0, 0)
            a = {"dz2": dz2, "dW2": np.abs(fwd.a1).T @ dz2 + reg[2], "db2": dz2.sum(axis=0) + reg[3], "dz1": dz1,
                 "dW1": np.abs(x).T @ dz1 + reg[0], "db1": dz1.sum(axis=0) + reg[1]}[q]
            value = float(np.max(a, initial=0.0))
    _store(k, (value,))
    return value


def _precision_explains(q: str, r: Any) -> bool:
    """The user's ``q`` on ``r`` fails where the right formulas computed the plain way fail, by no
    more than rounding: max|got - ref| <= :data:`PRECISION_ULPS` eps(dtype) :func:`rounding_scale`,
    and a relative error at most :data:`PRECISION_PLAIN_FACTOR` times the plain way's own."""
    lost = _lost_digits(q, r)
    if lost is None:
        return False
    got, ref = np.asarray(r.got[q], np.float64), np.asarray(r.ref[q], np.float64)
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return False
    eps = float(np.finfo(DTYPES[r.case.dtype]).eps)
    within_rounding = float(np.max(np.abs(got - ref), initial=0.0)) <= PRECISION_ULPS * eps * rounding_scale(q, r.case)
    return within_rounding and r.checks[q].max_rel <= PRECISION_PLAIN_FACTOR * lost


def _lossy_operations(q: str, r: Any) -> list[str]:
    """The operations of :data:`LOSSY` that lose the digits of ``q`` on case ``r``: those that,
    computed the plain way with the rest cancellation-free, fail ``q`` there; of them, the ones
    whose cost is at most :data:`ATTRIBUTION_FACTOR` times the implementation's error, or all when none is."""
    err = r.checks[q].max_rel
    candidates, explaining = [], []
    for op in LOSSY:
        cost = _error(q, plain_outputs(r.case, frozenset(o for o in LOSSY if o != op))[q], r)
        if cost <= r.rtol:
            continue
        candidates.append(op)
        if cost <= err * ATTRIBUTION_FACTOR:
            explaining.append(op)
    return explaining or candidates


def _precision_findings(rest: dict[str, list[Any]], results: Sequence[Any]) -> tuple[list[Finding], list[str]]:
    """Precision findings for the quantities whose every failing case tried fails as the right
    formulas fail when computed the plain way: one per lossy operation, naming it, the error it
    costs, and the fix.  Returns the findings and the quantities they explain."""
    by_op: dict[tuple[str, ...], list[str]] = {}
    for q, cases_q in rest.items():
        if not cases_q or not all(_precision_explains(q, r) for r in cases_q):
            continue
        ops = tuple(dict.fromkeys(op for r in cases_q for op in _lossy_operations(q, r))) or ("log", "yhat", "act")
        by_op.setdefault(ops, []).append(q)
    findings, explained = [], []
    for ops, qs in by_op.items():
        cases_q = [r for q in qs for r in rest[q]]
        costs = ", ".join(f"{q} {max(r.checks[q].max_rel for r in rest[q]):.2g}" for q in qs)
        tols = " ".join(dict.fromkeys(f"{r.rtol:.2g} ({r.case.dtype})" for r in cases_q))
        what = "; and ".join(f"{LOSSY[op][0]}: {LOSSY[op][1]}" for op in ops)
        fix = "; ".join(LOSSY[op][2] for op in ops)
        findings.append(Finding(tuple(qs), "precision", f"{', '.join(qs)}: right formula, lost digits (not a wrong "
                                f"formula, and no pitfall of the gallery): {what}. It costs a relative error of {costs} "
                                f"(tolerance {tols}); fix: {fix}. torch and JAX compute it the same way and lose the same digits; "
                                f"{_where(qs[-1], results)}"))
        explained += qs
    return findings, explained


# --------------------------------------------------------------------------------------------
# A reference that loses digits itself
# --------------------------------------------------------------------------------------------


def excuse_reference(results: Sequence[Any], reference: str | None) -> Finding | None:
    """Re-judge, against the cancellation-free truth, every failing quantity of ``results`` where
    the reference (``reference``, its name; torch or JAX) is itself off that truth beyond the
    tolerance: there the reference is known to lose digits (confident, saturated rows; the
    conformance matrix measures it), and the user is not failed for its rounding.  The checks are
    replaced in place (each a check against scratch's own values, for the case's member); the
    returned finding (kind "reference") says where, and by how much each side is off.  None when
    nothing was re-judged (or the reference is scratch)."""
    from .compare import zero_truth_floor

    if reference in (None, "scratch"):
        return None
    seen: dict[str, list[float]] = {}  # quantity -> [cases, reference's error, yours]
    shapes: dict[str, None] = {}
    for r in results:
        if r.error:
            continue
        for q in r.failed():
            truth = _member_ref(r.case.spec, r.case)
            err = relative_error(r.ref[q], truth[q])
            if not err > r.rtol or not _passes(q, r, truth):
                continue
            floor = zero_truth_floor(r.case.params, r.case.x, r.case.y, r.case.spec) if q == "loss" else 0.0
            r.checks[q] = check_quantity(q, r.got[q], truth[q], rtol=r.rtol, dtype=DTYPES[r.case.dtype],
                                         shape=np.shape(truth[q]), ref_dtype=np.float64, floor=floor)
            n, ref_err, user_err = seen.get(q, [0, 0.0, 0.0])
            seen[q] = [n + 1, max(ref_err, err), max(user_err, r.checks[q].max_rel)]
            shapes[r.case.shape] = None
    if not seen:
        return None
    items = "; ".join(f"{q} on {int(n)} case(s) (the reference is off by up to {a:.2g}, yours by {b:.2g})"
                      for q, (n, a, b) in seen.items())
    worst = max(a for _, a, _ in seen.values())
    where = f"on shapes {' '.join(shapes)}"
    if worst > REFERENCE_ROUNDING_BOUND:  # not rounding: say what is seen, not why
        what, truth, tail = (f"is off the cancellation-free truth {where} by up to {worst:.2g}, far more than "
                             "rounding loses (a wrong reference?)", "that truth", "")
    else:
        what, truth = f"loses digits {where}", "the cancellation-free truth"
        tail = (". torch and JAX compute log-sum-exp, 1 - yhat and 1 - a1^2 the plain way, which the conformance "
                "matrix (python -m scratch conformance) measures failing there too")
    return Finding(tuple(seen), "reference", f"the reference {reference} itself {what}, so there your values were "
                   f"judged against {truth} (scratch's own formulas) instead, and pass: {items}{tail}")


# --------------------------------------------------------------------------------------------
# Diagnosis
# --------------------------------------------------------------------------------------------


def _spread(results: Sequence[Any]) -> list[Any]:
    """Up to :data:`MAX_CASES` results, spread over the sweep: one per shape in turn (round
    robin), within a shape one per (dtype, target kind) before any repeat."""
    by_shape: dict[str, list[Any]] = {}
    for r in results:
        by_shape.setdefault(r.case.shape, []).append(r)
    for shape, rs in by_shape.items():
        seen: set[tuple[str, str]] = set()
        first, again = [], []
        for r in rs:
            key = (r.case.dtype, r.case.target)
            (again if key in seen else first).append(r)
            seen.add(key)
        # alternate dtypes early: float64 and float32 failures often differ in kind
        targets = list(dict.fromkeys(r.case.target for r in first))
        dtypes = list(dict.fromkeys(r.case.dtype for r in first))
        first.sort(key=lambda r: (targets.index(r.case.target), dtypes.index(r.case.dtype)))
        by_shape[shape] = first + again
    out: list[Any] = []
    queues = list(by_shape.values())
    while len(out) < MAX_CASES and any(queues):
        for q in queues:
            if q and len(out) < MAX_CASES:
                out.append(q.pop(0))
    return out


def _where(q: str, results: Sequence[Any]) -> str:
    """Where in the sweep ``q`` fails: "only for float32", "only for targets unnormalized", ..."""
    checked = [r for r in results if q in r.checks]
    failing = [r for r in checked if not r.checks[q].passed]
    parts = []
    for attr, label in (("dtype", "dtype"), ("target", "targets"), ("shape", "shapes")):
        values = list(dict.fromkeys(getattr(r.case, attr) for r in checked))
        bad = list(dict.fromkeys(getattr(r.case, attr) for r in failing))
        if len(bad) < len(values):
            parts.append(f"{label} {' '.join(bad)} (passes on {' '.join(v for v in values if v not in bad)})")
    n1 = [r for r in checked if r.case.dims[0] == 1]
    special = all(r.case.shape in SPECIAL_SHAPES for r in failing)  # built with N > 1: says nothing about N
    if n1 and all(r.checks[q].passed for r in n1) and failing and not special:
        parts.append("N > 1 (passes wherever N = 1)")
    return ("fails only for " + "; ".join(parts)) if parts else "fails on every case kind of the sweep"


def _ratio(g: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """Least-squares k in g ~ k r, and the residual relative to the largest magnitude."""
    if g.shape != r.shape or not (np.all(np.isfinite(g)) and np.all(np.isfinite(r))):
        return np.nan, np.inf
    g, r = g.astype(np.float64).ravel(), r.astype(np.float64).ravel()
    rr = float(r @ r)
    if rr == 0:
        return (0.0 if not g.any() else np.inf), 0.0
    k = float(g @ r) / rr
    scale = max(np.abs(g).max(), np.abs(r).max())
    return k, float(np.abs(g - k * r).max() / scale) if scale else 0.0


def _name_ratio(ks: list[float], Ns: list[int], Cs: list[int] | None = None, every: str = "on every case") -> str:
    """The ratio ``ks`` (one per case, with its N and C) in words: N, 1/N, N*C, 1/(N*C), 1/C, C,
    1, -1, 2, 1/2, 0, a constant, or "a multiple that changes".  ``every`` names the cases the
    ratio holds on: "on every case", or for a finding on a part of the sweep "on each of these cases"."""
    def near(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-3 * max(abs(b), 1e-300)

    Cs = Cs or [1] * len(ks)
    NCs = [N * C for N, C in zip(Ns, Cs)]
    if all(near(k, N) for k, N in zip(ks, Ns)) and any(N > 1 for N in Ns):
        return f"N times the truth {every} (the 1/N of the mean (7) is missing?)"
    if all(near(k, 1 / N) for k, N in zip(ks, Ns)) and any(N > 1 for N in Ns):
        return f"1/N times the truth {every} (divided by N twice: a mean where a sum belongs?)"
    if any(C > 1 for C in Cs):
        here = f" (= {ks[0]:.3g} here: C = {Cs[0]} {every})" if len(set(Cs)) == 1 else ""
        if all(near(k, NC) for k, NC in zip(ks, NCs)):
            return f"N*C times the truth {every} (a sum over all N*C entries of the (N, C) array?){here}"
        if all(near(k, 1 / NC) for k, NC in zip(ks, NCs)):
            return f"1/(N*C) times the truth {every} (divided by N*C: a mean over all entries and another 1/N?){here}"
        if all(near(k, 1 / C) for k, C in zip(ks, Cs)):
            return f"1/C times the truth {every} (a mean over all N*C entries, not over the N samples){here}"
        if all(near(k, C) for k, C in zip(ks, Cs)):
            return f"C times the truth {every}{here}"
    if all(near(k, 1.0) for k in ks):
        return "the truth up to a small relative error (a loss of precision, not a wrong formula)"
    for value, text in ((-1.0, "-1 times the truth (sign flipped)"), (2.0, "twice the truth"),
                        (0.5, "half the truth"), (0.0, "all zeros")):
        if all(near(k, value) if value else abs(k) < 1e-12 for k in ks):
            return text
    if all(near(k, ks[0]) for k in ks):
        return f"a constant {ks[0]:.4g} times the truth {every}"
    return "a multiple of the truth that changes from case to case (" + ", ".join(f"{k:.3g}" for k in ks[:4]) + ")"


def _pattern(q: str, r: Any) -> tuple[str, str, float] | None:
    """A pattern of the error of ``q`` on one failing case (both arrays comparable):
    ``(kind, text, value)``, or None.  ``value`` is the |z1| threshold for "saturated"."""
    g, t = np.asarray(r.got[q], np.float64), np.asarray(r.ref[q], np.float64)
    if g.shape != t.shape:
        return None
    if g.ndim == 2 and g.shape[0] == g.shape[1] and same_values(g, t.T, MATCH_FACTOR * r.rtol):
        return "transpose", f"{q} is the transpose of the truth", 0.0
    scale = max(np.abs(t).max(), np.abs(g).max(), 1e-300)
    bad = np.abs(g - t) > r.rtol * scale
    if not bad.any() or g.ndim == 0:
        return None
    if q in ("dz1", "dz2") and g.ndim == 2:
        from .network import forward

        fwd = forward(r.case.params, r.case.x)
        if q == "dz1":
            z = np.abs(fwd.z1.astype(np.float64))
            if z[bad].min() > 4:
                return "saturated", "", float(z[bad].min())
        if q == "dz2" and r.case.y.ndim == 1 and np.array_equal(np.argwhere(bad)[:, 1], r.case.y[np.argwhere(bad)[:, 0]]):
            return "true class", "wrong only at each row's true class", 0.0
        conf = fwd.yhat.max(axis=1) > 1 - 1e-4
        if conf[np.flatnonzero(bad.any(axis=1))].all() and not conf.all():
            return "confident", "wrong only on confident rows (max yhat > 1 - 1e-4)", 0.0
    if g.ndim == 2:
        cols = np.flatnonzero(bad.any(axis=0))
        if len(cols) < g.shape[1]:
            flip = all(same_values(g[:, j], -t[:, j], MATCH_FACTOR * r.rtol) for j in cols)
            return "columns", f"{'sign flipped' if flip else 'wrong'} only in column(s) {', '.join(map(str, cols))} of {g.shape[1]}", 0.0
    if g.ndim == 1 and bad.sum() < g.size:
        idx = np.flatnonzero(bad)
        flip = same_values(g[idx], -t[idx], MATCH_FACTOR * r.rtol)
        return "index", f"{'sign flipped' if flip else 'wrong'} only at index {', '.join(map(str, idx[:8]))} of {g.size}", 0.0
    return None


def _common_pattern(q: str, failing: Sequence[Any]) -> str | None:
    """The pattern every failing case shows (a column or index pattern only when it is the same
    on every case; saturation with the smallest |z1| where it is wrong), or None."""
    found = [_pattern(q, r) for r in failing]
    if not found or any(f is None for f in found):
        return None
    kinds = {f[0] for f in found}
    if kinds == {"saturated"}:
        return f"wrong only at saturated units (|z1| >= {min(f[2] for f in found):.3g}; right where |z1| is smaller)"
    texts = {f[1] for f in found}
    return texts.pop() if len(kinds) == 1 and len(texts) == 1 else None


#: Said once for failures confined to the confident, saturated cases.
CONFIDENT_HINT = ("on confident, saturated rows textbook formulas such as 1 - yhat, 1 - a1^2 or the log of a sum "
                  "near 1 cancel, in float32 and, beyond |z1| = 18.7, in float64, as torch and JAX do; "
                  "see python -m scratch accuracy")


def _confident_hint(failing: Sequence[Any]) -> str:
    """`` (CONFIDENT_HINT)`` when every failing case is a confident one, else ``""``."""
    return f" ({CONFIDENT_HINT})" if all(r.case.shape == "confident" for r in failing) else ""


def _every(cases: Sequence[Any], whole: bool) -> str:
    """The cases a ratio holds on, in words: "on every case" for a finding on every failing case
    tried (``whole``), else "on that case" or "on each of these cases" (a part of them)."""
    return "on every case" if whole else ("on that case" if len(cases) == 1 else "on each of these cases")


def _signature(q: str, failing: Sequence[Any], results: Sequence[Any], whole: bool = True) -> tuple[str, str]:
    """The simple signature of the failures of ``q``: ``(what, where)``, where ``where`` says in
    which part of the sweep it fails (and why, for the confident cases).  ``whole``: ``failing``
    is every failing case tried for ``q``, not a part of them."""
    first = failing[0].checks[q]
    where = _where(q, results) + _confident_hint(failing)
    r = failing[0]
    if first.problem.startswith("shape"):
        got, want = np.shape(r.got[q]), np.shape(r.ref[q])
        if len(got) == 2 and got == want[::-1]:
            return f"{q} has shape {got}, the transpose of {want}", where
        if len(want) == 1 and got == (r.case.dims[0],):
            return f"{q} has shape {got}: summed over the units, not over the N samples (axis 1 instead of 0)", where
        return f"{q} has shape {got}, expected {want}", where
    if first.problem.startswith("dtype"):
        return f"{q}: {first.problem}", where
    if first.problem.startswith("non-finite"):
        from .network import forward

        zmax = max(float(np.abs(forward(c.case.params, c.case.x, spec=c.case.spec).z2).max()) for c in failing)
        hint = f" (logits reach |z2| = {zmax:.3g}: exp overflows without the max-shift?)" if zmax > 80 else ""
        return f"{q} has non-finite values{hint}", where
    ratios = [(_ratio(np.asarray(c.got[q]), np.asarray(c.ref[q])), c) for c in failing]
    if all(res <= RATIO_FACTOR * c.rtol for (k, res), c in ratios):
        named = _name_ratio([k for (k, _), _ in ratios], [c.case.dims[0] for _, c in ratios],
                            [c.case.dims[3] for _, c in ratios], _every(failing, whole))
        # A scalar (the loss) is always some multiple of the truth: a ratio that changes from
        # case to case says nothing about it, so it gets its relative error instead.
        if not (named.startswith("a multiple") and all(np.size(c.ref[q]) == 1 for c in failing)):
            return f"{q} is {named}", where
    pattern = _common_pattern(q, failing)
    if pattern and pattern.startswith(q):
        return pattern, where
    return f"{q}: {pattern or f'relative error up to {max(c.checks[q].max_rel for c in failing):.3g}'}", where


def _relevance(name: str, sample: Sequence[Any]) -> int:
    """How many of the failing cases look like the problem pitfall ``name`` is shown on (same
    dtype, target kind, shape kind): the tie-break between pitfalls that agree on these cases."""
    from .pitfalls import PITFALLS, SETTINGS

    s = SETTINGS[PITFALLS[name].caught_on]
    shape = "huge" if s.logit_scale >= 100 else ("confident" if s.shape in ("confident", "mixed") else s.shape)
    return sum((r.case.dtype == s.dtype) + (r.case.target == s.target) + (r.case.shape == shape) for r in sample)


def diagnose(results: Sequence[Any], reference: str | None = None) -> list[Finding]:
    """Findings for the failing results of a sweep (:class:`scratch.testing.CaseResult`), in order:
    state kept between calls; what was raised (each distinct exception, with the user's file and
    line); non-finite outputs; float32 outputs in float64 cases; outputs of another member of the
    family (activation, reduction, L2 convention); a matching pitfall where one explains a failing
    quantity (made in the case's member); right formula, lost digits; else the quantity's simple
    signature.  A reference that loses digits itself is for :func:`excuse_reference`, run first
    (it re-judges those checks, so they no longer fail here); ``reference``, its name, is kept for
    the callers that pass it and changes nothing."""
    from .pitfalls import PITFALLS

    failing = [r for r in results if not r.ok]
    if not failing:
        return []
    findings: list[Finding] = []
    stateful = [r for r in failing if r.repeat_ratio is not None]
    if stateful:
        k = stateful[0].repeat_ratio
        if abs(k - 2) < 1e-3:
            p = PITFALLS["accumulating_gradients"]
            bug, right = bug_lines(p.name)
            findings.append(Finding((), "pitfall", f"a second call returned twice the first: matches pitfall "
                                    f"`{p.name}` ({p.title}). {bug} -> {right}. See: python -m scratch pitfalls --show {p.name}",
                                    p.name))
        else:
            findings.append(Finding((), "stateful", f"the result depends on earlier calls (second = {k:.3g} x first)"))
    findings += _raised_findings(results)
    findings += _nonfinite_finding(results)  # the passing float64 cases say "only in float32"
    findings += _dtype_finding(failing)
    bad_q = [q for q in QUANTITIES if any(q in r.checks and not r.checks[q].passed for r in failing)]
    if not bad_q:
        return findings
    sample = _spread([r for r in failing if r.failed()])
    family, explains_all = _family_finding(sample, bad_q)
    if family:
        findings.append(family)
    if explains_all:
        return findings
    tried = {q: [r for r in sample if q in r.failed()] for q in bad_q}
    zero_q = [q for q in bad_q if q != "loss" and all(r.got.get(q) is not None and not np.any(r.got[q]) for r in tried[q])]
    if set(bad_q) <= set(zero_q) | {"loss"} and {"dW2", "db2", "dz2"} & set(zero_q):
        # every failing gradient is exactly zero everywhere it fails: a stub, not a pitfall (a saturated
        # float32 case zeroes one pitfall's dW1 too, but never dW2 and db2 with it)
        findings.append(Finding(tuple(zero_q), "signature", f"{', '.join(zero_q)} {'is' if len(zero_q) == 1 else 'are'} all "
                                "zeros on every failing case: not computed (a stub, or a gradient never assigned?), no known pitfall"))
        bad_q = [q for q in bad_q if q not in zero_q]
        if not bad_q:
            return findings
        tried = {q: tried[q] for q in bad_q}
    matched: dict[str, dict[str, list[Any]]] = {}  # pitfall -> quantity -> the tried cases it reproduces
    for p in gradient_pitfalls():
        for q in bad_q:
            hits = [r for r in tried[q] if _reproduces(p.name, q, r)]
            if hits:
                matched.setdefault(p.name, {})[q] = hits
    explains = {n: [q for q, hits in m.items() if len(hits) == len(tried[q])] for n, m in matched.items()}
    left = list(bad_q)
    rest: dict[str, list[Any]] = {}  # quantity -> the failing cases no pitfall explains
    for name in sorted(explains, key=lambda n: (-len(explains[n]), -_relevance(n, sample))):
        qs = [q for q in explains[name] if q in left]
        if not qs:
            twins = [q for q in explains[name] if q not in left]
            if twins and findings and findings[-1].kind == "pitfall" and set(twins) <= set(findings[-1].quantities):
                last = findings[-1]
                findings[-1] = Finding(last.quantities, last.kind, last.text + f" (equally consistent with pitfall `{name}` "
                                       f"on these cases)", last.pitfall)
            continue
        findings.append(_pitfall_finding(name, qs, tried, bad_q, sample, results, None))
        left = [q for q in left if q not in qs]
    # Where no pitfall explains every failing case, one may still explain a part of them (two
    # mistakes at once: e.g. a bias bug everywhere and a float32 cancellation on confident rows).
    partial: dict[str, dict[str, list[Any]]] = {}  # pitfall -> quantity -> the cases it is named on
    for q in left:
        # a non-finite scalar (a NaN loss) matches any pitfall that makes one: evidence only
        # when it holds on every failing case tried (above), not for a part of them
        open_cases = [r for r in tried[q] if np.size(r.got[q]) > 1 or np.all(np.isfinite(r.got[q]))]
        rest_nonfinite = [r for r in tried[q] if not any(r is c for c in open_cases)]
        while open_cases:  # greedy cover: the pitfall reproducing most of the open cases first
            ids = {id(r) for r in open_cases}
            best = max((n for n in matched if q in matched[n]), default=None,
                       key=lambda n: (sum(id(r) in ids for r in matched[n][q]), _relevance(n, sample)))
            covered = [r for r in matched[best][q] if id(r) in ids] if best else []
            if not covered:
                break
            partial.setdefault(best, {})[q] = covered
            open_cases = [r for r in open_cases if id(r) not in {id(c) for c in covered}]
        if open_cases or rest_nonfinite:
            unexplained = {id(r) for r in rest_nonfinite + open_cases}
            rest[q] = [r for r in tried[q] if id(r) in unexplained]  # in the order tried
    for name, per_q in partial.items():
        findings.append(_pitfall_finding(name, list(per_q), tried, bad_q, sample, results, per_q))
    # (a quantity a pitfall explains on part of the cases has a wrong formula: not "right formula" on the rest)
    lost, done = _precision_findings({q: rs for q, rs in rest.items() if not any(q in pq for pq in partial.values())},
                                     results)
    findings += lost
    rest = {q: rs for q, rs in rest.items() if q not in done}
    groups: dict[str, list[tuple[str, str]]] = {}  # where -> (quantity, what): one line per part of the sweep
    split: list[Finding] = []  # a quantity non-finite on some cases and wrong otherwise on others: one line each
    for q, cases_q in rest.items():
        other = any(q in per_q for per_q in partial.values())
        finite = [r for r in cases_q if np.all(np.isfinite(r.got[q]))]
        parts = [[r for r in cases_q if not any(r is f for f in finite)], finite]
        if not (parts[0] and parts[1]):
            what, where = _signature(q, cases_q, results, whole=not other)
            if other:
                where = f"on the other {len(cases_q)} failing case(s) tried ({_kinds(cases_q)}); {where}"
            groups.setdefault(where, []).append((q, what))
            continue
        for part in parts:
            what = _signature(q, part, results, whole=False)[0]
            where = (f"on {len(part)} of the{' other' if other else ''} {len(cases_q)} failing case(s) tried "
                     f"({_kinds(part)}){_confident_hint(part)}")
            split.append(Finding((q,), "signature", f"no known pitfall matches {q}. {what}; {where}"))
    for where, items in groups.items():
        qs = tuple(q for q, _ in items)
        findings.append(Finding(qs, "signature", f"no known pitfall matches {', '.join(qs)}. "
                                + "; ".join(what for _, what in items) + f"; {where}"))
    return findings + split


def _reproduces(name: str, q: str, r: Any) -> bool:
    """Whether pitfall ``name`` gives the implementation's ``q`` on case ``r`` while failing itself."""
    from .pitfalls import PITFALLS

    out = dict(_pitfall_outputs(name, r.case.id, r.case))
    if not out:
        return False
    own = check_quantity(q, out[q], r.ref[q], rtol=r.rtol, dtype=np.asarray(out[q]).dtype,
                         shape=np.shape(r.ref[q]), ref_dtype=np.asarray(r.ref[q]).dtype)
    if own.passed or not same_values(r.got[q], out[q], MATCH_FACTOR * r.rtol):
        return False
    if PITFALLS[name].precision:
        return True
    # A formula pitfall is no evidence where the right formulas computed the plain way fail too and
    # give the implementation's values as well: on a confident row the max-shift-free softmax
    # loses what z - max - log sum e loses, and matching it says nothing about the max-shift.
    return _lost_digits(q, r) is None or not same_values(r.got[q], plain_outputs(r.case)[q], MATCH_FACTOR * r.rtol)


def _kinds(cases: Sequence[Any]) -> str:
    """``shapes small square; float64`` for a list of case results."""
    parts = []
    for attr, label in (("shape", "shapes"), ("dtype", "dtypes"), ("target", "targets")):
        values = list(dict.fromkeys(getattr(r.case, attr) for r in cases))
        parts.append(f"{label} {' '.join(values)}")
    return "; ".join(parts)


def _pitfall_finding(name: str, qs: list[str], tried: dict[str, list[Any]], bad_q: list[str], sample: Sequence[Any],
                     results: Sequence[Any], partial: dict[str, list[Any]] | None) -> Finding:
    """The finding "``qs`` match pitfall ``name``": on every failing case tried, or (``partial``:
    quantity -> the cases it reproduces) on a part of them."""
    from .pitfalls import PITFALLS

    p = PITFALLS[name]
    bug, right = bug_lines(name)
    returned = {q for r in sample for q in r.checks}
    also = [q for q in p.hits if q not in bad_q and q in returned]
    extra = f" (the pitfall also changes {', '.join(also)}; yours has those right)" if also else ""
    cases = partial[qs[-1]] if partial else tried[qs[-1]]
    ratios = [_ratio(np.asarray(r.got[qs[-1]]), np.asarray(r.ref[qs[-1]])) + (r,) for r in cases]
    if ratios and all(res <= RATIO_FACTOR * r.rtol for _, res, r in ratios):
        extra += f"; {qs[-1]} is " + _name_ratio([k for k, _, _ in ratios], [r.case.dims[0] for _, _, r in ratios],
                                                 [r.case.dims[3] for _, _, r in ratios], _every(cases, not partial))
    if partial:
        on = f"{len(cases)} of its failing cases tried, those of {_kinds(cases)}"
    else:
        n = len({id(r) for q in qs for r in tried[q]})
        on = f"the {n} failing case tried" if n == 1 else f"all {n} failing cases tried"
        extra += f"; {_where(qs[-1], results)}"
    return Finding(tuple(qs), "pitfall", f"{', '.join(qs)} match{'es' if len(qs) == 1 else ''} pitfall `{name}` "
                   f"({p.title}) on {on}{extra}. {bug} -> {right}. See: python -m scratch pitfalls --show {name}", name)


# --------------------------------------------------------------------------------------------
# Blind spots
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _describe_setting(setting: str) -> str:
    from .pitfalls import SETTINGS

    s = SETTINGS[setting]
    shape = {"confident": "confident", "mixed": "confident"}.get(s.shape, s.shape)
    if s.logit_scale >= 100:
        shape = "huge"
    if s.dead_units:
        return ("a case with hidden units switched off (W1[:, j] = 0 and b1[j] = 0: z1 = 0 exactly), which no "
                "sweep shape has: add one to your own tests (st.cases(...) with a unit zeroed, then st.assert_case)")
    text = f"shape {shape} in {s.dtype} with {s.target} targets (--shapes {shape} --dtypes {s.dtype} --targets {s.target})"
    if s.dtype == "float32" and shape in SPECIAL_SHAPES:
        text += " (in float32 only: a correct float64 implementation can lose digits there too, reported as such)"
    return text


def blind_spots(case_list: Iterable[SweepCase], returned: Sequence[str] = QUANTITIES, *,
                repeat_checked: bool = True) -> list[BlindSpot]:
    """The gradient pitfalls of the gallery that no case of ``case_list`` reveals on the
    ``returned`` quantities (each run on one case per shape, dtype and target kind, against
    scratch through the one comparison at the case's tolerance).  The accumulating pitfall is
    revealed by the kit's repeat call when ``repeat_checked``."""
    from .network import loss_and_grads
    from .pitfalls import PITFALLS, SETTINGS
    from .tolerances import oracle_rtol
    from .compare import reference_result
    from .cases import DTYPES

    reps: dict[tuple[str, str, str, NetworkSpec], SweepCase] = {}
    for c in case_list:
        reps.setdefault((c.shape, c.dtype, c.target, c.spec), c)
    refs = {}
    for key, c in reps.items():
        L, g = reference_result(functools.partial(loss_and_grads, spec=c.spec), c.params, c.x, c.y)
        refs[key] = {"loss": np.asarray(L), **g._asdict()}
    specs = {c.spec for c in reps.values()}
    spots = []
    for p in PITFALLS.values():
        if not p.is_gradient or not any(p.applies(sp) for sp in specs):
            continue  # not a mistake of any member the sweep checks: nothing to reveal
        if SETTINGS[p.caught_on].calls > 1:
            if repeat_checked:
                continue
            spots.append(BlindSpot(p.name, p.title, "the implementation is called once per case", "a second call"))
            continue
        visible = False
        for key, c in reps.items():
            if not p.applies(c.spec):
                continue
            out = dict(_pitfall_outputs(p.name, c.id, c))
            rtol = oracle_rtol(DTYPES[c.dtype], c.dims)
            if not out or any(not check_quantity(q, out[q], refs[key][q], rtol=rtol, dtype=DTYPES[c.dtype], shape=np.shape(refs[key][q]),
                                      ref_dtype=np.float64).passed for q in returned):
                visible = True
                break
        if not visible:
            spots.append(BlindSpot(p.name, p.title, p.why_blind, _describe_setting(p.caught_on)))
    return spots
