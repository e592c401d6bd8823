"""Self-contained HTML pages: ``python -m scratch report`` and ``python -m scratch check --html``.

One file each, opened from disk and offline: CSS inline, figures as SVG ``data:`` URIs,
mathematics as MathML converted when the page is built (:mod:`latex2mathml`), code highlighted
by Pygments.  No script, no request of any kind.  The pages render what the lab computes
(:func:`scratch.lab.comparison.compare_sweep`, :func:`scratch.pitfalls.gallery`,
:func:`scratch.lab.accuracy.measure`, ...); nothing here compares anything itself.

Modules: :mod:`.html` (building blocks and the page shell), :mod:`.figures` (SVG figures),
:mod:`.content` (the question, the answer and the derivation, with the tests that check each
claim), :mod:`.report_page` and :mod:`.check_page` (the two pages), :mod:`.provenance`,
:mod:`.verify` (the headless-browser checks the tests run on both pages).
"""

from __future__ import annotations

import importlib

#: module -> the extra of ``scratch-backprop`` that installs it.
EXTRAS = {"latex2mathml": "report", "pygments": "report", "matplotlib": "plot", "mpmath": "cli",
          "torch": "torch", "jax": "jax"}


def missing(modules: tuple[str, ...]) -> str | None:
    """None when every module imports; else a message naming the missing ones and the extras to install."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    if not absent:
        return None
    extras = sorted({EXTRAS[m] for m in absent})
    return (f"the page needs {', '.join(absent)}, not installed: "
            f"pip install 'scratch-backprop[{','.join(extras)}]'")
