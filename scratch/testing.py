"""Check anyone's implementation of this network: ``check_implementation`` and ``assert_implementation``.

The conformance kit.  Give it a function that computes the loss (7) and the gradients of the
network (any of the signatures and return values of :mod:`scratch.adapter`); it runs the
function on a sweep of cases (:func:`cases`: seeds x shapes x dtypes x target kinds, the same
sweep and option names as ``python -m scratch compare``), runs a reference (``"scratch"`` or
any oracle) on the same arrays, compares every returned quantity through the one comparison
(:func:`scratch.compare.check_quantity`: shape, dtype, finiteness, then the relative error of
the largest magnitude at :func:`scratch.tolerances.oracle_rtol`), and when something fails,
names the mistake (:mod:`scratch.diagnosis`).  It also reports the sweep's blind spots: the
gallery's mistakes that this sweep could not reveal.

Example
-------
>>> import numpy as np, scratch.testing as st
>>> def my_loss_and_grads(params, x, y):            # doctest: +SKIP
...     ...
...     return loss, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
>>> report = st.check_implementation(my_loss_and_grads, dtypes=("float64",))  # doctest: +SKIP
>>> print(report)                                  # doctest: +SKIP
>>> st.assert_implementation(my_loss_and_grads)    # doctest: +SKIP

Also: ``python -m scratch check module:function``, the pytest plugin (``pytest --scratch-impl
module:function``) and case files for any language (``python -m scratch cases``).

Untrusted code: give the implementation as a target string (``"path/hw.py:loss_and_grads"``)
and it runs in a worker process (:mod:`scratch.worker`), where nothing it does can reach the
verdict; a callable runs in-process, for speed and debugging (see :func:`check_implementation`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .adapter import OPTIONAL, REQUIRED, SIGNATURES, ImplementationError, call, check_signature, load_function, read_outputs
from .cases import DTYPES, SHAPES, TARGETS, SweepCase, sweep
from .compare import QUANTITIES, Check, check_quantity, expected_shapes, reference_result, same_values, zero_truth_floor
from .formatting import json_ready, plain_table
from .spec import SEED, NetworkSpec, as_spec
from .tolerances import oracle_rtol

__all__ = [
    "CaseResult",
    "ImplementationError",
    "Report",
    "SIGNATURES",
    "SweepCase",
    "assert_case",
    "assert_implementation",
    "cases",
    "check_case",
    "check_implementation",
    "check_outputs",
    "make_report",
    "get_reference",
    "identify_implementation",
]

#: The default sweep: the same as ``python -m scratch compare``.
DEFAULT_SEEDS = tuple(range(5))
DEFAULT_SHAPES = tuple(SHAPES)
DEFAULT_DTYPES = tuple(DTYPES)
DEFAULT_TARGETS = TARGETS
#: References: scratch itself, or an oracle of :mod:`oracles`.
REFERENCES = ("scratch", "torch", "jax", "numeric")


def cases(
    seeds: Iterable[int] = DEFAULT_SEEDS,
    shapes: Iterable[Any] = DEFAULT_SHAPES,
    dtypes: Iterable[Any] = DEFAULT_DTYPES,
    targets: Iterable[str] = DEFAULT_TARGETS,
    *,
    spec: Any = SEED,
) -> list[SweepCase]:
    """The conformance cases: seeds x shapes x dtypes x target kinds (:func:`scratch.cases.sweep`),
    each checked against the family member ``spec`` (a :class:`scratch.NetworkSpec`, default the seed network).

    Each :class:`scratch.cases.SweepCase` has ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)),
    ``x`` (N, D), ``y`` (N,) int labels or (N, C) float targets, non-zero biases, and a readable
    ``id`` (``s0-small-float64-labels``), so the list goes straight into
    ``pytest.mark.parametrize("case", st.cases(...), ids=str)``.  ``shapes`` takes names of
    :data:`scratch.cases.SHAPES`, ``"confident"`` (logit gaps 17-23, saturated tanh units) or
    ``(N, D, H, C)``.
    """
    return sweep(list(seeds), list(shapes), list(dtypes), list(targets), spec=spec)


def get_reference(name: str, spec: Any = SEED) -> Callable:
    """The reference ``loss_and_grads`` called ``name``: ``"scratch"`` or an oracle name, for the
    family member ``spec`` (every reference takes ``spec=``; the result is bound to it).

    Raises ``ValueError`` for an unknown name and :class:`oracles.MissingFramework` (naming the
    extra to install) when its framework is missing.
    """
    import functools

    spec = as_spec(spec)
    if name == "scratch":
        from .network import loss_and_grads

        return functools.partial(loss_and_grads, spec=spec)
    import oracles

    if name not in oracles.REGISTRY:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {name!r}")
    f = oracles.get(name)
    if name == "numeric":
        return functools.partial(f, method="complex", spec=spec)
    return functools.partial(f, spec=spec)


def reference_for(reference: str | Callable, spec: NetworkSpec, cache: dict[NetworkSpec, Callable]) -> Callable:
    """The reference function for a case of member ``spec``: a name is bound to the spec once
    (:func:`get_reference`, kept in ``cache``); a function is used as given."""
    if not isinstance(reference, str):
        return reference
    if spec not in cache:
        cache[spec] = get_reference(reference, spec)
    return cache[spec]


# --------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """The outcome of one case.

    ``checks``: quantity -> :class:`scratch.compare.Check` for every returned quantity;
    ``not_returned``: the optional quantities the implementation did not return; ``error``: what
    the implementation raised (then nothing was compared); ``problems``: failures that are not
    about one quantity (inputs modified in place, a second call differing).  ``got`` and ``ref``
    keep the arrays for the diagnosis.
    """

    case: SweepCase
    rtol: float
    checks: dict[str, Check] = field(default_factory=dict)
    not_returned: tuple[str, ...] = ()
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    got: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)
    ref: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: When a second call differed: <second, first> / <first, first> of the last differing quantity.
    repeat_ratio: float | None = None
    #: Conventions accepted while reading the outputs (:attr:`scratch.adapter.Outputs.notes`).
    notes: tuple[str, ...] = ()
    #: Isolated runs: how the worker ended on this case (:attr:`scratch.worker.Outcome.ended`:
    #: "timeout", "exit", "signal", "garbage", "import", "not run"), None when it did not.
    ended: str | None = None

    @property
    def ok(self) -> bool:
        """True when the implementation ran and every returned quantity passed."""
        return self.error is None and not self.problems and all(c.passed for c in self.checks.values())

    def failed(self) -> list[str]:
        """The quantities that failed, in the order of :data:`scratch.compare.QUANTITIES`."""
        return [q for q in QUANTITIES if q in self.checks and not self.checks[q].passed]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the case's description, ``passed``, per quantity its check or "not checked"."""
        quantities: dict[str, Any] = {}
        for q in QUANTITIES:
            if q in self.checks:
                c = self.checks[q]
                quantities[q] = {**c.as_dict(), "status": "pass" if c.passed else "fail"}
            elif q in self.not_returned:
                quantities[q] = {"status": "not checked", "reason": "not returned"}
        c = self.case
        return {"id": c.id, "seed": c.seed, "shape": c.shape, "dims": list(c.dims), "dtype": c.dtype,
                "target": c.target, "network": c.spec.as_dict(), "rtol": self.rtol, "passed": self.ok, "error": self.error,
                "problems": self.problems, "ended": self.ended, "quantities": quantities}


def _copies(case: SweepCase) -> tuple[Any, np.ndarray, np.ndarray]:
    return case.params.copy(), case.x.copy(), case.y.copy()


def _run(fn: Any, signature: str, case: SweepCase) -> tuple[dict[str, np.ndarray | None] | None, str | None, list[str]]:
    """Call ``fn`` on copies of the case: ``(outputs, error, problems)``.

    ``fn`` is a callable (called here, in-process) or a :class:`scratch.worker.Isolated` (called
    in its worker).  Whatever goes wrong with one call (an exception, an unreadable return value,
    an array that is not numbers, a crashed worker) is that case's ``error``, never the sweep's."""
    from .worker import Isolated, _cut, _safe_str

    if isinstance(fn, Isolated):
        o = fn.run(case.params, case.x, case.y)
        outputs, error, problems = o.outputs, o.error, o.problems
    else:
        params, x, y = _copies(case)
        try:
            with np.errstate(all="ignore"):
                ret = call(fn, signature, params, x, y)
        except (Exception, SystemExit) as exc:  # the implementation's own failure: reported, not fatal
            from .diagnosis import describe_exception

            return None, _cut(f"raised {describe_exception(exc)}"), []  # with the user's file and line
        problems = [f"modified its input {name} in place"
                    for name, before, after in zip(("W1", "b1", "W2", "b2", "x", "y"),
                                                   (*case.params, case.x, case.y), (*params, x, y))
                    if not np.array_equal(before, after)]
        try:
            outputs, error = read_outputs(ret), None
        except ImplementationError as exc:
            outputs, error = None, _cut(_safe_str(exc))
        except Exception as exc:  # e.g. a mapping whose __getitem__ raises
            outputs, error = None, _cut(f"returned a value the kit cannot read: {type(exc).__name__}: {_safe_str(exc)}")
    if outputs is not None:
        odd = [f"{q} has dtype {a.dtype}" for q, a in outputs.items() if a is not None and a.dtype.kind not in "biufc"]
        if odd:
            outputs, error = None, f"{'; '.join(odd)}: expected arrays of floating-point numbers"
    return outputs, error, problems


def _kit_settings() -> Any:
    """Our own floating-point settings for the reference and the comparison, whatever an
    in-process implementation set (``np.seterr(all="raise")``): NumPy's error state is
    per-thread and restored on exit, so this is safe for threads running checks side by side
    (no global warning filters are touched)."""
    return np.errstate(all="ignore")


def _reference(reference: Callable, case: SweepCase) -> dict[str, np.ndarray]:
    with _kit_settings():
        L, g = reference_result(reference, case.params, case.x, case.y)
    return {"loss": np.asarray(L), **g._asdict()}


def _compare(case: SweepCase, got: Mapping[str, np.ndarray | None], ref: Mapping[str, np.ndarray], rtol: float) -> dict[str, Check]:
    shapes = expected_shapes(*case.dims)
    # the loss's scale where its truth is exactly 0 (C = 1); elsewhere the truth sets the scale
    floor = zero_truth_floor(case.params, case.x, case.y, case.spec) if not np.any(ref["loss"]) else 0.0
    out = {}
    for q in QUANTITIES:
        if got.get(q) is None:
            continue
        c = check_quantity(q, got[q], ref[q], rtol=rtol, dtype=DTYPES[case.dtype], shape=shapes[q], ref_dtype=np.float64,
                           floor=floor if q == "loss" else 0.0)
        if q == "loss" and not c.passed and c.problem.startswith("dtype") and np.asarray(got[q]).dtype == np.float64 \
                and case.dtype == "float32":
            c = Check(**{**c.__dict__, "problem": c.problem + " (a Python float or float64 loss in a float32 case: "
                         "return the loss in the inputs' dtype, e.g. x.dtype.type(loss))"})
        out[q] = c
    return out


def check_outputs(
    case: SweepCase, outputs: Mapping[str, Any], *, reference: str | Callable = "scratch"
) -> CaseResult:
    """Compare outputs computed elsewhere (e.g. read from files a program in another language
    wrote) for ``case``: ``outputs`` maps ``loss dW1 db1 dW2 db2`` and optionally ``dz1 dz2`` to
    arrays (what :func:`scratch.adapter.read_outputs` accepts as one mapping)."""
    ref_fn = get_reference(reference, case.spec) if isinstance(reference, str) else reference
    rtol = oracle_rtol(DTYPES[case.dtype], case.dims)
    got = read_outputs(dict(outputs))
    ref = _reference(ref_fn, case)
    return CaseResult(case, rtol, _compare(case, got, ref, rtol), tuple(q for q in OPTIONAL if got[q] is None),
                      None, [], got, ref, notes=tuple(getattr(got, "notes", ())))


def check_case(
    fn: Callable, case: SweepCase, *, reference: str | Callable = "scratch", signature: str = "params",
    repeat: bool = False,
) -> CaseResult:
    """Run ``fn`` on one case and compare every quantity it returns with ``reference``.

    Parameters
    ----------
    fn : the implementation, called as ``signature`` says (:data:`SIGNATURES`).
    case : a :class:`scratch.cases.SweepCase` (from :func:`cases`).
    reference : ``"scratch"``, an oracle name, or a ``loss_and_grads`` function.
    repeat : also call ``fn`` a second time on the same inputs; a result that differs beyond the
        tolerance is a problem (state kept between calls, e.g. gradients accumulated).

    Returns
    -------
    CaseResult
    """
    from .worker import Isolated

    if not isinstance(fn, Isolated):
        check_signature(fn, signature)
    ref_fn = get_reference(reference, case.spec) if isinstance(reference, str) else reference
    rtol = oracle_rtol(DTYPES[case.dtype], case.dims)
    got, error, problems = _run(fn, signature, case)
    if got is None:
        return CaseResult(case, rtol, error=error, problems=problems,
                          ended=fn.last.ended if isinstance(fn, Isolated) and fn.last else None)
    ref = _reference(ref_fn, case)
    try:
        with _kit_settings():
            checks = _compare(case, got, ref, rtol)
    except Exception as exc:  # values the comparison cannot take: the case's failure, not the checker's
        return CaseResult(case, rtol, error=f"returned values the kit cannot compare ({type(exc).__name__}: "
                          f"{str(exc)[:200]})", problems=problems)
    result = CaseResult(case, rtol, checks, tuple(q for q in OPTIONAL if got[q] is None),
                        None, problems, got, ref, notes=tuple(getattr(got, "notes", ())))
    if repeat:
        again, error2, _ = _run(fn, signature, case)
        if again is None:
            result.problems.append(f"a second call on the same inputs {error2}")
        else:
            differ = [q for q in QUANTITIES if got.get(q) is not None and again.get(q) is not None
                      and not same_values(again[q], got[q], rtol)]
            if differ:
                q = differ[-1]
                a, b = np.asarray(again[q], np.float64).ravel(), np.asarray(got[q], np.float64).ravel()
                with np.errstate(all="ignore"):
                    result.repeat_ratio = float(a @ b / (b @ b)) if a.shape == b.shape and b @ b > 0 else math.nan
                result.problems.append(f"a second call on the same inputs returned different {', '.join(differ)} "
                                       f"(second {q} = {result.repeat_ratio:.3g} x the first: state kept between calls)")
    return result


def assert_case(fn: Callable, case: SweepCase, **kwargs: Any) -> CaseResult:
    """:func:`check_case`, raising an ``AssertionError`` that lists every failing quantity, the
    worst element of each, and the diagnosis, for use in a user's own test file::

        @pytest.mark.parametrize("case", scratch.testing.cases(dtypes=["float64"]), ids=str)
        def test_backprop(case):
            scratch.testing.assert_case(my_loss_and_grads, case)
    """
    __tracebackhide__ = True  # a failure points at the user's test, not into the kit
    result = check_case(fn, case, **kwargs)
    if not result.ok:
        report = make_report([result], fn, kwargs.get("reference", "scratch"), kwargs.get("signature", "params"),
                         sweep_desc={"cases": [case.id]}, blind_spots=False)
        raise AssertionError(report.failure_message())
    return result


# --------------------------------------------------------------------------------------------
# A sweep
# --------------------------------------------------------------------------------------------


def _name(fn: Callable) -> str:
    mod = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{mod}:{qual}" if mod and mod != "__main__" else qual


@dataclass
class Report:
    """The outcome of a sweep: per case and quantity the max abs error, relative error,
    tolerance and pass; the diagnosis of what failed; the sweep's blind spots.

    ``ok`` is True when every case passed.  ``str(report)`` is a printable summary,
    :meth:`failure_message` the text of :func:`assert_implementation`'s ``AssertionError``,
    :meth:`to_json` the whole report as JSON.
    """

    implementation: str
    reference: str
    signature: str
    sweep: dict[str, Any]
    results: list[CaseResult]
    diagnosis: list[Any] = field(default_factory=list)
    blind_spots: list[Any] = field(default_factory=list)
    #: The conventions accepted (bias rows, gradients keyed W1...), each once, in order of first use.
    notes: list[str] = field(default_factory=list)
    #: The member(s) of the family the cases were checked against (:class:`scratch.NetworkSpec`).
    networks: list[NetworkSpec] = field(default_factory=list)
    #: When the network was identified first (``check --identify``): what was found
    #: (:meth:`scratch.identify.Identification.as_dict`); printed above the header.
    identification: dict[str, Any] | None = None
    #: The first lines the implementation printed (isolated runs), and the log holding all of them.
    output: list[str] = field(default_factory=list)
    log: str | None = None

    @property
    def ok(self) -> bool:
        """True when every case passed (quantities not returned are not failures)."""
        return all(r.ok for r in self.results)

    @property
    def not_returned(self) -> tuple[str, ...]:
        """The optional quantities the implementation returned on no case."""
        returned = {q for r in self.results for q in r.checks}
        return tuple(q for q in OPTIONAL if q not in returned)

    def failures(self) -> list[CaseResult]:
        """The failing cases, in sweep order."""
        return [r for r in self.results if not r.ok]

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per quantity and dtype: ``cases`` checked, ``failed``, worst ``max_rel``,
        ``max_abs``, ``worst_ratio`` (relative error / tolerance), tolerance range, ``status``."""
        rows = []
        dtypes = list(dict.fromkeys(r.case.dtype for r in self.results))
        for dtype in dtypes:
            res = [r for r in self.results if r.case.dtype == dtype]
            for q in QUANTITIES:
                checks = [r.checks[q] for r in res if q in r.checks]
                if not checks:
                    status = "not checked (not returned)" if q in OPTIONAL else "not checked (no result)"
                    rows.append({"quantity": q, "dtype": dtype, "cases": 0, "failed": 0, "status": status})
                    continue
                failed = sum(not c.passed for c in checks)
                rtols = [c.rtol for c in checks]
                rows.append({
                    "quantity": q, "dtype": dtype, "cases": len(checks), "failed": failed,
                    "max_rel": max(c.max_rel for c in checks), "max_abs": max(c.max_abs for c in checks),
                    "worst_ratio": max(c.max_rel / c.rtol for c in checks), "rtol_min": min(rtols), "rtol_max": max(rtols),
                    "status": "pass" if not failed else f"FAIL ({failed} of {len(checks)})",
                })
        return rows

    def _header(self) -> str:
        n, nf = len(self.results), len(self.failures())
        sweep_text = ", ".join(f"{k} {' '.join(map(str, v))}" for k, v in self.sweep.items())
        spots = (f"; {len(self.blind_spots)} known mistake(s) this sweep cannot reveal (blind spots below)"
                 if self.blind_spots else "")
        net = f" for {'; '.join(s.describe() for s in self.networks)}" if self.networks else ""
        return (f"{self.implementation} against {self.reference}{net} on {n} case(s) [{sweep_text}]: "
                + ("all passed" if not nf else f"{nf} failed") + spots)

    def _note_lines(self) -> list[str]:
        return ["", "Notes (conventions accepted):"] + [f"  {n}" for n in self.notes] if self.notes else []

    def summary(self) -> str:
        """The printable summary: a header, a table per quantity and dtype, failures, diagnosis, blind spots."""
        lines = ([self.identification["sentence"], ""] if self.identification else []) + [self._header(), ""]
        table = []
        for s in self.summary_rows():
            if not s["cases"]:
                table.append((s["quantity"], s["dtype"], "0", "-", "-", "-", s["status"]))
                continue
            tol = f"{s['rtol_min']:.2g}" if s["rtol_min"] == s["rtol_max"] else f"{s['rtol_min']:.2g}..{s['rtol_max']:.2g}"
            table.append((s["quantity"], s["dtype"], str(s["cases"]), _num(s["max_rel"]), tol,
                          _num(s["worst_ratio"]), s["status"]))
        lines.append(plain_table(("quantity", "dtype", "cases", "worst rel err", "tolerance", "err/tol", "status"), table))
        lines += self._note_lines()
        lines += self._failure_lines()
        if self.ok and self.diagnosis:  # e.g. the reference's own lost digits, re-judged
            lines += ["", "Notes:"] + [f"  {d}" for d in self.diagnosis]
        lines += self._blind_spot_lines()
        lines += self._output_lines()
        return "\n".join(lines)

    def _output_lines(self) -> list[str]:
        if not self.output:
            return []
        where = f" (all of it in {self.log})" if self.log else ""
        return ["", f"The implementation printed{where}; its first lines:"] + [f"  | {t}" for t in self.output]

    __str__ = summary

    def _failure_lines(self) -> list[str]:
        fails = self.failures()
        if not fails:
            return []
        lines = ["", "Failures:"]
        errors = [r for r in fails if r.error]
        if errors:
            lines.append(f"  no result on {len(errors)} case(s); first, {errors[0].case.describe()}: "
                         f"{errors[0].error}")
        problems = [r for r in fails if r.problems]
        if problems:
            lines.append(f"  on {len(problems)} case(s): {'; '.join(problems[0].problems)} "
                         f"(first: {problems[0].case.describe()})")
        for q in QUANTITIES:
            bad = [r for r in fails if q in r.checks and not r.checks[q].passed]
            if not bad:
                continue
            first = bad[0]
            c = first.checks[q]
            where = ""
            if c.worst_index is not None and c.worst_got is not None:
                idx = f"[{', '.join(map(str, c.worst_index))}]" if c.worst_index else ""
                where = f"; worst element {q}{idx}: got {c.worst_got:.6g}, expected {c.worst_ref:.6g}"
            lines.append(f"  {q}: failed on {len(bad)} of {sum(q in r.checks for r in self.results)} case(s); "
                         f"first, {first.case.describe()}: {c.problem}{where}")
        if self.diagnosis:
            lines += ["", "Diagnosis:"] + [f"  {d}" for d in self.diagnosis]
        return lines

    def _blind_spot_lines(self) -> list[str]:
        if not self.blind_spots:
            return []
        return ["", "Blind spots: this sweep could not reveal these known mistakes (a pass here says nothing "
                "about them; add the shapes, dtypes and targets named to the sweep to cover them):"] + [
                    f"  {b}" for b in self.blind_spots]

    def failure_message(self) -> str:
        """The text of :func:`assert_implementation`'s ``AssertionError``: the header, each
        failing quantity with its error, tolerance, first failing case and worst element, and the diagnosis."""
        first = [self.identification["sentence"]] if self.identification else []
        return "\n".join([*first, self._header(), *self._note_lines(), *self._failure_lines(), *self._blind_spot_lines()])

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        return {
            "implementation": self.implementation, "reference": self.reference, "signature": self.signature,
            "sweep": self.sweep, "network": [s.as_dict() for s in self.networks],
            "network_described": [s.describe() for s in self.networks], "notes": list(self.notes),
            **({"identification": self.identification} if self.identification else {}),
            "passed": self.ok, "n_cases": len(self.results),
            "n_failed": len(self.failures()), "not_returned": list(self.not_returned),
            "summary": self.summary_rows(),
            "diagnosis": [d.as_dict() for d in self.diagnosis],
            "blind_spots": [b.as_dict() for b in self.blind_spots],
            "cases": [r.as_dict() for r in self.results],
            "output": {"first_lines": self.output, "log": self.log},
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`as_dict` as JSON text (non-finite numbers as strings)."""
        return json.dumps(json_ready(self.as_dict()), **({"indent": 2} | kwargs))


def _num(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2g}" if v else "0"


def make_report(results: list[CaseResult], fn: Any, reference: Any, signature: str, *, sweep_desc: dict[str, Any],
                blind_spots: bool, name: str | None = None, all_cases: Sequence[SweepCase] | None = None,
                repeat_checked: bool = True) -> Report:
    """The :class:`Report` of ``results``: diagnosis of the failures and (when ``blind_spots``)
    the known mistakes the cases cannot reveal (``repeat_checked``: whether the implementation
    was called twice on one case, which reveals state kept between calls)."""
    from . import diagnosis

    ref_name = reference if isinstance(reference, str) else _name(reference)
    report = Report(name or _name(fn), ref_name, signature, sweep_desc, results)
    report.notes = list(dict.fromkeys(n for r in results for n in r.notes))
    report.networks = list(dict.fromkeys(r.case.spec for r in results))
    if not report.ok:
        excused = diagnosis.excuse_reference(results, ref_name)  # torch/JAX losing digits: judged against the truth
        report.diagnosis = [excused] if excused else []
    if not report.ok:
        report.diagnosis += diagnosis.diagnose(results, reference=ref_name)
    if blind_spots:
        returned = tuple(q for q in QUANTITIES if any(q in r.checks for r in results)) or REQUIRED
        report.blind_spots = diagnosis.blind_spots(all_cases or [r.case for r in results], returned,
                                                   repeat_checked=repeat_checked)
    return report


def run_cases(
    fn: Any, case_list: Sequence[SweepCase], *, reference: str | Callable = "scratch", signature: str = "params",
    progress: Callable[[Iterable], Iterable] | None = None, isolate: bool | None = None,
    timeout: float | None = None, memory: int | None = None, log: Any = None,
) -> list[CaseResult]:
    """:func:`check_case` on every case (the first case of each dtype also called twice); a
    reference named by a string is bound to each case's ``spec``.

    ``fn`` is a callable, a target string (``"package.module:function"`` or
    ``"path/file.py:function"``) or an open :class:`scratch.worker.Isolated`.  ``isolate``
    (default: True for a target string, False for a callable) runs it in a worker process
    (:mod:`scratch.worker`) with ``timeout`` seconds per call and ``memory`` MiB of address
    space; its prints go to ``log`` (default: a temporary file).  See :func:`check_implementation`.
    """
    from .worker import Isolated

    if isinstance(fn, Isolated):
        return _run_all(fn, case_list, reference, signature, progress)
    if _isolated(fn, isolate):
        with _open_worker(fn, signature, timeout, memory, log) as worker:
            return _run_all(worker, case_list, reference, signature, progress)
    if isinstance(fn, str):
        fn = load_function(fn)
    check_signature(fn, signature)
    return _run_all(fn, case_list, reference, signature, progress)


def _isolated(fn: Any, isolate: bool | None) -> bool:
    """Whether to run ``fn`` in a worker: a target string by default, a callable never."""
    if isolate is None:
        return isinstance(fn, str)
    if isolate and not isinstance(fn, str):
        raise ValueError("isolate=True needs the implementation as a target string ('package.module:function' or "
                         f"'path/file.py:function'), not a {type(fn).__name__}: a worker imports it itself")
    return bool(isolate)


def _open_worker(target: str, signature: str, timeout: float | None, memory: int | None, log: Any) -> Any:
    """An :class:`scratch.worker.Isolated` for ``target``, started; a target it cannot use raises
    :class:`ImplementationError` (no such module/function, a signature that cannot be called)."""
    from .worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, ImplementationUnusable, Isolated

    worker = Isolated(target, signature, timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                      memory=DEFAULT_MEMORY_MB if memory is None else memory, log=log)
    try:
        worker.start()
    except ImplementationUnusable as exc:
        worker.close()
        raise ImplementationError(str(exc)) from None
    return worker


def _run_all(fn: Any, case_list: Sequence[SweepCase], reference: str | Callable, signature: str,
             progress: Callable[[Iterable], Iterable] | None) -> list[CaseResult]:
    from .worker import Isolated

    if isinstance(fn, Isolated):  # every call announced: the worker runs ahead while we compare
        dtypes: set[str] = set()
        calls = []
        for case in case_list:
            calls += [(case.params, case.x, case.y)] * (1 + (case.dtype not in dtypes))
            dtypes.add(case.dtype)
        fn.expect(calls)
    refs: dict[NetworkSpec, Callable] = {}
    seen: set[str] = set()
    results = []
    for case in (progress(case_list) if progress else case_list):
        repeat = case.dtype not in seen
        seen.add(case.dtype)
        ref_fn = reference_for(reference, case.spec, refs)
        results.append(check_case(fn, case, reference=ref_fn, signature=signature, repeat=repeat))
    return results


def check_implementation(
    fn: Callable,
    *,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    shapes: Iterable[Any] = DEFAULT_SHAPES,
    dtypes: Iterable[Any] = DEFAULT_DTYPES,
    targets: Iterable[str] = DEFAULT_TARGETS,
    reference: str = "scratch",
    signature: str = "params",
    name: str | None = None,
    blind_spots: bool = True,
    progress: Callable[[Iterable], Iterable] | None = None,
    spec: Any = SEED,
    isolate: bool | None = None,
    timeout: float | None = None,
    memory: int | None = None,
    log: Any = None,
) -> Report:
    """Check ``fn`` on the sweep seeds x shapes x dtypes x targets against ``reference``, for the
    family member ``spec``.

    Parameters
    ----------
    fn : callable, target string or :class:`scratch.worker.Isolated`
        The implementation: a function, or where to find one (``"package.module:function"``,
        ``"path/file.py:function"``), or an open worker.  Called as ``fn(params, x, y)`` (``signature="params"``) or ``fn(W1, b1, W2, b2, x, y)``
        (``signature="arrays"``), returning ``(loss, grads)`` or one mapping with ``"loss"``:
        see :mod:`scratch.adapter`.  dz1 (N, H) and dz2 (N, C) are optional.
    seeds, shapes, dtypes, targets
        The sweep, as in ``python -m scratch compare`` (default: seeds 0-4, every shape of
        :data:`scratch.cases.SHAPES`, float64 and float32, every target kind).  An
        implementation that supports only part of it declares that part here, and is checked on
        exactly that; what the restriction hides is listed in ``report.blind_spots``.
    reference : ``"scratch"`` (default) or an oracle name (``"torch"``, ``"jax"``, ``"numeric"``).
        A float32 case is compared with the reference in float64 on the same rounded inputs.
    name : how the report names ``fn`` (default ``module:qualname``).
    blind_spots : also work out which known mistakes the sweep cannot reveal (default True).
    progress : optional wrapper of the case iterable (e.g. ``tqdm.tqdm``).
    spec : :class:`scratch.NetworkSpec` (or a mapping of its fields)
        The network ``fn`` implements: hidden activation, reduction, L2 (default: the seed
        network, tanh, mean, no L2).

    isolate : bool or None
        Run ``fn`` in a worker process (:mod:`scratch.worker`): nothing it does (exit, crash,
        hang, patch the kit or NumPy, change floating-point settings, print) can reach the
        verdict.  Default: True for a target string, False for a callable.  A callable runs
        in-process, for speed and debugging (no worker start, breakpoints and ``print`` work):
        it is *not* for untrusted code, which can rewrite the check it runs in; a callable
        cannot be isolated (the worker imports the function itself, nothing is pickled), so
        untrusted code is given as a target string, and the command line always isolates.
    timeout : float
        Isolated: seconds per call (default :data:`scratch.worker.DEFAULT_TIMEOUT`).
    memory : int
        Isolated: the worker's address-space limit in MiB (default
        :data:`scratch.worker.DEFAULT_MEMORY_MB`).
    log : path
        Isolated: where the implementation's prints and warnings go (default: a temporary
        file); its first lines are in ``report.output``.

    Returns
    -------
    Report

    Raises
    ------
    ImplementationError
        ``fn`` cannot be called as ``signature`` says, or (a target) names no module or
        function.  Everything that goes wrong on one case (an exception, an unreadable return
        value, a crash, a time-out) is that case's failure in the report.
    """
    seeds, shapes, dtypes, targets = list(seeds), list(shapes), list(dtypes), list(targets)
    spec = as_spec(spec)
    case_list = cases(seeds, shapes, dtypes, targets, spec=spec)
    if not case_list:
        raise ValueError("the sweep is empty: give at least one seed, shape, dtype and target kind "
                         "(the 'confident' shape has labels and onehot targets only)")
    from .worker import Isolated

    if name is None and isinstance(fn, str):
        name = fn
    output, log_name = [], None
    if _isolated(fn, isolate) and not isinstance(fn, Isolated):
        with _open_worker(fn, signature, timeout, memory, log) as worker:
            results = run_cases(worker, case_list, reference=reference, signature=signature, progress=progress)
            output = worker.log_head()
            log_name = None if log is None else str(worker.log_path)
    else:
        results = run_cases(fn, case_list, reference=reference, signature=signature, progress=progress,
                            isolate=isolate)
        if isinstance(fn, Isolated):
            output, log_name, name = fn.log_head(), str(fn.log_path), name or fn.target
    desc = {"seeds": seeds, "shapes": [c for c in dict.fromkeys(c.shape for c in case_list)],
            "dtypes": [np.dtype(d).name for d in dtypes], "targets": targets}
    report = make_report(results, fn, reference, signature, sweep_desc=desc, blind_spots=blind_spots, name=name)
    report.output, report.log = output, log_name
    return report


def assert_implementation(fn: Callable, **kwargs: Any) -> Report:
    """:func:`check_implementation`, raising ``AssertionError`` when any case fails.

    The message lists each failing quantity with its error and tolerance, the first failing
    case (seed, shape, dtype, target kind), the worst element's index and both values, and the
    diagnosis.  Returns the report when everything passed.
    """
    __tracebackhide__ = True
    report = check_implementation(fn, **kwargs)
    if not report.ok:
        raise AssertionError(report.failure_message())
    return report


def identify_implementation(fn: Callable, **kwargs: Any) -> Any:
    """Find which member of the family ``fn`` implements, then check it against that member:
    :func:`scratch.identify.identify` (same keyword arguments; returns its
    :class:`scratch.identify.Identification`, whose ``sentence`` says what was found and
    ``report`` is the check)."""
    from .identify import identify

    return identify(fn, **kwargs)
