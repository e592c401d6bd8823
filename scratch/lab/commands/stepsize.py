r"""``python -m scratch stepsize``: error of forward, central and complex-step gradients against
the hand-derived one as the step h sweeps 1e-1 ... 1e-16, on one log-log plot.

What the curves show (float64, ε = 2.2e-16; see :mod:`oracles.numeric` for eqs. (F), (C), (S)):

- forward differences: truncation error ~ h|f''|/2 (slope 1) for large h, round-off
  ~ ε|f|/h (slope -1) for small h, best near h ~ ε^{1/2} ~ 1e-8 at an error ~ 1e-8..1e-7;
- central differences: truncation ~ h²|f'''|/6 (slope 2), the same round-off, best near
  h ~ ε^{1/3} ~ 6e-6 at an error ~ 1e-10;
- complex step: the same truncation h²|f'''|/6 but **no round-off term** (nothing is
  subtracted), so it falls to the float64 floor (~1e-16..1e-15) and stays flat all the way
  down to h = 1e-16 (and 1e-20, 1e-100 ...), where finite differences return garbage.

At the smallest steps ``θ ± h`` rounds to θ itself for entries with ``|θ| > h/ε``: a finite
difference is then 0/0 and its error is reported as ``inf`` (left off the plot).
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import numpy as np

from ...cases import draw
from ...compare import relative_error
from ...network import Params, loss_and_grads
from ..plots import new_figure, require_matplotlib, save_figure
from ..report import print_table, write_json
from . import UsageError
from ._options import (
    add_json_option,
    add_plot_option,
    add_quiet_option,
    add_seeds_option,
    add_shapes_option,
    add_targets_option,
    positive_int_upto,
    progress_bar,
    show_progress,
)

#: The methods of the study, in plotting order.
STUDY_METHODS = ("forward", "central", "complex")


def step_grid(h_max: float = 1e-1, h_min: float = 1e-16, per_decade: int = 4) -> np.ndarray:
    """Log-spaced steps from ``h_max`` down to ``h_min``, ``per_decade`` per decade, shape (K,)."""
    decades = np.log10(h_max) - np.log10(h_min)
    return np.logspace(np.log10(h_max), np.log10(h_min), int(round(decades * per_decade)) + 1)


def step_size_errors(params: Params, x: np.ndarray, y: np.ndarray, steps: np.ndarray,
                     methods: tuple[str, ...] = STUDY_METHODS, progress: bool = False) -> dict[str, np.ndarray]:
    """Relative error of each method's parameter gradient against the hand-derived one, per step.

    Parameters
    ----------
    params, x, y : a float64 problem (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); x (N, D); y).
    steps : (K,) absolute steps h, one for every parameter entry.
    methods : subset of ``("forward", "central", "complex")``.
    progress : show a tqdm bar (when tqdm is installed).

    Returns
    -------
    dict method -> (K,) array: :func:`scratch.compare.relative_error` of (dW1, db1, dW2, db2)
    as one vector against ``scratch.loss_and_grads``; ``inf`` where a step rounded to zero.
    """
    from oracles.numeric import param_grads

    want = np.concatenate([g.ravel() for g in loss_and_grads(params, x, y)[1].params_grads()])
    errors = {m: np.empty(len(steps)) for m in methods}
    with progress_bar("step sizes", len(steps), progress, unit="step") as bar:
        for k, h in enumerate(steps):
            for m in methods:
                with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 where θ ± h rounds to θ
                    got = param_grads(params, x, y, method=m, h=float(h))
                errors[m][k] = relative_error(np.concatenate([g.ravel() for g in got]), want)
            if bar is not None:
                bar.update(1)
    return errors


def best_steps(steps: np.ndarray, errors: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """For each method, the step with the smallest error and that error.

    ``steps`` (K,) and ``errors`` (method -> (K,)) as from :func:`step_size_errors`; returns
    method -> ``{"h": float, "error": float}``.
    """
    return {m: {"h": float(steps[np.argmin(e)]), "error": float(np.min(e))} for m, e in errors.items()}

#: Upper bound of ``--per-decade`` (16 decades x 100 = 1,600 steps; exit 2 above it, before any work).
MAX_PER_DECADE = 100



def plot_errors(path: str, steps: np.ndarray, panels: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    """Log-log plots of error against h (matplotlib, Agg canvas), one panel per case, written to ``path``.

    ``steps`` (K,); ``panels`` a list of ``(title, errors)`` with ``errors`` method -> (K,)
    (non-finite or zero errors are left off).
    """
    eps = np.finfo(np.float64).eps
    fig = new_figure((7 * len(panels), 4.5))
    style = {"forward": ("C0", "o", "forward (F)"), "central": ("C1", "s", "central (C)"),
             "complex": ("C2", "^", "complex step (S)")}
    for ax, (title, errors) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for m, e in errors.items():
            color, marker, label = style[m]
            ok = np.isfinite(e) & (e > 0)
            ax.loglog(steps[ok], e[ok], marker=marker, ms=3, color=color, label=label)
        for root, text in ((1 / 2, r"$\varepsilon^{1/2}$"), (1 / 3, r"$\varepsilon^{1/3}$")):
            ax.axvline(eps**root, color="grey", ls=":", lw=1)
            ax.text(eps**root, 0.97, text + " ", ha="right", va="top", color="grey", transform=ax.get_xaxis_transform())
        ax.axhline(eps, color="grey", ls="--", lw=1)
        ax.text(steps.min(), eps * 1.5, r"$\varepsilon$", color="grey")
        ax.invert_xaxis()
        ax.set_xlabel("step h")
        ax.set_ylabel("relative error of the gradient vs hand-derived")
        ax.set_ylim(eps / 10, 10)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower left")
    save_figure(fig, path, dpi=120)


def register(sub: Any) -> None:
    """Add the ``stepsize`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "stepsize",
        help="error of forward / central / complex-step gradients as the step h sweeps 1e-1 .. 1e-16",
        description="Sweep the step h of numerical differentiation and measure the relative error of "
        "the parameter gradient against the hand-derived one (float64), for each case of the sweep; "
        "print a table per case, optionally plot it (one log-log panel per case) and write JSON.",
    )
    add_seeds_option(p, [0])
    add_shapes_option(p, ["seed"])
    add_targets_option(p, ["labels"])
    p.add_argument("--per-decade", type=positive_int_upto(MAX_PER_DECADE), default=4,
                   help=f"steps per decade, at most {MAX_PER_DECADE} (default 4)")
    p.add_argument("--h-max", type=float, default=1e-1, help="largest step (default 1e-1)")
    p.add_argument("--h-min", type=float, default=1e-16, help="smallest step (default 1e-16)")
    add_plot_option(p, "the log-log plot")
    add_json_option(p, "every step and error")
    add_quiet_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch stepsize``; return the exit status (0 ok, 1 a check failed)."""
    if not 0 < args.h_min < args.h_max:
        raise UsageError(f"need 0 < --h-min < --h-max, got --h-min {args.h_min:g} and --h-max {args.h_max:g}")
    if args.plot:
        require_matplotlib(UsageError)  # before the sweep, not after it
    steps = step_grid(args.h_max, args.h_min, args.per_decade)
    decade = np.isclose(np.log10(steps), np.round(np.log10(steps)))
    studies = []
    for (shape_name, shape), target, seed in itertools.product(args.shapes, args.targets, args.seeds):
        case = draw(seed, (shape_name, shape), np.float64, target)
        if case is None:  # "confident" exists for labels and one-hot targets only
            continue
        errors = step_size_errors(case.params, case.x, case.y, steps, progress=show_progress(args))
        best = best_steps(steps, errors)
        print_table(
            f"relative error of the parameter gradient vs hand-derived, {case.name} "
            f"({sum(p.size for p in case.params)} parameters); every decade shown",
            ["h", *STUDY_METHODS],
            [[float(h), *(float(errors[m][k]) for m in STUDY_METHODS)] for k, h in enumerate(steps) if decade[k]],
        )
        print_table(f"best step per method, {case.name}", ["method", "best h", "error there"],
                    [[m, b["h"], b["error"]] for m, b in best.items()])
        studies.append({"case": case.name, "shape": shape_name, "dims": list(shape), "errors": errors, "best": best})
    if args.plot:
        plot_errors(args.plot, steps, [(f"step-size study, {c['case']}", c["errors"]) for c in studies])
    if args.json:
        write_json(args.json, {"steps": steps, "cases": studies})
    return 0
