r"""The step-size study of ``python -m scratch stepsize`` and of the page: error of forward, central
and complex-step gradients against the hand-derived one as the step h sweeps 1e-1 ... 1e-16
(the log-log plot: :func:`scratch.lab.plots.plot_errors`).

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

import numpy as np

from ..compare import relative_error
from ..network import Params, loss_and_grads
from .progress import progress_bar

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
