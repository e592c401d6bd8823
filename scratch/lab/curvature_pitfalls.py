"""Second-order pitfalls (issue 12): each usual mistake in a Hessian-vector product beside the
right code, and proof that it is caught.

The same conventions as the first-order gallery (:mod:`scratch.pitfalls`, whose problem
settings are reused): every faulty ``hvp(params, x, y, v) -> Params`` is built from the pieces
of :mod:`scratch.curvature` with exactly **one** piece swapped for the wrong one, marked
``# BUG`` with the right line beneath as ``# RIGHT``; ``hits`` names the fields of H v it
corrupts on ``caught_on``; ``blind_on`` a setting where it is invisible, and why.
:func:`check_pitfall` runs one through :func:`scratch.curvature.check_product` (which uses the
one comparison, :func:`scratch.compare.check_quantity`) against a curvature oracle (JAX,
torch.func, the complex step) at :func:`scratch.tolerances.curvature_rtol`.
``python -m scratch curvature --pitfalls`` prints the table.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..checks import check_inputs
from ..compare import Check
from ..curvature import (
    check_direction,
    check_product,
    gnvp,
    hvp,
    logit_curvature_product,
    r_forward,
    random_direction,
    target_sums,
    tanh_second_derivative,
)
from ..network import Params, _forward, dz2_fused, tanh_derivative
from ..pitfalls import SETTINGS
from ..tolerances import curvature_rtol

#: The oracles every second-order pitfall is checked against.
ORACLES = ("jax", "torch", "numeric")
#: The fields of H v, as :func:`scratch.curvature.check_product` names them.
FIELDS = tuple(f"(H v).{f}" for f in Params._fields)


# --------------------------------------------------------------------------------------------
# Shared, correct pieces
# --------------------------------------------------------------------------------------------


def _start(params, x, y, v):
    """Validation, the forward pass and its R-twin, and the residual: ``(fwd, tanh', R-forward,
    dz2, da1, is_labels)``."""
    *_, is_labels = check_inputs(params, x, y)
    v = check_direction(params, v)
    fwd = _forward(params, x)  # (1)-(5)
    tg = tanh_derivative(fwd.z1)  # (2')
    rf = r_forward(params, x, v, fwd, tg)  # (1R)-(3R)
    dz2 = dz2_fused(fwd, y, is_labels)  # (4')
    return fwd, tg, rf, dz2, dz2 @ params.W2.T, is_labels  # da1: (3'')


def _finish(params, x, v, fwd, tg, rf, dz2, Rdz2, tanh2):
    """The right rest of the backward R-pass (3'R)-(1'R) from R{dz2} (N, C) and the tanh''
    term ``da1 * tanh''(z1) * R{z1}`` (N, H)."""
    RdW2 = fwd.a1.T @ Rdz2 + rf.Ra1.T @ dz2  # (3'R)
    Rda1 = Rdz2 @ params.W2.T + dz2 @ v.W2.T  # (3''R)
    Rdz1 = Rda1 * tg + tanh2  # (2'R)
    return Params(x.T @ Rdz1, Rdz1.sum(axis=0), RdW2, Rdz2.sum(axis=0))  # (1'R), (3'R)


# --------------------------------------------------------------------------------------------
# The faulty implementations: one wrong piece each
# --------------------------------------------------------------------------------------------


def gauss_newton_for_hessian(params, x, y, v):
    return gnvp(params, x, y, v)  # BUG: G v = J^T H_z J v is only the first term of H v
    # RIGHT: return hvp(params, x, y, v)   H v = G v + sum_nc dz2_nc (d²z2_nc/dθ²) v, the residual term


def forgotten_tanh2(params, x, y, v):
    fwd, tg, rf, dz2, da1, is_labels = _start(params, x, y, v)
    Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2)  # (4'R)
    tanh2 = np.zeros_like(da1)  # BUG: R{tanh'(z1)} forgotten, as if tanh' were a constant
    # RIGHT: tanh2 = da1 * tanh_second_derivative(fwd.z1) * rf.Rz1   (2'R)
    return _finish(params, x, v, fwd, tg, rf, dz2, Rdz2, tanh2)


def tanh2_from_a1(params, x, y, v):
    fwd, tg, rf, dz2, da1, is_labels = _start(params, x, y, v)
    Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2)  # (4'R)
    tanh2 = da1 * (-2 * fwd.a1 * (1 - fwd.a1**2)) * rf.Rz1  # BUG: 1 - a1^2 rounds to 0 where |a1| rounds to 1
    # RIGHT: tanh2 = da1 * tanh_second_derivative(fwd.z1) * rf.Rz1   -2 tanh(z) 4u/(1+u)^2, u = exp(-2|z|)
    return _finish(params, x, v, fwd, tg, rf, dz2, Rdz2, tanh2)


def hz_without_mean(params, x, y, v):
    fwd, tg, rf, dz2, da1, is_labels = _start(params, x, y, v)
    N = x.shape[0]
    Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2) * N  # BUG: H_z = s J, the 1/N of (7) forgotten
    # RIGHT: Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2)   (s / N) J R{z2}   (4'R)
    tanh2 = da1 * tanh_second_derivative(fwd.z1) * rf.Rz1  # (2'R)
    return _finish(params, x, v, fwd, tg, rf, dz2, Rdz2, tanh2)


def hz_without_target_sum(params, x, y, v):
    fwd, tg, rf, dz2, da1, is_labels = _start(params, x, y, v)
    s = target_sums(y, is_labels, x.shape[0], dz2.dtype)
    Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2) / s[:, None]  # BUG: H_z = J / N, s_n dropped
    # RIGHT: Rdz2 = logit_curvature_product(fwd, y, is_labels, rf.Rz2)   (s_n / N) J_n R{z2}_n   (4'R)
    tanh2 = da1 * tanh_second_derivative(fwd.z1) * rf.Rz1  # (2'R)
    return _finish(params, x, v, fwd, tg, rf, dz2, Rdz2, tanh2)


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvaturePitfall:
    """One entry: ``faulty`` (``(params, x, y, v) -> Params``), ``right`` (the core piece that
    does it right, for display), ``hits`` (fields of H v it corrupts on ``caught_on``, a name of
    :data:`scratch.pitfalls.SETTINGS`), ``blind_on`` / ``why_blind`` (where it is invisible)."""

    name: str
    title: str
    story: str
    hits: tuple[str, ...]
    faulty: Callable[..., Params]
    right: Callable[..., Any]
    caught_on: str = "small"
    blind_on: str | None = None
    why_blind: str = ""

    def source(self) -> str:
        """The faulty code, as written in this module."""
        return inspect.getsource(self.faulty)

    def right_source(self) -> str:
        """The right code (the core's piece)."""
        return inspect.getsource(self.right)


LAYER1 = FIELDS[:2]

PITFALLS: dict[str, CurvaturePitfall] = {p.name: p for p in [
    CurvaturePitfall(
        "gauss_newton_for_hessian", "the Gauss-Newton matrix taken for the Hessian",
        "G = J^T H_z J is the Hessian of the loss of the network *linearised* at theta: it keeps the "
        "softmax's curvature and drops sum_nc dz2_nc d²z2_nc/dθ², the network's own curvature weighted by "
        "the residual. It is PSD and a fine preconditioner, but it is not H: H has negative eigenvalues "
        "(saddles) that G cannot show. They coincide only where the residual dz2 vanishes, and in the b2 "
        "component always (z2 is linear in b2 and b2 meets no other parameter in a product).",
        FIELDS[:3], gauss_newton_for_hessian, hvp, "small", "c1", "C = 1: dz2 = 0, so H = G (= 0)"),
    CurvaturePitfall(
        "forgotten_tanh2", "the forgotten tanh'' term",
        "Differentiating dz1 = da1 * tanh'(z1) along v needs the product rule: R{dz1} = R{da1} tanh'(z1) "
        "+ da1 tanh''(z1) R{z1}. Treating tanh'(z1) as a constant of the backward pass (as one does for the "
        "gradient) drops the second term, which only touches the first layer's block.",
        LAYER1, forgotten_tanh2, tanh_second_derivative, "small", "c1", "C = 1: da1 = 0, the term vanishes"),
    CurvaturePitfall(
        "tanh2_from_a1", "tanh'' = -2 a1 (1 - a1^2) in saturation",
        "tanh''(z) = -2 tanh z sech² z. Written from the output a1 as -2 a1 (1 - a1^2) it rounds to 0 "
        "wherever 1 - a1^2 does: |z1| > 9 in float32 (> 18.7 in float64), although |tanh''| ~ 8 exp(-2|z|) "
        "is representable much further. tanh_second_derivative takes sech² from z as 4u/(1+u)^2.",
        LAYER1, tanh2_from_a1, tanh_second_derivative, "confident32", "small",
        "float64, unsaturated units: 1 - a1^2 is accurate"),
    CurvaturePitfall(
        "hz_without_mean", "the 1/N missing from H_z",
        "The loss is a mean, so its Hessian in logit space is (s_n/N) J_n: the 1/N of (7) enters once, as "
        "in the gradient. Forget it and the Gauss-Newton part is N times too large while the residual part "
        "(which carries dz2, already divided by N) is not: H v is wrong by a mixture, not by a factor.",
        FIELDS, hz_without_mean, logit_curvature_product, "small", "n1", "N = 1: the factor 1/N is 1"),
    CurvaturePitfall(
        "hz_without_target_sum", "the target sum s_n missing from H_z",
        "Differentiating dz2 = (yhat s - y)/N once more gives (s/N)(diag yhat - yhat yhat^T): the row sum "
        "s_n of the targets stays. The textbook (diag yhat - yhat yhat^T)/N assumes s_n = 1 (labels, one-hot, "
        "soft labels), just like yhat - y for the gradient; weighted or unnormalised targets expose it.",
        FIELDS, hz_without_target_sum, logit_curvature_product, "unnormalized", "small",
        "labels: every s_n = 1"),
]}


@functools.lru_cache(maxsize=None)
def oracle(name: str) -> Callable[..., Params]:
    """The H v of curvature oracle ``name`` (:data:`ORACLES`)."""
    import oracles.curvature as oc

    return oc.get(name, "hvp")


def check_on(ours: Callable[..., Params], oracle_name: str, setting: str) -> list[Check]:
    """``ours`` against ``oracle_name`` on the problem of ``setting`` with its direction
    (N(0, 1), seeded by the setting), at :func:`scratch.tolerances.curvature_rtol`."""
    s = SETTINGS[setting]
    case = s.case()
    v = random_direction(case.params, [s.seed, 12])
    dims = (case.x.shape[0], *case.params.dims)
    with np.errstate(all="ignore"):
        return check_product(ours, oracle(oracle_name), case.params, case.x, case.y, v,
                             rtol=curvature_rtol(case.params.W1.dtype, dims), label="(H v).")


def check_pitfall(p: CurvaturePitfall, oracle_name: str, setting: str | None = None) -> list[Check]:
    """:func:`check_on` for ``p.faulty`` on ``setting`` (default ``p.caught_on``)."""
    return check_on(p.faulty, oracle_name, setting or p.caught_on)


def gallery(oracle_names: tuple[str, ...] | list[str] = ORACLES) -> list[dict[str, Any]]:
    """Every pitfall against every oracle: per pitfall ``name``, ``title``, ``hits``,
    ``caught_on``, per oracle ``max_rel`` and ``failed`` (fields), ``caught_by``, ``blind_on``."""
    rows = []
    for p in PITFALLS.values():
        row: dict[str, Any] = {"name": p.name, "title": p.title, "hits": list(p.hits), "setting": p.caught_on,
                               "caught_on": SETTINGS[p.caught_on].describe(), "oracles": {}}
        for o in oracle_names:
            checks = check_pitfall(p, o)
            row["oracles"][o] = {"max_rel": max(c.max_rel for c in checks),
                                 "failed": [c.quantity for c in checks if not c.passed]}
        row["caught_by"] = [o for o in oracle_names if row["oracles"][o]["failed"]]
        if p.blind_on:
            row["blind_on"] = SETTINGS[p.blind_on].describe()
            row["why_blind"] = p.why_blind
        rows.append(row)
    return rows
