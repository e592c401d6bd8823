"""Name the mistake, not only the quantity: pitfall fingerprints, simple signatures, blind spots.

When an implementation fails (:mod:`scratch.testing`), :func:`diagnose` says what the error
looks like:

1. **Pitfall fingerprints.**  Every gradient pitfall of :mod:`scratch.lab.pitfalls` is a complete
   faulty implementation.  Each is run on the same failing cases; a pitfall *matches* a failing
   quantity when, on every failing case tried, its output equals the implementation's (same
   shape, same non-finite entries, relative error within twice the case's tolerance) while
   itself failing against the reference there.  Matches are reported with the pitfall's BUG
   and RIGHT lines and the ``python -m scratch pitfalls --show NAME`` pointer.  The gallery is
   the lab's: it is imported only inside the functions that run it, so importing the kit
   imports none of the lab.
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
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .cases import SPECIAL_SHAPES, SweepCase
from .compare import QUANTITIES, check_quantity, same_values

#: At most this many failing cases are re-run through the pitfalls (spread over dtype, target, shape).
MAX_CASES = 12
#: A pitfall's output "equals" the implementation's within this many times the case's tolerance
#: (both are computed in the case's dtype, each within one tolerance of the truth).
MATCH_FACTOR = 2.0
#: A ratio to the truth counts as constant when ``g - k r`` is within this many times the
#: case's tolerance (relative to the largest magnitude).
RATIO_FACTOR = 10.0


@dataclass(frozen=True)
class Finding:
    """One line of a diagnosis: ``quantities`` it explains, ``kind`` ("pitfall", "signature",
    "raised", "stateful"), the ``pitfall`` name when one matches, and the ``text``."""

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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"pitfall": self.pitfall, "title": self.title, "why": self.why, "shows_on": self.shows_on}


# --------------------------------------------------------------------------------------------
# Pitfalls, run on a case
# --------------------------------------------------------------------------------------------


def gradient_pitfalls() -> list[Any]:
    """The gallery's gradient pitfalls called once per case (the accumulating one needs two
    calls and is found by the kit's repeat call instead)."""
    from .lab.pitfalls import PITFALLS, SETTINGS

    return [p for p in PITFALLS.values() if p.is_gradient and SETTINGS[p.caught_on].calls == 1]


def pitfall_outputs(name: str, case: SweepCase) -> dict[str, np.ndarray]:
    """Pitfall ``name``'s faulty implementation on ``case``, in its dtype: quantity -> array
    (empty when the faulty code cannot run on the case, e.g. W2 for W2^T where H != C)."""
    return dict(_pitfall_outputs(name, case.id, case))


_CACHE: dict[tuple[str, str, int], tuple] = {}


def _pitfall_outputs(name: str, key: str, case: SweepCase) -> tuple:
    from .lab.pitfalls import PITFALLS, fresh

    k = (name, key, id(case.x))
    if k not in _CACHE:
        try:
            with np.errstate(all="ignore"):
                L, g = fresh(PITFALLS[name])(case.params.copy(), case.x.copy(), case.y.copy())
        except Exception:  # e.g. W2 for W2^T where H != C: such code cannot run, let alone pass
            _CACHE[k] = ()
        else:
            _CACHE[k] = (("loss", np.asarray(L)), *((q, np.asarray(v)) for q, v in g._asdict().items()))
        if len(_CACHE) > 4096:
            _CACHE.pop(next(iter(_CACHE)))
    return _CACHE[k]


def bug_lines(name: str) -> tuple[str, str]:
    """The ``# BUG`` and ``# RIGHT`` lines of pitfall ``name``'s source, stripped."""
    from .lab.pitfalls import PITFALLS

    bug = right = ""
    for line in PITFALLS[name].source().splitlines():
        text = line.strip()
        if "# BUG" in text and not bug:
            bug = text
        elif text.startswith("# RIGHT") and not right:
            right = text[1:].strip()
    return bug, right


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


def _name_ratio(ks: list[float], Ns: list[int]) -> str:
    def near(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-3 * max(abs(b), 1e-300)

    if all(near(k, N) for k, N in zip(ks, Ns)) and any(N > 1 for N in Ns):
        return "N times the truth on every case (the 1/N of the mean (7) is missing?)"
    if all(near(k, 1 / N) for k, N in zip(ks, Ns)) and any(N > 1 for N in Ns):
        return "1/N times the truth on every case (divided by N twice: a mean where a sum belongs?)"
    if all(near(k, 1.0) for k in ks):
        return "the truth up to a small relative error (a loss of precision, not a wrong formula)"
    for value, text in ((-1.0, "-1 times the truth (sign flipped)"), (2.0, "twice the truth"),
                        (0.5, "half the truth"), (0.0, "all zeros")):
        if all(near(k, value) if value else abs(k) < 1e-12 for k in ks):
            return text
    if all(near(k, ks[0]) for k in ks):
        return f"a constant {ks[0]:.4g} times the truth on every case"
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


def _signature(q: str, failing: Sequence[Any], results: Sequence[Any]) -> tuple[str, str]:
    """The simple signature of the failures of ``q``: ``(what, where)``, where ``where`` says in
    which part of the sweep it fails (and why, for the confident cases)."""
    first = failing[0].checks[q]
    where = _where(q, results)
    if all(r.case.shape == "confident" for r in failing):
        where += f" ({CONFIDENT_HINT})"
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

        zmax = float(np.abs(forward(r.case.params, r.case.x).z2).max())
        hint = f" (logits reach |z2| = {zmax:.3g}: exp overflows without the max-shift?)" if zmax > 80 else ""
        return f"{q} has non-finite values{hint}", where
    ratios = [(_ratio(np.asarray(c.got[q]), np.asarray(c.ref[q])), c) for c in failing]
    if all(res <= RATIO_FACTOR * c.rtol for (k, res), c in ratios):
        named = _name_ratio([k for (k, _), _ in ratios], [c.case.dims[0] for _, c in ratios])
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
    from .lab.pitfalls import PITFALLS, SETTINGS

    s = SETTINGS[PITFALLS[name].caught_on]
    shape = "huge" if s.logit_scale >= 100 else ("confident" if s.shape in ("confident", "mixed") else s.shape)
    return sum((r.case.dtype == s.dtype) + (r.case.target == s.target) + (r.case.shape == shape) for r in sample)


def diagnose(results: Sequence[Any]) -> list[Finding]:
    """Findings for the failing results of a sweep (:class:`scratch.testing.CaseResult`):
    a matching pitfall where one explains a failing quantity, else its simple signature."""
    from .lab.pitfalls import PITFALLS

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
    raised = [r for r in failing if r.error]
    if raised:
        findings.append(Finding((), "raised", f"no result on {len(raised)} case(s) "
                                f"(first: {raised[0].case.describe()}: {raised[0].error})"))
    bad_q = [q for q in QUANTITIES if any(q in r.checks and not r.checks[q].passed for r in failing)]
    if not bad_q:
        return findings
    sample = _spread([r for r in failing if r.failed()])
    tried = {q: [r for r in sample if q in r.failed()] for q in bad_q}
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
        open_cases = list(tried[q])
        while open_cases:  # greedy cover: the pitfall reproducing most of the open cases first
            ids = {id(r) for r in open_cases}
            best = max((n for n in matched if q in matched[n]), default=None,
                       key=lambda n: (sum(id(r) in ids for r in matched[n][q]), _relevance(n, sample)))
            covered = [r for r in matched[best][q] if id(r) in ids] if best else []
            if not covered:
                break
            partial.setdefault(best, {})[q] = covered
            open_cases = [r for r in open_cases if id(r) not in {id(c) for c in covered}]
        if open_cases:
            rest[q] = open_cases
    for name, per_q in partial.items():
        findings.append(_pitfall_finding(name, list(per_q), tried, bad_q, sample, results, per_q))
    groups: dict[str, list[tuple[str, str]]] = {}  # where -> (quantity, what): one line per part of the sweep
    for q, cases_q in rest.items():
        what, where = _signature(q, cases_q, results)
        if any(q in per_q for per_q in partial.values()):
            where = f"on the other {len(cases_q)} failing case(s) tried ({_kinds(cases_q)}); {where}"
        groups.setdefault(where, []).append((q, what))
    for where, items in groups.items():
        qs = tuple(q for q, _ in items)
        findings.append(Finding(qs, "signature", f"no known pitfall matches {', '.join(qs)}. "
                                + "; ".join(what for _, what in items) + f"; {where}"))
    return findings


def _reproduces(name: str, q: str, r: Any) -> bool:
    """Whether pitfall ``name`` gives the implementation's ``q`` on case ``r`` while failing itself."""
    out = dict(_pitfall_outputs(name, r.case.id, r.case))
    if not out:
        return False
    own = check_quantity(q, out[q], r.ref[q], rtol=r.rtol, dtype=np.asarray(out[q]).dtype,
                         shape=np.shape(r.ref[q]), ref_dtype=np.asarray(r.ref[q]).dtype)
    return not own.passed and same_values(r.got[q], out[q], MATCH_FACTOR * r.rtol)


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
    from .lab.pitfalls import PITFALLS

    p = PITFALLS[name]
    bug, right = bug_lines(name)
    returned = {q for r in sample for q in r.checks}
    also = [q for q in p.hits if q not in bad_q and q in returned]
    extra = f" (the pitfall also changes {', '.join(also)}; yours has those right)" if also else ""
    cases = partial[qs[-1]] if partial else tried[qs[-1]]
    ratios = [_ratio(np.asarray(r.got[qs[-1]]), np.asarray(r.ref[qs[-1]])) + (r,) for r in cases]
    if ratios and all(res <= RATIO_FACTOR * r.rtol for _, res, r in ratios):
        extra += f"; {qs[-1]} is " + _name_ratio([k for k, _, _ in ratios], [r.case.dims[0] for _, _, r in ratios])
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
    from .lab.pitfalls import SETTINGS

    s = SETTINGS[setting]
    shape = {"confident": "confident", "mixed": "confident"}.get(s.shape, s.shape)
    if s.logit_scale >= 100:
        shape = "huge"
    return f"shape {shape}, {s.dtype}, {s.target}"


def blind_spots(case_list: Iterable[SweepCase], returned: Sequence[str] = QUANTITIES, *,
                repeat_checked: bool = True) -> list[BlindSpot]:
    """The gradient pitfalls of the gallery that no case of ``case_list`` reveals on the
    ``returned`` quantities (each run on one case per shape, dtype and target kind, against
    scratch through the one comparison at the case's tolerance).  The accumulating pitfall is
    revealed by the kit's repeat call when ``repeat_checked``."""
    from .network import loss_and_grads
    from .lab.pitfalls import PITFALLS, SETTINGS
    from .tolerances import oracle_rtol
    from .compare import reference_result
    from .cases import DTYPES

    reps: dict[tuple[str, str, str], SweepCase] = {}
    for c in case_list:
        reps.setdefault((c.shape, c.dtype, c.target), c)
    refs = {}
    for key, c in reps.items():
        L, g = reference_result(loss_and_grads, c.params, c.x, c.y)
        refs[key] = {"loss": np.asarray(L), **g._asdict()}
    spots = []
    for p in PITFALLS.values():
        if not p.is_gradient:
            continue
        if SETTINGS[p.caught_on].calls > 1:
            if repeat_checked:
                continue
            spots.append(BlindSpot(p.name, p.title, "the implementation is called once per case", "a second call"))
            continue
        visible = False
        for key, c in reps.items():
            out = dict(_pitfall_outputs(p.name, c.id, c))
            rtol = oracle_rtol(DTYPES[c.dtype], c.dims)
            if not out or any(not check_quantity(q, out[q], refs[key][q], rtol=rtol, dtype=DTYPES[c.dtype], shape=np.shape(refs[key][q]),
                                      ref_dtype=np.float64).passed for q in returned):
                visible = True
                break
        if not visible:
            spots.append(BlindSpot(p.name, p.title, p.why_blind, _describe_setting(p.caught_on)))
    return spots
