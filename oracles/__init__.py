"""Reference implementations of the same network: gradients from autograd or numerics.

Each oracle module exposes ``loss_and_grads(params, x, y) -> (loss, scratch.Grads)`` with the
signature and return type of :func:`scratch.loss_and_grads`: NumPy arrays out, in the input dtype.

Use :func:`get` to fetch one by name; a missing framework raises :class:`MissingFramework`
naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Callable

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


def require(module: str, extra: str) -> object:
    """Import ``module`` or raise :class:`MissingFramework` naming the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingFramework(
            f"the {extra!r} oracle needs {module!r}, which is not installed: "
            f"pip install 'scratch-backprop[{extra}]'"
            + (" (first `pip install torch==2.13.0` for the CPU build)" if extra == "torch" else "")
        ) from exc


def get(name: str) -> Callable:
    """Return the ``loss_and_grads`` function of oracle ``name`` (one of :data:`REGISTRY`)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown oracle {name!r}; expected one of {sorted(REGISTRY)}")
    module, _ = REGISTRY[name]
    return importlib.import_module(module).loss_and_grads
