"""Calling someone else's implementation: the signatures and return values the kit accepts.

A user's function is called in one of two documented ways (``signature=``):

- ``"params"`` (default): ``fn(params, x, y)`` with ``params`` a :class:`scratch.Params`
  (``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,); it unpacks like a tuple);
- ``"arrays"``: ``fn(W1, b1, W2, b2, x, y)``;
- ``"model"``: ``fn`` is a class (or factory) of models with a ``params`` dict and a
  ``loss(X, y)`` method returning ``(loss, grads)``, the layout of the CS231n ``TwoLayerNet``
  assignment: see :func:`from_model` for exactly how the kit builds one per case.

``x`` is (N, D); ``y`` int labels (N,) or float targets (N, C), in the case's dtype.  It may
return:

- ``(loss, grads)`` with ``grads`` a :class:`scratch.Grads`, any NamedTuple or dataclass with
  those field names, or a mapping with keys ``dW1 db1 dW2 db2`` and optionally ``dz1 dz2``;
- one mapping with ``"loss"`` and those keys.

``dz1`` (N, H) and ``dz2`` (N, C) are optional: what is not returned is "not checked", never
a failure.  Arrays may be NumPy arrays or anything NumPy converts without copying through
Python (``__array__``: JAX arrays, detached CPU torch tensors).  Anything else (a tuple of
gradients in an unknown order, lists, a missing key) raises :class:`ImplementationError`
saying what was returned and what was expected.

Conventions of real code that are not mistakes are accepted, and said (each a note of
:attr:`Outputs.notes`, printed once in the report):

- biases' gradients returned as ``(1, H)`` / ``(1, C)`` rows (``np.sum(dz, axis=0,
  keepdims=True)``, or biases stored as rows) are read as ``(H,)`` / ``(C,)``; their values are
  still checked, so the note never hides a wrong value;
- gradients keyed by the parameter's name (``W1 b1 W2 b2``, as in ``grads["W1"]``) are read as
  ``dW1 db1 dW2 db2``.  A mapping mixing both spellings (``dW1`` and ``W1``) is ambiguous and
  raises :class:`ImplementationError`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Callable

import numpy as np

#: How the kit calls an implementation.
SIGNATURES = {"params": "fn(params, x, y)", "arrays": "fn(W1, b1, W2, b2, x, y)",
              "model": "Model().loss(X, y) -> (loss, grads) after Model().params = {W1 b1 W2 b2}"}
#: What every implementation must return, and what it may.
REQUIRED = ("loss", "dW1", "db1", "dW2", "db2")
OPTIONAL = ("dz1", "dz2")
EXPECTED = (
    "(loss, grads) with grads a mapping (or NamedTuple/dataclass) with dW1 db1 dW2 db2 [dz1 dz2] "
    "(or W1 b1 W2 b2), or one mapping with loss dW1 db1 dW2 db2 [dz1 dz2]"
)
#: Gradient keys by parameter name (``grads["W1"]``, the CS231n layout) -> the kit's names.
PARAM_KEYS = {"W1": "dW1", "b1": "db1", "W2": "dW2", "b2": "db2"}
#: The notes of the two accepted conventions (one text each, so a report prints each once).
NOTE_BIAS_ROWS = ("bias gradients returned as (1, H) / (1, C) rows were read as (H,) / (C,) "
                  "(a convention, not a mistake; their values are checked as usual)")
NOTE_PARAM_KEYS = "gradients keyed by parameter name (W1 b1 W2 b2) were read as dW1 db1 dW2 db2"

#: Every note the adapter can make (a worker's reply is read against this list).
NOTES = (NOTE_BIAS_ROWS, NOTE_PARAM_KEYS)


class Outputs(dict):
    """What :func:`read_outputs` returns: quantity -> array (or None), plus ``notes``, the
    conventions that were accepted while reading it (:data:`NOTE_BIAS_ROWS`, :data:`NOTE_PARAM_KEYS`)."""

    def __init__(self, *args: Any, notes: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: tuple[str, ...] = tuple(notes)


class ImplementationError(TypeError):
    """The implementation cannot be called as declared, or returned something the kit cannot
    read (a structural problem, not a wrong number)."""


def describe(value: Any) -> str:
    """A short description of a returned value: its type, and shape/dtype for arrays."""
    if isinstance(value, np.ndarray):
        return f"ndarray {value.shape} {value.dtype}"
    if isinstance(value, np.generic):
        return f"NumPy scalar {value.dtype}"
    if isinstance(value, (tuple, list)):
        kind = type(value).__name__
        return f"{kind} of {len(value)}" + (f" ({', '.join(describe(v) for v in value[:6])})" if value else "")
    if isinstance(value, Mapping):
        return f"{type(value).__name__} with keys {sorted(map(str, value))}"
    return type(value).__name__


def check_signature(fn: Callable, signature: str) -> None:
    """Raise :class:`ImplementationError` when ``fn`` cannot take the arguments of ``signature``
    (checked on the signature alone, before any case runs; skipped where Python cannot inspect it)."""
    if signature not in SIGNATURES:
        raise ValueError(f"signature must be one of {', '.join(SIGNATURES)}, got {signature!r}")
    if not callable(fn):
        raise ImplementationError(f"the implementation must be callable, got {type(fn).__name__}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    if signature == "model":
        if isinstance(fn, type) and not callable(getattr(fn, "loss", None)):
            raise ImplementationError(f"{fn.__qualname__} has no loss(X, y) method; signature 'model' expects "
                                      f"{SIGNATURES['model']}")
        return
    n = 3 if signature == "params" else 6
    try:
        sig.bind(*range(n))
    except TypeError as exc:
        other = "arrays" if signature == "params" else "params"
        raise ImplementationError(
            f"{getattr(fn, '__name__', 'the implementation')}{sig} cannot be called as {SIGNATURES[signature]} "
            f"({exc}); if it takes {SIGNATURES[other]}, say signature={other!r} (CLI: --signature {other})"
        ) from None


def call(fn: Callable, signature: str, params: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """Call ``fn`` on one case the way ``signature`` says."""
    if signature == "arrays":
        return fn(*params, x, y)
    if signature == "model":
        return from_model(fn)(params, x, y)
    return fn(params, x, y)


def from_model(factory: Callable[..., Any]) -> Callable[[Any, np.ndarray, np.ndarray], Any]:
    """A ``fn(params, x, y)`` that checks a class-based model: an object with a ``params`` dict
    (``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,)) and a ``loss(X, y)`` method returning
    ``(loss, grads)`` with ``grads`` keyed ``W1 b1 W2 b2`` (the CS231n ``TwoLayerNet`` layout).

    On every call (every case, and the repeat call) the kit builds a fresh object and sets
    its parameters, exactly so::

        model = factory(D, H, C)        # when factory accepts three positional arguments
        model = factory()               # otherwise
        model.params = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
        return model.loss(x, y)

    so the initial weights ``__init__`` draws are replaced by the case's.  ``factory`` is the
    class itself (``TwoLayerNet``, whose ``__init__(input_size, hidden_size, output_size, ...)``
    takes D, H, C) or any callable returning such an object, e.g.
    ``lambda: TwoLayerNet(3, 5, 3, reg=0.0)`` (dims are ignored by the kit's assignment).
    A regularization strength the model takes in ``__init__`` is the user's to fix in the
    factory; the kit's ``spec`` says what to expect (``l2``, ``l2_form``).

    Parameters
    ----------
    factory : class or callable returning the model object.

    Returns
    -------
    callable ``fn(params, x, y)``, usable with ``signature="params"``.

    Raises
    ------
    ImplementationError
        (when called) the object has no ``loss`` method, or ``factory`` cannot be called.
    """
    if not callable(factory):
        raise ImplementationError(f"the model factory must be a class or callable, got {type(factory).__name__}")
    try:
        inspect.signature(factory).bind(0, 0, 0)
        takes_dims = True
    except TypeError:
        takes_dims = False
    except ValueError:  # no signature Python can inspect
        takes_dims = False
    name = getattr(factory, "__qualname__", type(factory).__name__)

    def model_loss_and_grads(params: Any, x: np.ndarray, y: np.ndarray) -> Any:
        W1, b1, W2, b2 = params
        D, H = np.shape(W1)
        C = np.shape(W2)[1]
        model = factory(D, H, C) if takes_dims else factory()
        if not callable(getattr(model, "loss", None)):
            raise ImplementationError(f"{name}() built a {type(model).__name__} with no loss(X, y) method; "
                                      "signature 'model' expects an object with a params dict and loss(X, y)")
        model.params = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
        return model.loss(x, y)

    model_loss_and_grads.__qualname__ = model_loss_and_grads.__name__ = f"{name}().loss"
    model_loss_and_grads.__module__ = getattr(factory, "__module__", None)  # type: ignore[assignment]
    return model_loss_and_grads


def _as_array(name: str, value: Any) -> np.ndarray:
    """A private copy of ``value`` (an implementation may return views of buffers it reuses)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.array(value, copy=True)
    if isinstance(value, float) and name == "loss":
        return np.array(value)  # a Python float is a float64: the dtype check says so in a float32 case
    if isinstance(value, (list, tuple)):
        raise ImplementationError(f"{name} is a {type(value).__name__}; expected a NumPy array (np.asarray it first)")
    if isinstance(value, (int, bool)) or value is None:
        raise ImplementationError(f"{name} is {value!r}; expected a NumPy array")
    if hasattr(value, "__array__"):
        try:
            return np.array(value, copy=True)
        except Exception as exc:  # e.g. a torch tensor that requires grad
            raise ImplementationError(f"{name}: NumPy cannot read {type(value).__name__} ({exc}); "
                                      "return a NumPy array (torch: .detach().cpu().numpy())") from None
    raise ImplementationError(f"{name} is a {type(value).__name__}; expected a NumPy array")


def _named(obj: Any) -> Mapping | None:
    """A mapping view of a mapping, NamedTuple or dataclass; None for anything else."""
    if isinstance(obj, Mapping):
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return obj._asdict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    return None


def _param_keyed(grads: Mapping) -> tuple[Mapping, tuple[str, ...]]:
    """``grads`` with the kit's keys: parameter-name keys (``W1``) renamed (``dW1``), noted;
    a mapping that mixes both spellings raises :class:`ImplementationError`."""
    keys = {str(k) for k in grads}
    by_param = keys & set(PARAM_KEYS)
    if not by_param:
        return grads, ()
    by_grad = keys & set(PARAM_KEYS.values())
    if by_grad:
        raise ImplementationError(
            f"the gradients have keys {sorted(keys)}: both parameter names ({', '.join(sorted(by_param))}) and "
            f"gradient names ({', '.join(sorted(by_grad))}), so which is the gradient is ambiguous; "
            "key the gradients dW1 db1 dW2 db2, or W1 b1 W2 b2, not both")
    return {PARAM_KEYS.get(str(k), k): v for k, v in grads.items()}, (NOTE_PARAM_KEYS,)


def read_outputs(ret: Any) -> Outputs:
    """The quantities in a returned value: ``{"loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2"}``
    -> array, or None for an optional one that was not returned; ``.notes`` lists the accepted
    conventions (gradients keyed ``W1``, bias rows ``(1, H)`` read as ``(H,)``).

    Raises
    ------
    ImplementationError
        Saying what was returned and what was expected, for anything this cannot read.
    """
    named = _named(ret)
    if named is not None and "loss" in named:
        loss, grads = named["loss"], {k: v for k, v in named.items() if k != "loss"}
    elif isinstance(ret, tuple) and len(ret) == 2 and _named(ret) is None:
        loss, grads = ret
        grads_named = _named(grads)
        if grads_named is None:
            hint = (" (a plain sequence has no names, so the order of the gradients is unknown)"
                    if isinstance(grads, (tuple, list)) else "")
            raise ImplementationError(f"returned (loss, {describe(grads)}){hint}; expected {EXPECTED}")
        grads = grads_named
    else:
        raise ImplementationError(f"returned {describe(ret)}; expected {EXPECTED}")
    grads, notes = _param_keyed(grads)
    keys = [str(k) for k in grads]
    missing = [k for k in REQUIRED[1:] if k not in grads or grads[k] is None]
    if missing:
        hints = [f"{k!r} for {m}" for m in missing for k in difflib.get_close_matches(m, keys, n=1, cutoff=0.6)]
        raise ImplementationError(
            f"the gradients have keys {keys}: missing {', '.join(missing)}"
            + (f" (did you mean {', '.join(hints)}?)" if hints else "") + f"; expected {EXPECTED}"
        )
    out = Outputs({"loss": _as_array("loss", loss)})
    for k in REQUIRED[1:] + OPTIONAL:
        out[k] = None if grads.get(k) is None else _as_array(k, grads[k])
    rows = [k for k in ("db1", "db2") if out[k] is not None and out[k].ndim == 2 and out[k].shape[0] == 1]
    for k in rows:  # (1, H) -> (H,): a row, read as the vector it holds; the values are compared as usual
        out[k] = out[k].reshape(out[k].shape[1])
    out.notes = notes + ((NOTE_BIAS_ROWS,) if rows else ())
    return out


def load_function(spec: str) -> Callable:
    """The function named by ``spec``: ``package.module:function`` (imported the usual way, with
    the current folder on the path) or ``path/to/file.py:function``; ``function`` may be dotted
    (``module:Class.method``, ``module:instance``).

    Raises
    ------
    ImplementationError
        Naming what could not be found: the module (with the import error), or the attribute
        (with the module's public callables).
    """
    import importlib
    import importlib.util
    import os
    import sys
    from pathlib import Path

    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ImplementationError(f"{spec!r}: expected module:function or path/to/file.py:function")
    where, attr = spec.split(":")
    try:
        if where.endswith(".py") or os.sep in where or "/" in where:
            path = Path(where)
            if not path.is_file():
                raise ImplementationError(f"{spec!r}: no such file {where!r}")
            name = f"_scratch_user_{path.stem}"
            loader = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader)  # type: ignore[arg-type]
            sys.modules[name] = module
            sys.path.insert(0, str(path.parent.resolve()))
            loader.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except ImplementationError:
        raise
    except Exception as exc:
        raise ImplementationError(f"{spec!r}: cannot import {where!r}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise ImplementationError(f"{spec!r}: {where!r} has no {attr!r}; its public callables: "
                                      f"{', '.join(public) or '(none)'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ImplementationError(f"{spec!r} is a {type(obj).__name__}, not callable")
    return obj
