"""Figures of the pages, as SVG ``data:`` URIs (matplotlib, Agg canvas, no pyplot).

:func:`svg_uri` turns a matplotlib figure into a URI; :func:`saved_uri` does it for the
commands' own figure writers (``scratch.lab.plots.training_figure``, ...), which write to a path.
The figures drawn here (the comparison, the float32 accuracy, the error heatmaps) plot numbers
computed elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..plots import new_figure

#: rc settings for every SVG: stable ids, text as paths (no font needed where it is opened).
SVG_RC = {"svg.hashsalt": "scratch-page", "svg.fonttype": "path", "font.size": 9.0}
#: Values below this are drawn at it on log axes (an error of exactly 0).
LOG_FLOOR = 1e-18


def data_uri(payload: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def svg_uri(fig: Any) -> str:
    """A matplotlib figure as an SVG ``data:`` URI (no date in the metadata, stable ids)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return data_uri(buf.getvalue(), "image/svg+xml")


def saved_uri(draw: Callable[[str], Any]) -> str:
    """Call ``draw(path)`` with a temporary ``.svg`` path (one of the commands' figure writers)
    and return the file as a ``data:`` URI."""
    import matplotlib

    with tempfile.TemporaryDirectory() as tmp, matplotlib.rc_context(SVG_RC), \
            contextlib.redirect_stdout(io.StringIO()):  # the writers say "wrote <temporary path>"
        path = Path(tmp) / "figure.svg"
        draw(str(path))
        return data_uri(path.read_bytes(), "image/svg+xml")


def _floor(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(v), np.maximum(v, LOG_FLOOR), np.nan)


def comparison_figure(by_oracle: Sequence[Mapping[str, Any]], quantities: Sequence[str]) -> str:
    """Worst relative error per quantity and oracle (log scale) against the tolerance, one panel per dtype.

    ``by_oracle``: rows of :func:`scratch.lab.comparison.compare_sweep`'s ``by_oracle``
    (``quantity``, ``dtype``, ``oracle``, ``max_rel``, ``rtol_min``, ``rtol_max``).
    """
    dtypes = list(dict.fromkeys(r["dtype"] for r in by_oracle))
    oracles = list(dict.fromkeys(r["oracle"] for r in by_oracle))
    fig = new_figure((3.9 * len(dtypes) + 0.6, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(dtypes), sharey=True))
    x = np.arange(len(quantities))
    markers = ["o", "s", "^", "D"]
    for ax, dtype in zip(axes, dtypes):
        rows = {(r["quantity"], r["oracle"]): r for r in by_oracle if r["dtype"] == dtype}
        lo = min(r["rtol_min"] for r in rows.values())
        hi = max(r["rtol_max"] for r in rows.values())
        if hi > lo * 1.01:
            ax.axhspan(lo, hi, color="tab:red", alpha=0.15, lw=0, label=f"tolerance {lo:.1e}..{hi:.1e}")
        ax.axhline(lo, color="tab:red", lw=1.2, ls="--", label=None if hi > lo * 1.01 else f"tolerance {lo:.0e}")
        width = 0.55 / max(len(oracles), 1)
        for k, o in enumerate(oracles):
            vals = _floor([rows[(q, o)]["max_rel"] if (q, o) in rows else math.nan for q in quantities])
            ax.semilogy(x + (k - (len(oracles) - 1) / 2) * width, vals, markers[k % 4], ms=5, label=o,
                        color=f"C{k}", ls="none")
        ax.set_xticks(x, quantities)
        ax.set_title(f"{dtype}" + (" (vs float64 truth)" if dtype == "float32" else ""))
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.set_ylim(LOG_FLOOR / 3, 1e-2)
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.1), ncols=3, frameon=False,
                  borderaxespad=0)
    axes[0].set_ylabel("worst relative error")
    return svg_uri(fig)


def accuracy_figure(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], goals: Mapping[str, float]) -> str:
    """Float32 elementwise relative error against the exact gradients, per quantity and
    implementation (log scale), with scratch's goals as short lines.  ``rows``: those of
    :func:`scratch.lab.accuracy.measure` (``implementation``, ``dtype``, one number per key)."""
    f32 = [r for r in rows if r["dtype"] == "float32"]
    fig = new_figure((7.2, 3.1))
    ax = fig.add_subplot()
    x = np.arange(len(keys))
    width = 0.8 / max(len(f32), 1)
    for k, r in enumerate(f32):
        vals = _floor([r[q] for q in keys])
        ax.bar(x + (k - (len(f32) - 1) / 2) * width, vals, width * 0.92, label=r["implementation"], color=f"C{k}",
               bottom=LOG_FLOOR)
    for i, q in enumerate(keys):
        if q in goals:
            ax.hlines(goals[q], i - 0.45, i + 0.45, color="k", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(1e-9, 3e3)  # room above 1 for the legend
    ax.set_xticks(x, keys)
    ax.set_ylabel("max elementwise relative error")
    ax.set_title("float32 against the 60-digit truth (dashed: scratch's goal)")
    ax.legend(fontsize=7, ncols=len(f32), loc="upper center", frameon=False)
    ax.grid(True, axis="y", alpha=0.3)
    return svg_uri(fig)


def heatmap_figure(err: np.ndarray, *, title: str, row_label: str, col_label: str, rtol: float,
                   marks: Sequence[tuple[int, int]] = ()) -> str:
    """The elementwise relative error of one gradient as an image (log colour scale).

    Parameters
    ----------
    err : (R, K) array of ``|got - ref| / |ref|`` (inf where ``ref`` is 0 and ``got`` is not;
        nan where either is not finite).
    title, row_label, col_label : texts.
    rtol : the case's tolerance, drawn on the colour bar.
    marks : (row, column) cells to outline (e.g. each sample's true class).
    """
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    R, K = err.shape
    finite = err[np.isfinite(err)]
    top = max(float(finite.max()) if finite.size else 1.0, rtol * 10, 1e-12)
    bottom = max(min(float(finite[finite > 0].min()) if np.any(finite > 0) else top / 1e6, rtol / 100), 1e-17)
    w = 5.0
    h = float(np.clip(4.2 * R / K, 1.4, 4.2)) + 1.0  # the picture's own proportions, within a screen
    fig = new_figure((w, h))
    ax = fig.add_subplot()
    shown = np.where(np.isfinite(err), np.clip(err, bottom, top), np.nan)
    cmap = ListedColormap(np.vstack([np.linspace([0.97, 0.97, 0.97, 1], [0.99, 0.85, 0.55, 1], 64),
                                     np.linspace([0.99, 0.85, 0.55, 1], [0.55, 0.0, 0.1, 1], 192)])
                          ).with_extremes(bad="#1a1a1a")  # non-finite: black
    im = ax.imshow(np.ma.masked_invalid(shown), norm=LogNorm(bottom, top), cmap=cmap, aspect="auto",
                   interpolation="nearest")
    for r, c in marks:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="tab:blue", lw=0.8))
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=9)
    for axis, n in ((ax.xaxis, K), (ax.yaxis, R)):
        axis.set_major_locator(MaxNLocator(nbins=min(n, 8), integer=True))
    if R == 1:
        ax.set_yticks([])
    cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
    cb.set_label("relative error", fontsize=8)  # the blue line (the tolerance) is told in the caption
    if bottom <= rtol <= top:
        cb.ax.axhline(rtol, color="tab:blue", lw=2)
    return svg_uri(fig)
