"""scratch: a two-layer tanh/softmax network with every gradient derived by hand in NumPy.

    z1 = x W1 + b1 (1)   a1 = tanh z1 (2)   z2 = a1 W2 + b2 (3)   yhat = softmax z2 (4)
    l = log yhat (5)     PL_n = l_n . y_n (6)   L = -(1/N) sum_n PL_n (7)

The public API: :class:`Params`, :class:`Grads`, :func:`init_params`, :func:`forward`,
:func:`loss`, :func:`loss_and_grads` (``route="fused" | "staged"``), :func:`dz2_fused`,
:func:`dz2_staged`, the softmax helpers, and the allocation-free fast path
:class:`Workspace` (``loss_and_grads(..., workspace=ws)``) with :func:`sgd_step`; the second
order (:mod:`scratch.curvature`); the family (:class:`NetworkSpec`, :mod:`scratch.spec`: relu,
leaky_relu and sigmoid hidden layers, L2 penalties, summed losses; the seed network :data:`SEED`
is the default everywhere): :func:`hvp`, :func:`gnvp`, :func:`hessian_terms`, :func:`r_grads`.  See :mod:`scratch.network` for the derivation.

This package is the product: the network and its checks, and the conformance kit
(:mod:`scratch.testing`, its pytest plugin, case files, peers).  The lab around it (pitfall
galleries, accuracy, training, benchmarks, figures, the HTML pages and the command line
``python -m scratch``) is :mod:`scratch.lab`; importing :mod:`scratch` imports none of it.
"""

from .network import (
    ROUTES,
    Forward,
    Grads,
    Params,
    Staged,
    backward,
    dz2_fused,
    dz2_staged,
    forward,
    init_params,
    loss,
    loss_and_grads,
    one_hot,
    predict,
    tanh_derivative,
)
from .spec import L2_FORMS, REDUCTIONS, SEED, NetworkSpec
from .activations import ACTIVATIONS
from .curvature import gnvp, hessian_terms, hvp, r_grads, random_direction, tanh_second_derivative
from .softmax import log_softmax, logsumexp, softmax, softmax_jacobian, softmax_vjp
from .workspace import Workspace, sgd_step

__all__ = [
    "ACTIVATIONS",
    "L2_FORMS",
    "NetworkSpec",
    "REDUCTIONS",
    "ROUTES",
    "SEED",
    "Forward",
    "Grads",
    "Params",
    "Staged",
    "Workspace",
    "backward",
    "dz2_fused",
    "dz2_staged",
    "forward",
    "gnvp",
    "hessian_terms",
    "hvp",
    "init_params",
    "log_softmax",
    "logsumexp",
    "loss",
    "loss_and_grads",
    "one_hot",
    "predict",
    "r_grads",
    "random_direction",
    "sgd_step",
    "softmax",
    "softmax_jacobian",
    "softmax_vjp",
    "tanh_derivative",
    "tanh_second_derivative",
]
