r"""``python -m scratch saturation``: vanishing gradients from saturated tanh units, as a picture.

What the sweep measures, and the prediction it is held against: :mod:`scratch.lab.saturation`.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ...argtypes import seed
from ..errors import UsageError
from ..plots import require_matplotlib, saturation_figure
from ..report import print_table, write_json
from ..saturation import SCALES, saturation_sweep
from ._options import add_json_option, add_plot_option, positive_int_upto

#: Upper bound of ``--hidden`` (exit 2 above it, before any work).
MAX_HIDDEN = 10_000


def register(sub: Any) -> None:
    """Add the ``saturation`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "saturation",
        help="plot saturated tanh units and the vanishing dW1 against the initial weight scale",
        description="Sweep the initial W1 scale (x LeCun 1/sqrt(D)) on x ~ N(0, I); print and plot the fraction "
        "of saturated tanh units and the norm of dW1 at initialisation, next to histograms of a1 for a good "
        "and a bad scale.",
    )
    add_plot_option(p, "the figure (saturated fraction and ||dW1|| against the scale; a1 histograms)")
    add_json_option(p, "the sweep")
    p.add_argument("--good", type=float, default=1.0, help="the good scale for the histogram (default 1, LeCun)")
    p.add_argument("--bad", type=float, default=10.0, help="the bad scale for the histogram (default 10)")
    p.add_argument("--hidden", type=positive_int_upto(MAX_HIDDEN), default=128, metavar="H",
                   help=f"hidden units, at most {MAX_HIDDEN:,} (default 128)")
    p.add_argument("--seed", type=seed, default=0, help="seed of x, the labels and W1 (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch saturation``; return the exit status (0 ok, 1 a check failed)."""
    for name, v in (("--good", args.good), ("--bad", args.bad)):
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be a finite number > 0, got {v}")
    if args.plot:
        require_matplotlib(UsageError)  # before the sweep, not after it
    scales = sorted(set(SCALES) | {args.good, args.bad})
    sweep = saturation_sweep(scales, H=args.hidden, seed=args.seed)
    print_table(
        f"tanh saturation at initialisation (|a1| > {sweep['threshold']}), shape N,D,H,C = {sweep['shape']}",
        ["W1 scale", "saturated", "predicted", "||dW1||", "||dW1||/||W1||", "||dW2||"],
        [[f"{s:.3g}", f"{f:.3f}", f"{q:.3f}", d1, r1, d2] for s, f, q, d1, r1, d2 in
         zip(sweep["scale"], sweep["saturated"], sweep["predicted"], sweep["dW1_norm"], sweep["dW1_relative"],
             sweep["dW2_norm"])],
    )
    if args.plot:
        saturation_figure(args.plot, sweep, [(args.good, sweep["a1"][args.good]), (args.bad, sweep["a1"][args.bad])])
    if args.json:
        write_json(args.json, {k: v for k, v in sweep.items() if k != "a1"})
    return 0
