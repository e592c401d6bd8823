"""Reference implementations of the same network: gradients from autograd or numerics.

Each oracle module exposes ``loss_and_grads(params, x, y) -> (loss, scratch.Grads)`` with the
signature and return type of :func:`scratch.loss_and_grads`: NumPy arrays out, in the input dtype.

Use :func:`get` to fetch one by name; a missing framework raises :class:`MissingFramework`
naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

#: name -> (module, the pip extra that provides its framework or None)
REGISTRY: dict[str, tuple[str, str | None]] = {
    "torch": ("oracles.torch_oracle", "torch"),
    "jax": ("oracles.jax_oracle", "jax"),
    "numeric": ("oracles.numeric", None),
}

#: The autograd oracles, compared against on every case.
AUTOGRAD = ("torch", "jax")


class MissingFramework(ImportError):
    """An oracle's framework is not installed."""


def require(module: str, extra: str, who: str | None = None) -> object:
    """Import ``module`` or raise :class:`MissingFramework` naming the pip extra to install;
    ``who`` names what needs it (default: "the '<extra>' oracle")."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingFramework(
            f"{who or f'the {extra!r} oracle'} needs {module!r}, which is not installed: "
            f"pip install 'scratch-backprop[{extra}]'"
            + (" (install the CPU build of torch first: pip install torch --index-url "
               "https://download.pytorch.org/whl/cpu)" if extra == "torch" else "")
        ) from exc


def get(name: str) -> Callable:
    """Return the ``loss_and_grads`` function of oracle ``name`` (one of :data:`REGISTRY`)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown oracle {name!r}; expected one of {sorted(REGISTRY)}")
    module, _ = REGISTRY[name]
    return importlib.import_module(module).loss_and_grads


def as_result(
    oracle: str, dtype: Any, loss: Any, dz2: Any, dW2: Any, db2: Any, dz1: Any, dW1: Any, db1: Any, *, hint: str = ""
) -> tuple:
    """Pack an oracle's outputs as ``(loss scalar, scratch.Grads)`` of NumPy arrays, asserting
    that every one carries the input ``dtype`` (no silent upcast, no float32 JAX); ``hint`` is
    appended to the assertion message."""
    from scratch.network import Grads

    arrays = [np.asarray(a) for a in (loss, dz2, dW2, db2, dz1, dW1, db1)]
    for a in arrays:
        assert a.dtype == dtype, f"{oracle} oracle returned {a.dtype}, expected the input dtype {dtype}{hint}"
    return arrays[0][()], Grads(*arrays[1:])
