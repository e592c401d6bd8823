r"""Which member of the network family is meant: :class:`NetworkSpec`.

The seed network (tanh, mean loss, no regularization) is :data:`SEED`, the default everywhere.
A spec varies three axes, each derived by hand in :mod:`scratch.network`:

- **hidden activation** (eq. 2): ``tanh`` | ``relu`` | ``leaky_relu`` (slope ``alpha``) | ``sigmoid``;
  changes (2) and (2') only (:mod:`scratch.activations`);
- **reduction** (eq. 7): ``mean`` :math:`L = -\frac1N\sum_n PL_n` | ``sum`` :math:`L = -\sum_n PL_n`;
  changes the factor of (7') and so every gradient by N;
- **L2 regularization** with coefficient ``l2`` = λ >= 0 on the weights, in either of the two
  conventions real code uses (``l2_form``):

  - ``"half"``: :math:`R = \frac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)`, gradient :math:`\lambda W`;
  - ``"full"``: :math:`R = \lambda(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)`, gradient :math:`2\lambda W`;

  and the biases regularized too (``l2_biases=True``) or not (default).  The loss reported is
  data loss + R; the penalty is never divided by N (it is a property of the parameters, not of
  the batch).  The two forms are the same function with λ doubled: ``half`` with λ is
  ``full`` with λ/2 (:meth:`NetworkSpec.l2_grad_coefficient` is the invariant).

``dz2`` and ``dz1`` are not changed by L2 (the penalty does not depend on z); ``dz2`` is the same
for every activation (the softmax/cross-entropy part never sees the hidden layer).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import numpy as np

from .activations import ACTIVATIONS, _check_alpha

REDUCTIONS = ("mean", "sum")
L2_FORMS = ("half", "full")
#: The largest λ accepted: beyond it the penalty swamps any data loss and the check is meaningless.
MAX_L2 = 1e6


@dataclass(frozen=True)
class NetworkSpec:
    """One member of the family (see the module docstring); the defaults are the seed network.

    Parameters
    ----------
    activation : {"tanh", "relu", "leaky_relu", "sigmoid"}
        The hidden activation of eq. (2).
    alpha : float in [0, 1)
        The negative slope of ``leaky_relu`` (ignored, and must stay at its default, otherwise).
    l2 : float >= 0
        λ, the L2 coefficient (0: no regularization).
    l2_form : {"half", "full"}
        ``"half"``: (λ/2)‖W‖², gradient λW; ``"full"``: λ‖W‖², gradient 2λW.
    l2_biases : bool
        Regularize b1 and b2 too (default False: the weights only).
    reduction : {"mean", "sum"}
        Eq. (7): the mean or the sum over the N samples.

    A bad value raises ``ValueError`` naming the field.
    """

    activation: str = "tanh"
    alpha: float = 0.01
    l2: float = 0.0
    l2_form: str = "half"
    l2_biases: bool = False
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        _check_alpha(self.alpha)
        if self.activation != "leaky_relu" and float(self.alpha) != 0.01:
            raise ValueError(f"alpha is the leaky_relu slope; activation {self.activation!r} takes none "
                             f"(got alpha={self.alpha!r})")
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float, np.floating, np.integer)) \
                or not math.isfinite(self.l2) or not 0.0 <= float(self.l2) <= MAX_L2:
            raise ValueError(f"l2 (lambda) must be a finite number in [0, {MAX_L2:g}], got {self.l2!r}")
        if self.l2_form not in L2_FORMS:
            raise ValueError(f"l2_form must be one of {', '.join(L2_FORMS)} ('half': (lambda/2)||W||^2, "
                             f"gradient lambda W; 'full': lambda ||W||^2, gradient 2 lambda W), got {self.l2_form!r}")
        if not isinstance(self.l2_biases, (bool, np.bool_)):
            raise ValueError(f"l2_biases must be True or False, got {self.l2_biases!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "l2", float(self.l2))
        object.__setattr__(self, "l2_biases", bool(self.l2_biases))

    # ---------------------------------------------------------------------------------------
    @property
    def is_seed(self) -> bool:
        """True for the seed network (tanh, mean, no L2), whatever the unused L2 options say."""
        return self.activation == "tanh" and self.reduction == "mean" and self.l2 == 0.0

    def canonical(self) -> "NetworkSpec":
        """The same function written one way: no L2 options without L2, and L2 in the ``half``
        form (``full`` with λ is ``half`` with 2λ).  Two specs compute the same loss and
        gradients exactly when their canonical forms are equal."""
        if self.l2 == 0.0:
            return replace(self, l2_form="half", l2_biases=False)
        return replace(self, l2=self.l2_grad_coefficient, l2_form="half")

    @property
    def l2_grad_coefficient(self) -> float:
        """k in dR/dW = k W: λ for ``half``, 2λ for ``full``."""
        return self.l2 * (1.0 if self.l2_form == "half" else 2.0)

    def tag(self) -> str:
        """A short id for case ids and file names: ``""`` for the seed network, else e.g.
        ``relu-sum-l2half1e-03`` (only what differs from the seed)."""
        parts = []
        if self.activation != "tanh":
            parts.append(self.activation + (f"{self.alpha:g}" if self.activation == "leaky_relu" and self.alpha != 0.01 else ""))
        if self.reduction != "mean":
            parts.append(self.reduction)
        if self.l2:
            parts.append(f"l2{self.l2_form}{self.l2:.0e}" + ("b" if self.l2_biases else ""))
        return "-".join(parts)

    def describe(self) -> str:
        """In words: ``relu, reduction sum, L2 (lambda/2)||W||^2 with lambda = 0.001 on weights only``."""
        act = self.activation + (f" (alpha = {self.alpha:g})" if self.activation == "leaky_relu" else "")
        text = f"{act}, reduction {self.reduction}"
        if self.l2:
            form = "(lambda/2)||W||^2" if self.l2_form == "half" else "lambda ||W||^2"
            text += f", L2 {form} with lambda = {self.l2:g} on " + ("weights and biases" if self.l2_biases else "weights only")
        else:
            text += ", no L2"
        return text + (" (the seed network)" if self.is_seed else "")

    def __str__(self) -> str:
        return self.describe()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what a case-file manifest and a grading config record)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "NetworkSpec":
        """The spec of ``d`` (missing fields take their defaults; ``None`` or ``{}`` is the seed
        network).  An unknown field raises ``ValueError`` naming it."""
        if d is None:
            return SEED
        if not isinstance(d, Mapping):
            raise ValueError(f"a network spec must be a mapping of {', '.join(f.name for f in fields(cls))}, "
                             f"got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, d)) - known)
        if unknown:
            raise ValueError(f"unknown network spec field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return cls(**dict(d))

    # ---------------------------------------------------------------------------------------
    def scale(self, N: int) -> float:
        """The factor of eq. (7'): ``1/N`` for the mean, ``1`` for the sum."""
        return 1.0 / N if self.reduction == "mean" else 1.0

    def penalty(self, params: Any) -> Any:
        r"""R(params), a scalar of the parameters' dtype: ``(λ/2)Σ‖W‖²`` or ``λΣ‖W‖²`` over W1, W2
        (and b1, b2 when ``l2_biases``); 0 without L2."""
        W1, b1, W2, b2 = params
        if not self.l2:
            return W1.dtype.type(0)
        arrays = (W1, b1, W2, b2) if self.l2_biases else (W1, W2)
        sq = sum(np.sum(p * p) for p in arrays)  # sum of squares ||W1||^2 + ||W2||^2 (+ ||b||^2)
        half = 0.5 if self.l2_form == "half" else 1.0
        return W1.dtype.type(half * self.l2) * sq  # (8) R = (lambda/2) sum ||W||^2  or  lambda sum ||W||^2

    def penalty_grads(self, params: Any) -> tuple[Any, Any, Any, Any] | None:
        """(8') dR/dW1, dR/db1, dR/dW2, dR/db2 = k W (k = :attr:`l2_grad_coefficient`); zeros for
        unregularized biases; ``None`` without L2."""
        if not self.l2:
            return None
        W1, b1, W2, b2 = params
        k = W1.dtype.type(self.l2_grad_coefficient)
        return (k * W1, k * b1 if self.l2_biases else np.zeros_like(b1),
                k * W2, k * b2 if self.l2_biases else np.zeros_like(b2))

    def require_seed(self, who: str) -> None:
        """Raise ``ValueError`` when this is not the seed network: ``who`` implements only that."""
        if not self.is_seed:
            raise ValueError(f"{who} implements the seed network only (tanh, reduction mean, no L2); "
                             f"got spec {self.describe()}")


#: The seed network: tanh, mean over samples, no regularization.
SEED = NetworkSpec()


def as_spec(spec: Any) -> NetworkSpec:
    """``spec`` as a :class:`NetworkSpec`: a spec, ``None`` (the seed), or a mapping of its fields."""
    if spec is None:
        return SEED
    if isinstance(spec, NetworkSpec):
        return spec
    if isinstance(spec, Mapping):
        return NetworkSpec.from_dict(spec)
    raise TypeError(f"spec must be a scratch.NetworkSpec (or a mapping of its fields), got {type(spec).__name__}")
