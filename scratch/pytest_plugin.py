"""The conformance kit as a pytest plugin (registered through the ``pytest11`` entry point).

``pytest --scratch-impl package.module:function`` adds one test per conformance case to the
run, with readable node ids (``scratch-conformance[s0-small-float64-labels]``; rerun one with
``pytest --scratch-impl ... 'scratch-conformance[s0-small-float64-labels]'``).  The
implementation runs in its own worker process (:class:`scratch.worker.Isolated`, one per pytest
process, restarted after a crash): nothing it does (exit, crash, hang, patch the kit, pytest or
NumPy) can become a pass.  Each failing case says, in a few lines, which quantities failed and by
how much; the diagnosis of the whole run (which known mistake the failures match), the sweep's
blind spots and the first lines the implementation printed come once, in the terminal summary.

Options mirror ``python -m scratch check``: ``--scratch-signature``, ``--scratch-seeds``,
``--scratch-shapes``, ``--scratch-dtypes``, ``--scratch-targets``, ``--scratch-reference``; the
family member ``--scratch-activation --scratch-alpha --scratch-l2 --scratch-l2-form
--scratch-l2-biases --scratch-reduction`` (a :class:`scratch.NetworkSpec`, default the seed
network); the worker's limits ``--scratch-timeout`` (seconds per call) and ``--scratch-memory``
(MiB).  Without ``--scratch-impl`` the plugin adds nothing and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .adapter import SIGNATURES
from .cases import DTYPES, SHAPES, TARGETS

_STATE: dict[str, Any] = {}
#: The node id of one case: no file, so no leading ``::``; given on the command line, it selects.
PREFIX = "scratch-conformance"
_ID = re.compile(rf"^{PREFIX}\[[^\[\]]+\]$")


def pytest_addoption(parser: Any) -> None:
    """The ``--scratch-*`` options."""
    from .activations import ACTIVATIONS
    from .argtypes import parse_shape, seed
    from .spec import L2_FORMS, REDUCTIONS
    from .testing import DEFAULT_SEEDS, REFERENCES
    from .worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

    g = parser.getgroup("scratch", "scratch conformance kit (checks an implementation of the network)")
    g.addoption("--scratch-impl", metavar="module:function", default=None,
                help="add the conformance sweep for this implementation (package.module:function or file.py:function)")
    g.addoption("--scratch-signature", choices=list(SIGNATURES), default="params",
                help="; ".join(f"{k}: {v}" for k, v in SIGNATURES.items()))
    g.addoption("--scratch-seeds", type=seed, nargs="+", default=list(DEFAULT_SEEDS), metavar="SEED")
    g.addoption("--scratch-shapes", type=parse_shape, nargs="+", default=None, metavar="SHAPE",
                help=f"names ({', '.join(SHAPES)}, confident, huge) or N,D,H,C; default: all names")
    g.addoption("--scratch-dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES), metavar="DTYPE")
    g.addoption("--scratch-targets", nargs="+", choices=list(TARGETS), default=list(TARGETS), metavar="TARGET")
    g.addoption("--scratch-reference", choices=REFERENCES, default="scratch")
    g.addoption("--scratch-activation", choices=ACTIVATIONS, default="tanh", help="hidden activation (default: tanh)")
    g.addoption("--scratch-alpha", type=float, default=None, metavar="A",
                help="leaky_relu's negative slope, in [0, 1) (default: 0.01)")
    g.addoption("--scratch-l2", type=float, default=0.0, metavar="LAMBDA", help="L2 coefficient (default: 0)")
    g.addoption("--scratch-l2-form", choices=L2_FORMS, default="half",
                help="half: (lambda/2)||W||^2; full: lambda||W||^2 (default: half)")
    g.addoption("--scratch-l2-biases", action="store_true", help="regularize the biases too")
    g.addoption("--scratch-reduction", choices=REDUCTIONS, default="mean", help="loss over samples (default: mean)")
    g.addoption("--scratch-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                help=f"per call of the implementation, in its worker process (default: {DEFAULT_TIMEOUT:g})")
    g.addoption("--scratch-memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MIB",
                help=f"the worker's address-space limit; 0: none (default: {DEFAULT_MEMORY_MB})")


def pytest_load_initial_conftests(early_config: Any, parser: Any, args: list[str]) -> None:
    """Take ``scratch-conformance[ID]`` arguments out of the paths: they select cases."""
    picked = [a for a in args if _ID.match(a)]
    if picked:
        args[:] = [a for a in args if not _ID.match(a)]
        _STATE["select"] = set(picked)


def _spec(config: Any) -> Any:
    from .spec import NetworkSpec

    kwargs: dict[str, Any] = dict(activation=config.getoption("scratch_activation"),
                                  l2=config.getoption("scratch_l2"), l2_form=config.getoption("scratch_l2_form"),
                                  l2_biases=config.getoption("scratch_l2_biases"),
                                  reduction=config.getoption("scratch_reduction"))
    if config.getoption("scratch_alpha") is not None:
        kwargs["alpha"] = config.getoption("scratch_alpha")
    return NetworkSpec(**kwargs)


def pytest_configure(config: Any) -> None:
    """Start the worker and import the implementation in it, before collection: a target it
    cannot use (no such module or function, a wrong signature) is a usage error."""
    target = config.getoption("scratch_impl", None)
    if not target:
        return
    from .testing import cases, get_reference
    from .worker import ImplementationUnusable, Isolated

    try:
        spec = _spec(config)
        get_reference(config.getoption("scratch_reference"), spec)
        shapes = config.getoption("scratch_shapes") or list(SHAPES)
        sweep = cases(config.getoption("scratch_seeds"), shapes, config.getoption("scratch_dtypes"),
                      config.getoption("scratch_targets"), spec=spec)
        memory = config.getoption("scratch_memory")
        worker = Isolated(target, config.getoption("scratch_signature"), timeout=config.getoption("scratch_timeout"),
                          memory=memory or None)
    except (ImportError, ValueError, ImplementationUnusable) as exc:
        raise pytest.UsageError(f"--scratch-impl {target}: {exc}") from exc
    try:
        worker.start()
    except ImplementationUnusable as exc:
        worker.close()
        raise pytest.UsageError(f"--scratch-impl {target}: {exc}") from exc
    _STATE.update(target=target, cases=sweep, worker=worker, results={})


def pytest_unconfigure(config: Any) -> None:
    """Stop the worker."""
    worker = _STATE.pop("worker", None)
    if worker is not None:
        worker.close()
    _STATE.clear()


class ConformanceItem(pytest.Item):
    """One conformance case for the implementation under ``--scratch-impl``."""

    def __init__(self, *, case: Any, repeat: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.repeat = repeat

    def runtest(self) -> None:
        """Check the case in the worker; raise :class:`ConformanceFailure` with what failed."""
        __tracebackhide__ = True
        from .testing import check_case

        cfg = self.config
        result = check_case(_STATE["worker"], self.case, reference=cfg.getoption("scratch_reference"),
                            signature=cfg.getoption("scratch_signature"), repeat=self.repeat)
        _STATE["results"][self.case.id] = result
        if not result.ok:
            raise ConformanceFailure("\n".join(short_failure(result))
                                     + "\n(the diagnosis of the run: 'scratch conformance' in the summary below)")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        """The case's failure in a few lines, without a traceback into the checker."""
        if isinstance(excinfo.value, ConformanceFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style="short")

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"scratch conformance: {self.case.describe()}"


def short_failure(result: Any) -> list[str]:
    """One line per thing that failed on one case: the error, each problem, each failing
    quantity with its error, tolerance and worst element."""
    lines = [f"no result: {result.error}"] if result.error else []
    lines += result.problems
    for q in result.failed():
        c = result.checks[q]
        where = ""
        if c.worst_index is not None and c.worst_got is not None:
            idx = f"[{', '.join(map(str, c.worst_index))}]" if c.worst_index else ""
            where = f"; worst element {q}{idx}: got {c.worst_got:.6g}, expected {c.worst_ref:.6g}"
        lines.append(f"{q}: {c.problem}{where}")
    return lines


class ConformanceFailure(AssertionError):
    """A conformance case failed; the message says which quantities and by how much."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: Any, config: Any, items: list) -> None:
    """Append one :class:`ConformanceItem` per case (only with ``--scratch-impl``); with
    ``scratch-conformance[ID]`` arguments, only those cases (and nothing else) run."""
    if "worker" not in _STATE:
        return
    seen: set[str] = set()
    added = []
    for case in _STATE["cases"]:
        nodeid = f"{PREFIX}[{case.id}]"
        added.append(ConformanceItem.from_parent(session, name=nodeid, nodeid=nodeid, case=case,
                                                 repeat=case.dtype not in seen))
        seen.add(case.dtype)
    items.extend(added)
    select = _STATE.get("select")
    if select:
        unknown = select - {i.nodeid for i in added}
        if unknown:
            raise pytest.UsageError(f"no such case in the sweep: {', '.join(sorted(unknown))}")
        dropped = [i for i in items if i.nodeid not in select]
        items[:] = [i for i in items if i.nodeid in select]
        config.hook.pytest_deselected(items=dropped)
    # The items are added after collection, so the terminal's "collected N items" would leave
    # them out; count them in (a guarded private counter).
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if isinstance(getattr(reporter, "_numcollected", None), int):
        reporter._numcollected += len(added)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: Any, config: Any) -> None:
    """Once per run: how many cases failed, the diagnosis, the blind spots, what the
    implementation printed, and how to rerun one case."""
    if "worker" not in _STATE or hasattr(config, "workerinput"):
        return
    from .testing import make_report, run_cases

    by_id = {c.id: c for c in _STATE["cases"]}
    results = dict(_STATE["results"])
    failed_ids = [r.nodeid[len(PREFIX) + 1:-1] for r in terminalreporter.stats.get("failed", [])
                  if getattr(r, "nodeid", "").startswith(PREFIX + "[")]
    missing = [by_id[i] for i in failed_ids if i in by_id and i not in results][:50]
    if missing:  # run by pytest-xdist's workers: rerun the failing cases here, for one diagnosis
        for r in run_cases(_STATE["worker"], missing, reference=config.getoption("scratch_reference"),
                           signature=config.getoption("scratch_signature")):
            results[r.case.id] = r
    ran = [results[c.id] for c in _STATE["cases"] if c.id in results]
    report = make_report(ran, _STATE["target"], config.getoption("scratch_reference"),
                         config.getoption("scratch_signature"), sweep_desc={}, blind_spots=True,
                         name=_STATE["target"], all_cases=_STATE["cases"])
    tr = terminalreporter
    tr.section("scratch conformance")
    nf = len(report.failures())
    tr.write_line(f"{_STATE['target']}: {nf} of {len(ran)} case(s) failed" if nf else
                  f"{_STATE['target']}: {len(ran)} case(s) passed")
    if report.diagnosis:
        tr.write_line("diagnosis:")
        for d in report.diagnosis:
            tr.write_line(f"  {d}")
    if nf:
        first = report.failures()[0].case.id
        tr.write_line(f"rerun one case: pytest --scratch-impl {_STATE['target']} '{PREFIX}[{first}]'")
    tr.write_line("blind spots (known mistakes these cases cannot reveal):" if report.blind_spots else
                  "blind spots: none, every gradient pitfall of the gallery shows on this sweep")
    for b in report.blind_spots:
        tr.write_line(f"  - {b}")
    printed = _STATE["worker"].log_head()
    if printed:
        tr.write_line("the implementation printed (first lines):")
        for line in printed:
            tr.write_line(f"  | {line}")
