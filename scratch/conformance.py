"""The conformance matrix: every implementation the project knows, checked by the kit.

Rows are implementations (scratch's two routes, each oracle, each third-party peer of
:mod:`scratch.peers`) x dtypes x target kinds; columns the quantities; each cell the worst
error/tolerance ratio or FAIL, with the diagnosis of what failed.  Every implementation runs
the whole sweep, including what a peer does not claim to support (marked), so the matrix shows
where each one departs from the network and why, from what the kit printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .cases import DTYPES, TARGETS
from .compare import QUANTITIES
from .testing import Report, check_implementation

#: Implementations of the matrix, in order: name -> (kind, how to get the function).
IMPLEMENTATIONS = ("scratch", "scratch-staged", "torch", "jax", "numeric", "sklearn", "sklearn-logistic", "autograd")
#: The default rows (numeric's complex step is exact but costs a forward pass per entry).
DEFAULT_IMPLEMENTATIONS = tuple(i for i in IMPLEMENTATIONS if i != "numeric")


def get_implementation(name: str) -> Callable:
    """The function of implementation ``name``; :class:`oracles.MissingFramework` when its
    library is missing (the message names the extra)."""
    import functools

    from .network import loss_and_grads

    if name == "scratch":
        return loss_and_grads
    if name == "scratch-staged":
        return functools.partial(loss_and_grads, route="staged")
    if name in ("torch", "jax", "numeric"):
        from .testing import get_reference

        return get_reference(name)
    from . import peers

    return peers.get(name)


def supported(name: str, dtype: str, target: str, dims: tuple[int, int, int, int]) -> bool:
    """Whether ``name`` claims to support such a case (peers declare it; the rest support all)."""
    from . import peers

    return peers.supports(name, dtype, target, dims) if name in peers.REGISTRY else True


@dataclass
class Cell:
    """One row of the matrix: an implementation on one dtype and target kind."""

    implementation: str
    dtype: str
    target: str
    report: Report
    unsupported: tuple[str, ...]  # shapes outside the implementation's declared support

    def quantity(self, q: str) -> dict[str, Any]:
        """``status`` ("pass", "fail", "not returned"), ``worst_ratio``, ``max_rel`` for quantity ``q``."""
        checks = [r.checks[q] for r in self.report.results if q in r.checks]
        raised = any(r.error for r in self.report.results)
        if not checks:
            return {"status": "raised" if raised else "not returned"}
        failed = [c for c in checks if not c.passed]
        return {"status": "fail" if failed else "pass", "cases": len(checks), "failed": len(failed),
                "max_rel": max(c.max_rel for c in checks), "worst_ratio": max(c.max_rel / c.rtol for c in checks)}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the row's keys, per quantity its status, the diagnosis, the failing case ids."""
        return {"implementation": self.implementation, "dtype": self.dtype, "target": self.target,
                "passed": self.report.ok, "unsupported_shapes": list(self.unsupported),
                "quantities": {q: self.quantity(q) for q in QUANTITIES},
                "diagnosis": [d.as_dict() for d in self.report.diagnosis],
                "failed_cases": [r.case.id for r in self.report.failures()]}


def matrix(
    implementations: Iterable[str] = DEFAULT_IMPLEMENTATIONS,
    *,
    seeds: Iterable[int] = (0, 1),
    shapes: Iterable[Any] | None = None,
    dtypes: Iterable[str] = tuple(DTYPES),
    targets: Iterable[str] = TARGETS,
    progress: Callable[[str], None] | None = None,
) -> list[Cell]:
    """Run every implementation on every (dtype, target kind) of the sweep (default shapes:
    every named shape, "confident" and "huge"; a peer only on the shapes whose C it supports,
    :func:`scratch.peers.sweep_options`); one :class:`Cell` each."""
    from .cases import SHAPES, shape_label

    from . import peers

    shapes = [*SHAPES, "confident", "huge"] if shapes is None else list(shapes)
    cells = []
    for name in implementations:
        fn = get_implementation(name)
        # A peer runs every dtype and target kind, but only the shapes whose C it has a network for.
        own = peers.sweep_options(name, shapes)["shapes"] if name in peers.REGISTRY else shapes
        for dtype in dtypes:
            for target in targets:
                use = [s for s in own if not (shape_label(s)[0] == "confident" and target not in ("labels", "onehot"))]
                if not use:
                    continue
                if progress:
                    progress(f"{name} {dtype} {target}")
                report = check_implementation(fn, seeds=seeds, shapes=use, dtypes=[dtype], targets=[target],
                                              name=name, blind_spots=False)
                unsupported = tuple(dict.fromkeys(r.case.shape for r in report.results
                                                  if not supported(name, dtype, target, r.case.dims)))
                cells.append(Cell(name, dtype, target, report, unsupported))
    return cells


def short_diagnosis(cell: Cell) -> str:
    """The diagnosis cell: matched pitfall names, else the kinds of finding, and where it fails."""
    if cell.report.ok:
        return ""
    names = [d.pitfall for d in cell.report.diagnosis if d.pitfall]
    if any(d.kind == "raised" for d in cell.report.diagnosis):
        names.append("raised")
    if any(d.kind == "signature" for d in cell.report.diagnosis):
        names.append("no known pitfall")
    names += [{"precision": "lost digits", "reference": "the reference loses digits", "family": "another member"}[d.kind]
              for d in cell.report.diagnosis if d.kind in ("precision", "reference", "family")]
    where = sorted({r.case.shape for r in cell.report.failures()})
    text = ", ".join(dict.fromkeys(names))
    return f"{text} [on {' '.join(where)}]"
