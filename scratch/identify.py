r"""Which member of the family did you write?  :func:`identify`.

Given an implementation whose network is unknown, run it on a few probe cases (through
:func:`scratch.testing.run_cases`, the one way the kit calls user code, so whatever isolation
that applies here too) and find the member of the family (:class:`scratch.NetworkSpec`) whose
loss and gradients it returns; then check it against that member on the full sweep, and report
both: ``matches relu, reduction sum, L2 (lambda/2)||W||^2 with lambda = 0.001 on weights only;
every case passes against that network``.

How each axis is found, on the float64 probe outputs (loss L, gradients dW1 db1 dW2 db2):

- **activation** and **reduction**: tried in turn (tanh, relu, sigmoid, leaky_relu; mean, sum),
  each as the network without L2, :math:`g_0 = \nabla L_0`;
- **L2**: the penalty adds :math:`k W` to each weight gradient (:math:`k = \lambda` for
  :math:`\frac{\lambda}{2}\lVert W\rVert^2`, :math:`2\lambda` for :math:`\lambda\lVert W\rVert^2`),
  so k is one least-squares number from the gradient difference
  :math:`k = \sum\langle dW - dW_0, W\rangle / \sum\langle W, W\rangle` over W1, W2 and the probe
  cases (and over b1, b2 too for the candidate "biases regularized");  the two forms are the
  same function (half with λ is full with λ/2), so λ is reported in the form asked for
  (``l2_form``, default half);
- **alpha** of leaky_relu: the common slopes (0.01, 0.1, 0.2, ...), then a golden-section search
  over [0, 1) when none fits;
- the simplest variant that matches wins (no L2, then weights only, then with the biases), and
  λ and alpha are written as the shortest decimal that still matches (1e-3, not 0.000999988
  from float32 probes).

A candidate matches when every quantity the implementation returned on every probe case is
within :data:`scratch.diagnosis.MATCH_FACTOR` times the case's tolerance of the candidate's.
When none does, the one-sample probes (N = 1, where mean and sum agree and the gradients play no
part) say whether the forward pass itself differs (the loss is wrong for every member, whatever
penalty) or only the backward pass (the loss matches a member: the report is then the check
against it, with its diagnosis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .activations import ACTIVATIONS
from .cases import SweepCase
from .compare import QUANTITIES, relative_error
from .network import loss_and_grads
from .spec import SEED, NetworkSpec

__all__ = ["Identification", "identify", "PROBE_SHAPES", "PROBE_SEEDS", "COMMON_ALPHAS"]

#: The probe cases: one-sample problems (N = 1: the forward pass alone), and two with N > 1
#: (where mean and sum differ) and H, C > 1.
PROBE_SHAPES = ("n1", "small", "square")
PROBE_SEEDS = (0, 1, 2)
#: leaky_relu slopes tried before any search.
COMMON_ALPHAS = (0.01, 0.1, 0.2, 0.3, 0.05, 0.02, 0.001, 0.5, 0.25)
#: Order of the activations tried (the seed network's first).
ORDER = ("tanh", "relu", "sigmoid", "leaky_relu")
GRADS = ("dW1", "db1", "dW2", "db2")


@dataclass
class Identification:
    """What :func:`identify` found.

    Attributes
    ----------
    spec : NetworkSpec or None
        The member the implementation matches on every probe case (None: no member matches).
    closest : NetworkSpec
        ``spec`` when matched; otherwise the member whose loss matches on the one-sample probes
        (the forward pass right, the backward pass not), or the seed network.
    forward_differs : bool
        No member's loss (with any L2 penalty) matches even on a one-sample case.
    fitted : dict
        The fitted numbers: ``k`` (dR/dW = k W), ``alpha`` (leaky_relu), ``score`` (the worst
        error / tolerance over the probes for the chosen member).
    sentence : str
        The finding in one sentence (what ``check --identify`` prints first).
    report : scratch.testing.Report
        The check of the implementation against ``closest`` on the full sweep.
    probes : list of CaseResult
        The probe results the identification was made from.
    """

    spec: NetworkSpec | None
    closest: NetworkSpec
    forward_differs: bool
    fitted: dict[str, float]
    sentence: str
    report: Any = None
    probes: list[Any] = field(default_factory=list, repr=False)

    @property
    def matched(self) -> bool:
        """True when a member of the family matches."""
        return self.spec is not None

    @property
    def ok(self) -> bool:
        """True when a member matched and every case of the sweep passed against it."""
        return self.matched and self.report is not None and self.report.ok

    def __str__(self) -> str:
        return str(self.report) if self.report is not None else self.sentence  # the report opens with the sentence

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the member found (or None), the closest, the fitted numbers, the sentence."""
        return {"matched": self.matched, "spec": self.spec.as_dict() if self.spec else None,
                "closest": self.closest.as_dict(), "forward_differs": self.forward_differs,
                "fitted": dict(self.fitted), "sentence": self.sentence}


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


class _Probe:
    """One usable probe: the case in float64, the user's outputs, the tolerance."""

    def __init__(self, r: Any) -> None:
        c: SweepCase = r.case
        self.case = c
        self.params = c.params.astype(np.float64)
        self.x = c.x.astype(np.float64)
        self.y = c.y if c.y.dtype.kind in "iu" else c.y.astype(np.float64)
        self.got = {q: np.asarray(r.got[q], np.float64) for q in QUANTITIES if r.got.get(q) is not None}
        self.rtol = r.rtol
        self.n1 = c.dims[0] == 1

    def member(self, spec: NetworkSpec) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            L, g = loss_and_grads(self.params, self.x, self.y, spec=spec)
        return {"loss": np.asarray(L, np.float64), **{q: np.asarray(v, np.float64) for q, v in g._asdict().items()}}


def _usable(r: Any) -> bool:
    """A probe result with every required quantity, finite, in the shapes of its case."""
    if r.error or not r.got:
        return False
    ref_shapes = {q: np.shape(r.ref[q]) for q in r.ref} if r.ref else {}
    for q in ("loss", *GRADS):
        v = r.got.get(q)
        if v is None:
            return False
        a = np.asarray(v)
        if a.dtype.kind not in "fiu" or not np.all(np.isfinite(a)) or (q in ref_shapes and a.shape != ref_shapes[q]):
            return False
    return True


def _score(probes: Sequence[_Probe], spec: NetworkSpec) -> float:
    """The worst relative error / tolerance over every returned quantity of every probe."""
    worst = 0.0
    for p in probes:
        want = p.member(spec)
        for q, g in p.got.items():
            if g.shape != want[q].shape:
                return math.inf
            worst = max(worst, relative_error(g, want[q]) / p.rtol)
    return worst


def _fit_k(probes: Sequence[_Probe], spec0: NetworkSpec, biases: bool) -> float:
    """k of dR/dW = k W, by least squares over W1, W2 (and b1, b2 when ``biases``)."""
    num = den = 0.0
    names = ("dW1", "db1", "dW2", "db2") if biases else ("dW1", "dW2")
    for p in probes:
        want = p.member(spec0)
        W = dict(zip(GRADS, p.params))
        for q in names:
            w = W[q].ravel()
            num += float((p.got[q] - want[q]).ravel() @ w)  # <dW_user - dW_0, W>
            den += float(w @ w)
    return num / den if den > 0 else 0.0


def _snap(v: float) -> float:
    """A fitted number to 10 significant digits (a λ of 1e-3 fits as 1e-3 +- 1e-16)."""
    return float(f"{v:.10g}") if math.isfinite(v) else v


def _with_l2(base: NetworkSpec, k: float, biases: bool, l2_form: str) -> NetworkSpec | None:
    """``base`` with the penalty whose gradient is k W, in ``l2_form``; None for k <= 0 or too large."""
    from .spec import MAX_L2

    if not k > 0 or k > MAX_L2:
        return None
    lam = k if l2_form == "half" else k / 2.0
    return NetworkSpec(base.activation, base.alpha, _snap(lam), l2_form, biases, base.reduction)


def _best_for(probes: Sequence[_Probe], base: NetworkSpec, l2_form: str, match: float) -> tuple[float, NetworkSpec, float]:
    """(score, spec, k) of the simplest L2 variant of ``base`` that matches (none, then weights
    only, then weights and biases), λ written as the shortest decimal that still matches
    (1e-3, not 0.000999988 from float32 probes); the best-scoring variant when none matches."""
    tried = [(_score(probes, base), base, 0.0)]
    if tried[0][0] <= match:
        return tried[0]
    for biases in (False, True):
        k = _fit_k(probes, base, biases)
        spec = _with_l2(base, k, biases, l2_form)
        if spec is None:
            continue
        raw = _score(probes, spec)
        if raw <= match:
            for digits in range(1, 11):
                short = _with_l2(base, float(f"{k:.{digits}g}"), biases, l2_form)
                if short is not None and (score := _score(probes, short)) <= match:
                    return score, short, k
            return raw, spec, k
        tried.append((raw, spec, k))
    return min(tried, key=lambda t: t[0])


def _base(activation: str, reduction: str, alpha: float = 0.01) -> NetworkSpec:
    return NetworkSpec(activation, alpha if activation == "leaky_relu" else 0.01, reduction=reduction)


def _fit_alpha(probes: Sequence[_Probe], reduction: str, l2_form: str, match: float) -> tuple[float, NetworkSpec, float]:
    """The best leaky_relu slope: the common ones, then a golden-section search over [0, 1)."""
    tried = [_best_for(probes, _base("leaky_relu", reduction, a), l2_form, match) for a in COMMON_ALPHAS]
    best = min(tried, key=lambda t: t[0])
    if best[0] <= match:
        return best

    few = [p for p in probes if p.case.seed == probes[0].case.seed] or list(probes)  # one per shape: 3x cheaper

    def f(a: float) -> float:
        return _best_for(few, _base("leaky_relu", reduction, a), l2_form, match)[0]

    lo, hi = 0.0, 0.999
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(60):  # the interval shrinks to 0.999 * 0.618^60 ~ 3e-13
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    alpha = (lo + hi) / 2
    found = best
    for digits in range(1, 13):  # the shortest decimal that fits (0.07, not 0.0700000000002)
        short = float(f"{alpha:.{digits}g}")
        if not 0.0 <= short < 1.0:  # 0.9989 to one digit is 1, not a slope
            continue
        found = _best_for(probes, _base("leaky_relu", reduction, short), l2_form, match)
        if found[0] <= match:
            return found
    return min(best, found, key=lambda t: t[0])


def _forward_matches(probes: Sequence[_Probe], alphas: Iterable[float]) -> NetworkSpec | None:
    """A member whose loss, plus some L2 penalty c * sum ||p||^2 / 2 (c >= 0 fitted by least
    squares), matches the user's loss on every one-sample probe; None when none does."""
    ones = [p for p in probes if p.n1]
    if not ones:
        return None
    for activation in ORDER:
        for alpha in (alphas if activation == "leaky_relu" else (0.01,)):
            spec0 = _base(activation, "mean", alpha)
            for biases in (False, True):
                d, s = [], []
                for p in ones:
                    sq = sum(float(np.sum(w * w)) for w in (p.params if biases else p.params[::2]))
                    d.append(float(p.got["loss"]) - float(p.member(spec0)["loss"]))
                    s.append(sq / 2.0)
                d_, s_ = np.array(d), np.array(s)
                c = max(0.0, float(d_ @ s_ / (s_ @ s_))) if s_ @ s_ > 0 else 0.0
                if np.all(np.abs(c * s_) <= [p.rtol * abs(float(p.got["loss"])) for p in ones]):
                    c = 0.0  # a penalty below the loss's resolution: none
                ok = all(abs(float(p.got["loss"]) - (float(p.member(spec0)["loss"]) + c * si))
                         <= 2 * p.rtol * max(abs(float(p.got["loss"])), 1e-300) for p, si in zip(ones, s))
                if ok:
                    spec = _with_l2(spec0, c, biases, "half") if c > 0 else None
                    return spec if spec is not None else spec0
    return None


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def identify(
    fn: Callable, *, signature: str = "params", l2_form: str = "half",
    seeds: Iterable[int] | None = None, shapes: Iterable[Any] | None = None, dtypes: Iterable[Any] | None = None,
    targets: Iterable[str] | None = None, reference: str = "scratch", name: str | None = None,
    progress: Callable[[Iterable], Iterable] | None = None, blind_spots: bool = True, **run_options: Any,
) -> Identification:
    """Find the member of the family ``fn`` implements, then check ``fn`` against it.

    Parameters
    ----------
    fn : callable
        The implementation, called as ``signature`` says (:mod:`scratch.adapter`).
    signature : ``"params"``, ``"arrays"`` or ``"model"``.
    l2_form : ``"half"`` or ``"full"``
        The form λ is reported in (``half`` with λ is the same function as ``full`` with λ/2).
    seeds, shapes, dtypes, targets : the sweep of the final check (defaults as
        :func:`scratch.testing.check_implementation`).  The probes are float64 (float32 when only
        float32 is allowed) cases of :data:`PROBE_SHAPES` x :data:`PROBE_SEEDS`, with the first
        of ``targets`` (labels by default).
    reference, name, progress, blind_spots : as :func:`scratch.testing.check_implementation`.
    **run_options
        Passed unchanged to :func:`scratch.testing.run_cases` (the probes) and
        :func:`scratch.testing.check_implementation` (the check): how the implementation is run
        (e.g. the isolation options those take), so the probes run exactly as the check does.

    Returns
    -------
    Identification

    Raises
    ------
    ImplementationError
        ``fn`` cannot be called as declared, or returned something the kit cannot read.
    """
    from .diagnosis import MATCH_FACTOR
    from .testing import DEFAULT_DTYPES, DEFAULT_TARGETS, cases, check_implementation, run_cases

    if l2_form not in ("half", "full"):
        raise ValueError(f"l2_form must be 'half' or 'full', got {l2_form!r}")
    dtype_names = [np.dtype(d).name for d in (dtypes if dtypes is not None else DEFAULT_DTYPES)]
    target_list = list(targets if targets is not None else DEFAULT_TARGETS)
    probe_dtype = "float64" if "float64" in dtype_names or not dtype_names else dtype_names[0]
    probe_cases = cases(PROBE_SEEDS, PROBE_SHAPES, [probe_dtype], target_list[:1] or ["labels"])
    results = run_cases(fn, probe_cases, reference="scratch", signature=signature, **run_options)
    probes = [_Probe(r) for r in results if _usable(r)]

    found: tuple[float, NetworkSpec, float] | None = None
    alpha = math.nan
    if probes:
        for activation in ORDER:
            for reduction in ("mean", "sum"):
                if activation == "leaky_relu":
                    best = _fit_alpha(probes, reduction, l2_form, MATCH_FACTOR)
                else:
                    best = _best_for(probes, _base(activation, reduction), l2_form, MATCH_FACTOR)
                if best[0] <= MATCH_FACTOR and (found is None or best[0] < found[0]):
                    found = best
            if found is not None:
                break  # the first activation (in ORDER) that matches: relu before leaky_relu with alpha 0
    kwargs = dict(seeds=seeds, shapes=shapes, dtypes=dtypes, targets=targets)
    sweep = {k: v for k, v in kwargs.items() if v is not None}

    def check(spec: NetworkSpec) -> Any:
        return check_implementation(fn, spec=spec, reference=reference, signature=signature, name=name,
                                    progress=progress, blind_spots=blind_spots, **sweep, **run_options)

    if found is not None:
        score, spec, k = found
        if spec.activation == "leaky_relu":
            alpha = spec.alpha
        report = check(spec)
        verdict = ("every case passes against that network" if report.ok else
                   f"{len(report.failures())} of {len(report.results)} case(s) fail against that network (below)")
        sentence = f"matches {spec.describe()}; {verdict}"
        return _done(Identification(spec, spec, False, {"k": k, "alpha": alpha, "score": score}, sentence, report, results))

    if not probes:
        first = next((r for r in results if r.error), None)
        why = f" (first: {first.case.describe()}: {first.error})" if first is not None else \
            " (missing, non-finite or wrongly shaped loss or gradients)"
        sentence = ("could not identify the network: the implementation returned no usable loss and gradients "
                    f"on the probe cases{why}; checked against the seed network below")
        return _done(Identification(None, SEED, False, {}, sentence, check(SEED), results))

    forward = _forward_matches(probes, COMMON_ALPHAS)
    if forward is None and not any(p.n1 for p in probes):
        # Only N > 1 probes were usable (say dW2 transposed, where H = C): no evidence either way.
        sentence = ("no member of the family matches; no one-sample probe (N = 1) returned usable loss and "
                    "gradients, so whether the forward pass itself differs is not known; "
                    "checked against the seed network below")
        return _done(Identification(None, SEED, False, {}, sentence, check(SEED), results))
    if forward is None:
        p = next(p for p in probes if p.n1)
        seed_loss = float(p.member(SEED)["loss"])
        sentence = ("no member of the family matches, and the forward pass itself differs: on a one-sample case "
                    f"({p.case.describe()}) the loss is already wrong for every activation ({', '.join(ACTIVATIONS)}), "
                    f"reduction and L2 penalty (got {float(p.got['loss']):.6g}; the seed network gives {seed_loss:.6g}); "
                    "checked against the seed network below")
        return _done(Identification(None, SEED, True, {}, sentence, check(SEED), results))
    # The forward pass matches a member at N = 1; pick the reduction whose loss fits the N > 1 probes.
    many = [p for p in probes if not p.n1]
    if many:
        def loss_err(spec: NetworkSpec) -> float:
            return max(relative_error(p.got["loss"], p.member(spec)["loss"]) for p in many)
        sum_spec = NetworkSpec(forward.activation, forward.alpha, forward.l2, forward.l2_form, forward.l2_biases, "sum")
        if loss_err(sum_spec) < loss_err(forward):
            forward = sum_spec
    sentence = (f"no member of the family matches: the loss matches {forward.describe()} (the forward pass is "
                "right), but the gradients differ; checked against that network below")
    return _done(Identification(None, forward, False, {}, sentence, check(forward), results))


def _done(found: Identification) -> Identification:
    """``found``, its report carrying the identification (printed above the report's header, in its JSON)."""
    found.report.identification = found.as_dict()
    return found
