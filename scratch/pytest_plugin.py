"""The conformance kit as a pytest plugin (registered through the ``pytest11`` entry point).

``pytest --scratch-impl package.module:function`` adds one test per conformance case to the
run, with readable ids (``scratch-conformance[s0-small-float64-labels]``); each fails with the
kit's message: every failing quantity with its error and tolerance, the worst element, and the
diagnosis.  The sweep options mirror ``python -m scratch check``: ``--scratch-signature``,
``--scratch-seeds``, ``--scratch-shapes``, ``--scratch-dtypes``, ``--scratch-targets``,
``--scratch-reference``.  The sweep's blind spots are printed in the terminal summary.
Without ``--scratch-impl`` the plugin adds nothing and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from .adapter import SIGNATURES, ImplementationError, check_signature, load_function
from .cases import DTYPES, SHAPES, TARGETS

_STATE: dict[str, Any] = {}


def pytest_addoption(parser: Any) -> None:
    """The ``--scratch-*`` options."""
    from .argtypes import parse_shape, seed
    from .testing import DEFAULT_SEEDS, REFERENCES

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


def pytest_configure(config: Any) -> None:
    """Load the implementation once, before collection: a bad ``--scratch-impl`` is a usage error."""
    spec = config.getoption("scratch_impl", None)
    if not spec:
        return
    from .testing import cases, get_reference

    try:
        fn = load_function(spec)
        check_signature(fn, config.getoption("scratch_signature"))
        get_reference(config.getoption("scratch_reference"))
        shapes = config.getoption("scratch_shapes") or list(SHAPES)
        sweep = cases(config.getoption("scratch_seeds"), shapes, config.getoption("scratch_dtypes"),
                      config.getoption("scratch_targets"))
    except (ImplementationError, ImportError, ValueError) as exc:
        raise pytest.UsageError(f"--scratch-impl {spec}: {exc}") from exc
    _STATE.update(fn=fn, spec=spec, cases=sweep)


class ConformanceItem(pytest.Item):
    """One conformance case for the implementation under ``--scratch-impl``."""

    def __init__(self, *, case: Any, repeat: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.repeat = repeat

    def runtest(self) -> None:
        """Check the case; raise :class:`ConformanceFailure` with the kit's message."""
        from .testing import check_case, make_report

        cfg = self.config
        try:
            result = check_case(_STATE["fn"], self.case, reference=cfg.getoption("scratch_reference"),
                                signature=cfg.getoption("scratch_signature"), repeat=self.repeat)
        except ImplementationError as exc:
            raise ConformanceFailure(str(exc)) from None
        if not result.ok:
            report = make_report([result], _STATE["fn"], cfg.getoption("scratch_reference"),
                                 cfg.getoption("scratch_signature"), sweep_desc={"case": [self.case.id]},
                                 blind_spots=False, name=_STATE["spec"])
            raise ConformanceFailure(report.failure_message())

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        """The kit's message, without a traceback into the checker."""
        if isinstance(excinfo.value, ConformanceFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"scratch conformance: {self.case.describe()}"


class ConformanceFailure(AssertionError):
    """A conformance case failed; the message is the kit's report."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: Any, config: Any, items: list) -> None:
    """Append one :class:`ConformanceItem` per case (only with ``--scratch-impl``)."""
    if "fn" not in _STATE:
        return
    seen: set[str] = set()
    for case in _STATE["cases"]:
        items.append(ConformanceItem.from_parent(session, name=f"scratch-conformance[{case.id}]", case=case,
                                                 repeat=case.dtype not in seen))
        seen.add(case.dtype)
    # The items are added after collection, so the terminal's "collected N items" (and "M
    # selected" under -k) would leave them out; count them in (a guarded private counter).
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if isinstance(getattr(reporter, "_numcollected", None), int):
        reporter._numcollected += len(_STATE["cases"])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: Any, config: Any) -> None:
    """Print the sweep's blind spots: the known mistakes these cases cannot reveal."""
    if "fn" not in _STATE or hasattr(config, "workerinput"):
        return
    from .diagnosis import blind_spots

    spots = blind_spots(_STATE["cases"])
    terminalreporter.section("scratch conformance: blind spots")
    if not spots:
        terminalreporter.write_line("none: every gradient pitfall of the gallery shows on this sweep")
    for b in spots:
        terminalreporter.write_line(f"- {b}")
