"""Figures for ``python -m scratch train``, ``saturation`` and ``stepsize`` (matplotlib, headless).

matplotlib is optional (the ``plot`` extra) and imported only when a figure is drawn.  No
pyplot and no global backend: each figure is a :class:`matplotlib.figure.Figure` rendered by
the Agg canvas, so it works on a machine without a display and leaves the caller's matplotlib
state alone.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..network import predict
from .report import wrote

if TYPE_CHECKING:  # pragma: no cover
    from .data import Dataset
    from .train import TrainResult

#: Line style per framework, so overlaid identical curves stay visible: a wide pale band,
#: a dashed line on it, a dotted line on that.
STYLES = {
    "numpy": {"lw": 5.0, "alpha": 0.35, "ls": "-", "color": "tab:blue"},
    "torch": {"lw": 1.8, "alpha": 1.0, "ls": "--", "color": "tab:red"},
    "jax": {"lw": 1.8, "alpha": 1.0, "ls": ":", "color": "black"},
}


def require_matplotlib(error: type[Exception] = ImportError) -> None:
    """Import matplotlib or raise ``error`` (a command passes its ``UsageError``) naming the
    ``plot`` extra to install."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise error("plotting needs matplotlib, which is not installed: pip install 'scratch-backprop[plot]'") from exc


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` (figsize in inches) on the Agg canvas; see :func:`require_matplotlib`."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` (png, svg or pdf, from the extension) and say ``wrote PATH``."""
    fig.savefig(path, dpi=dpi)
    wrote(path)


def plane(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The 2-D view of data ``x`` (N, D) used to draw decision regions.

    D = 2: the input plane itself.  D > 2: the plane through the data mean spanned by the first
    two principal directions (a *slice* of the D-dimensional decision regions; the points are
    projected onto it).  D = 1: the input on the horizontal axis.

    Returns
    -------
    origin : (D,) array
    basis : (2, D) array, rows orthonormal (or zero for D = 1's second row); a plane point
        ``u`` (2,) is the input ``origin + u @ basis``.
    label : str describing the view.
    """
    D = x.shape[1]
    if D == 2:
        return np.zeros(2, x.dtype), np.eye(2, dtype=x.dtype), "input plane"
    origin = x.mean(axis=0)
    if D == 1:
        return np.zeros_like(origin), np.array([[1.0], [0.0]], dtype=x.dtype), "D = 1: input on the horizontal axis"
    _, _, vt = np.linalg.svd(x - origin, full_matrices=False)
    return origin, vt[:2].astype(x.dtype), f"D = {D}: slice on the plane of the top-2 principal components"


def _regions(ax: Any, params: Any, data: "Dataset", n_grid: int = 250) -> str:
    """Shade the predicted class over a grid and scatter the data on top; returns the view label."""
    from matplotlib.colors import ListedColormap

    origin, basis, label = plane(data.x)
    u = (data.x - origin) @ basis.T  # data in plane coordinates (N, 2)
    lo, hi = u.min(axis=0), u.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-3)
    g0, g1 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], n_grid),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], n_grid))
    grid = origin + np.stack([g0.ravel(), g1.ravel()], axis=1).astype(data.x.dtype) @ basis
    pred = predict(params, np.ascontiguousarray(grid, dtype=data.x.dtype))
    cmap = ListedColormap([f"C{k % 10}" for k in range(data.C)])
    ax.pcolormesh(g0, g1, pred.reshape(g0.shape), cmap=cmap, vmin=-0.5, vmax=data.C - 0.5, alpha=0.3,
                  shading="auto", rasterized=True)
    ax.scatter(u[:, 0], u[:, 1], c=data.y, cmap=cmap, vmin=-0.5, vmax=data.C - 0.5, s=9, edgecolors="k",
               linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])
    return label


def training_figure(
    path: str | Path,
    data: "Dataset",
    results: Mapping[str, "TrainResult"],
    final_accuracy: Mapping[str, float],
    *,
    title: str,
    tolerance: float,
) -> None:
    """Loss curves of every framework overlaid, their differences, and each one's decision regions.

    Top row: the per-step mini-batch loss of each framework (log scale, overlaid), and
    ``|L_fw - L_numpy| / L_numpy`` per step with the agreement tolerance (with two frameworks or
    more).  Bottom row: the
    decision regions of each framework's final parameters over the data (see :func:`plane`
    for D != 2).

    Parameters
    ----------
    path : PNG file to write.
    data : Dataset, ``x`` (N, D), ``y`` (N,).
    results : framework -> TrainResult (losses (K,), final parameters).
    final_accuracy : framework -> accuracy of the final parameters on ``data``.
    title : figure title.
    tolerance : drawn as a line on the difference panel.
    """
    names = list(results)
    cols = max(len(names), 2)
    fig = new_figure((4.2 * cols, 7.6))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.15])
    if len(names) > 1:
        ax_loss, ax_diff = top.subplots(1, 2, width_ratios=[cols - 1, 1])
    else:
        ax_loss, ax_diff = top.subplots(1, 1), None
    for name, r in results.items():
        ax_loss.semilogy(np.arange(len(r.loss)), r.loss, label=name, **STYLES.get(name, {}))
    ax_loss.set(xlabel="step", ylabel="mini-batch loss (7)", title="loss per step, overlaid")
    ax_loss.legend()
    if ax_diff is not None:
        _differences(ax_diff, results, tolerance)
    view = ""
    for ax, name in zip(np.atleast_1d(bottom.subplots(1, len(names))), names):
        view = _regions(ax, results[name].params, data)
        ax.set_title(f"{name}: decision regions, accuracy {final_accuracy[name]:.1%}")
    fig.suptitle(textwrap.fill(title, width=int(11 * 4.2 * cols)) + f"\nbottom: {data.name} ({view})")
    save_figure(fig, path)


def _differences(ax_diff: Any, results: Mapping[str, "TrainResult"], tolerance: float) -> None:
    """Per step ``|L_fw - L_ref| / L_ref`` against the first framework, on a log scale, with the tolerance."""
    names = list(results)
    ref = names[0]
    floor = 1e-18
    for name in names[1:]:
        rel = np.abs(results[name].loss - results[ref].loss) / np.abs(results[ref].loss)
        ax_diff.semilogy(np.maximum(rel, floor), label=f"{name} vs {ref}", **{**STYLES.get(name, {}), "lw": 1.2})
    ax_diff.axhline(tolerance, color="gray", lw=1, ls="-.", label=f"tolerance {tolerance:.0e}")
    ax_diff.set_ylim(floor / 2, max(1.0, tolerance * 100))
    ax_diff.set(xlabel="step", ylabel=f"|L - L_{ref}| / L_{ref}", title=f"difference from {ref} (0 drawn at {floor:.0e})")
    ax_diff.legend(fontsize="small")


def saturation_figure(path: str | Path, sweep: Mapping[str, Any], hists: Sequence[tuple[float, np.ndarray]]) -> None:
    """The vanishing-gradient picture: saturation and ``||dW1||`` against the initial weight scale.

    Parameters
    ----------
    path : PNG file to write.
    sweep : mapping with ``scale`` (S,), ``saturated`` (S,) measured fraction of units with
        |a1| > ``threshold``, ``predicted`` (S,), ``dW1_norm`` (S,), ``dW1_relative`` (S,)
        (``||dW1|| / ||W1||``), ``dW2_norm`` (S,), ``threshold``,
        ``shape`` (N, D, H, C).
    hists : ``(scale, a1 values)`` pairs for the histogram panel (a good and a bad scale).
    """
    fig = new_figure((14.0, 4.3))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    s = np.asarray(sweep["scale"])
    thr = sweep["threshold"]
    ax1.semilogx(s, sweep["saturated"], "o-", label="measured")
    ax1.semilogx(s, sweep["predicted"], "k--", lw=1, label=r"$P(|z_1| > \mathrm{atanh}\,%g)$, $z_1 \sim N(0, s^2)$" % thr)
    ax1.set(xlabel="initial W1 scale s (x LeCun 1/sqrt(D))", ylabel=f"fraction of units with |a1| > {thr}",
            title="tanh units saturate", ylim=(-0.03, 1.03))
    ax1.legend(fontsize="small")
    ax2.loglog(s, sweep["dW1_norm"], "o-", label=r"$\|dW_1\|_F$")
    ax2.loglog(s, sweep["dW1_relative"], "o-", label=r"$\|dW_1\|_F / \|W_1\|_F$")
    ax2.loglog(s, sweep["dW2_norm"], "s-", alpha=0.6, label=r"$\|dW_2\|_F$")
    ax2.set(xlabel="initial W1 scale s", ylabel="gradient norm at initialisation",
            title=r"$dW_1 = x^\top (da_1 \circ (1 - a_1^2))$ vanishes")
    ax2.legend(fontsize="small")
    for ax in (ax1, ax2):
        ax.axvline(1.0, color="gray", lw=0.8, ls=":")  # s = 1: LeCun's 1/sqrt(D)
    bins = np.linspace(-1, 1, 41)
    for scale, a1 in hists:
        frac = float(np.mean(np.abs(a1) > thr))
        ax3.hist(np.ravel(a1), bins=bins, alpha=0.55, label=f"s = {scale:g}: {frac:.0%} saturated")
    ax3.set(xlabel="a1 = tanh(z1)", ylabel="count", title="hidden activations at initialisation")
    ax3.legend(fontsize="small")
    N, D, H, C = sweep["shape"]
    fig.suptitle(f"Vanishing gradients from saturated tanh units: N={N}, D={D}, H={H}, C={C}, x ~ N(0, I)")
    save_figure(fig, path)


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
