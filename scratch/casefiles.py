"""Case files: check an implementation written in any language, through files.

``export`` writes the inputs of a sweep of cases and a ``manifest.json``; a program in any
language reads them, computes the loss and gradients of the network, and writes its outputs
beside them; ``check`` reads those outputs and compares and diagnoses them exactly as
``python -m scratch check`` does (:func:`scratch.testing.check_outputs`,
:func:`scratch.testing.make_report`).  The files are the truth: :func:`load` rebuilds every
case from the files, never from its seed.  The full description, with a worked example, is
``docs/case-files.md``; in brief::

    DIR/manifest.json                        what to compute, for every case
    DIR/<id>/inputs.json                     layout "json": {"W1": [[..]], "b1": [..], "W2", "b2", "x", "y"}
    DIR/<id>/outputs.json                    written by the client: {"loss": 1.2, "dW1": [[..]], ...}
    DIR/<id>/inputs/<name>.npy               layout "npy": W1 b1 W2 b2 x y, one .npy each
    DIR/<id>/outputs/<name>.npy              written by the client: loss dW1 db1 dW2 db2 [dz1 dz2]

``<id>`` is the case id (``s0-small-float64-labels``); the manifest gives every path,
relative to ``DIR`` with ``/`` separators, so a client never builds one.

Shapes: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), x (N, D); y int labels (N,) in [0, C) for the
target kind ``labels``, float targets (N, C) for ``onehot``, ``soft`` and ``unnormalized``.
Outputs: loss (a scalar), dW1 (D, H), db1 (H,), dW2 (H, C), db2 (C,); optionally dz1 (N, H) and
dz2 (N, C) (not written: "not checked", never a failure).

Numbers:

- JSON carries no dtype.  Every input of a float32 case is a float32 value, written as the
  shortest decimal that parses back (as an IEEE double, which is what every JSON parser
  produces) to exactly that value: a client reading doubles gets the float32 inputs exactly,
  and casting them to float32 is exact.  Labels are JSON integers.
- JSON outputs are read in the case's dtype (a float32 case's outputs are rounded to float32,
  so a client may compute in doubles); ``null`` (what JavaScript's ``JSON.stringify`` writes for
  NaN and +-Infinity), ``NaN`` and ``Infinity`` are read as non-finite and fail.  The loss is a
  number; each gradient a (nested) array of the shape the manifest names.
- npy outputs are read as stored, so their dtype is checked: the case's dtype, the loss a 0-d
  array.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .adapter import OPTIONAL, REQUIRED, ImplementationError
from .cases import DTYPES, TARGETS, SweepCase
from .compare import expected_shapes
from .network import Params
from .testing import CaseResult, Report, check_outputs, get_reference, make_report
from .tolerances import oracle_rtol

__all__ = ["CaseFileError", "FORMAT", "FORMATS", "VERSION", "check", "export", "load", "outputs_path", "read_outputs"]

#: The manifest's ``format`` and ``version``; ``layout`` is one of :data:`FORMATS`.
FORMAT, VERSION = "scratch-case-files", 1
FORMATS = ("json", "npy")
MANIFEST = "manifest.json"
INPUTS = ("W1", "b1", "W2", "b2", "x", "y")
NETWORK = ("z1 = x W1 + b1 (1); a1 = tanh z1 (2); z2 = a1 W2 + b2 (3); yhat = softmax z2 (4); "
           "L = -(1/N) sum_n sum_c y_nc log yhat_nc (5)-(7), y_n = onehot(label_n) for labels")
TARGET_KINDS = {
    "labels": "y (N,) int labels in [0, C)",
    "onehot": "y (N, C) float, one 1 per row",
    "soft": "y (N, C) float, rows on the simplex",
    "unnormalized": "y (N, C) float >= 0, rows not summing to 1: dz2 = (yhat * sum_c y_c - y) / N",
}


class CaseFileError(ValueError):
    """A case folder that cannot be read: no or a bad manifest, missing or inconsistent inputs,
    no outputs at all (a usage error: exit 2 in the CLI)."""


def _input_shapes(N: int, D: int, H: int, C: int, target: str) -> dict[str, tuple[int, ...]]:
    return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,), "x": (N, D),
            "y": (N,) if target == "labels" else (N, C)}


def _case_entry(case: SweepCase, fmt: str) -> dict[str, Any]:
    N, D, H, C = case.dims
    shapes = expected_shapes(N, D, H, C)
    return {
        "id": case.id, "seed": case.seed, "shape": case.shape, "N": N, "D": D, "H": H, "C": C,
        "dtype": case.dtype, "target": case.target,
        "inputs": f"{case.id}/inputs.json" if fmt == "json" else f"{case.id}/inputs",
        "input_shapes": {k: list(v) for k, v in _input_shapes(N, D, H, C, case.target).items()},
        "outputs": f"{case.id}/outputs.json" if fmt == "json" else f"{case.id}/outputs",
        "expected": {q: list(shapes[q]) for q in REQUIRED},
        "optional": {q: list(shapes[q]) for q in OPTIONAL},
    }


def export(folder: str | Path, case_list: Sequence[SweepCase], fmt: str = "json") -> Path:
    """Write every case's inputs and the manifest into ``folder`` (created if missing).

    Parameters
    ----------
    folder : where to write (the manifest is ``folder/manifest.json``).
    case_list : :class:`scratch.cases.SweepCase` list, e.g. from :func:`scratch.testing.cases`.
    fmt : ``"json"`` (``<id>/inputs.json``, one object) or ``"npy"`` (``<id>/inputs/<name>.npy``).

    Returns
    -------
    Path of the manifest.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not case_list:
        raise ValueError("no cases to export")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in case_list:
        entry = _case_entry(case, fmt)
        arrays = dict(zip(INPUTS, (*case.params, case.x, case.y)))
        where = folder / entry["inputs"]
        if fmt == "json":
            where.parent.mkdir(parents=True, exist_ok=True)
            # float32 -> float64 is exact and repr() of a double round-trips: the file holds the float32 values.
            data = {k: (a.tolist() if a.dtype.kind in "iu" else a.astype(np.float64).tolist()) for k, a in arrays.items()}
            where.write_text(json.dumps(data, allow_nan=False, separators=(",", ":")) + "\n")
        else:
            where.mkdir(parents=True, exist_ok=True)
            for k, a in arrays.items():
                np.save(where / f"{k}.npy", a, allow_pickle=False)
        entries.append(entry)
    manifest = {
        "format": FORMAT, "version": VERSION, "layout": fmt, "network": NETWORK, "targets": TARGET_KINDS,
        "outputs": {"required": list(REQUIRED), "optional": list(OPTIONAL)},
        "cases": entries,
    }
    path = folder / MANIFEST
    head = json.dumps({k: v for k, v in manifest.items() if k != "cases"}, indent=1)[:-2]
    rows = ",\n  ".join(json.dumps(e) for e in entries)  # one case a line
    path.write_text(f'{head},\n "cases": [\n  {rows}\n ]\n}}\n')
    return path


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _path(folder: Path, rel: Any, what: str) -> Path:
    """``folder / rel`` for a relative POSIX path that stays inside ``folder``."""
    if not isinstance(rel, str) or not rel:
        raise CaseFileError(f"{what}: expected a relative path, got {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise CaseFileError(f"{what}: {rel!r} must be a relative path inside the folder, with / separators")
    return folder.joinpath(*p.parts)


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise CaseFileError(f"{folder} has no {MANIFEST}: write cases first (python -m scratch cases export {folder})")
    try:
        m = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaseFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = m.get("format") if isinstance(m, dict) else type(m).__name__
        raise CaseFileError(f"{path}: format {got!r}, expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise CaseFileError(f"{path}: version {m.get('version')!r}, this scratch reads version {VERSION}")
    if m.get("layout") not in FORMATS:
        raise CaseFileError(f"{path}: layout {m.get('layout')!r}, expected one of {', '.join(FORMATS)}")
    if not isinstance(m.get("cases"), list) or not m["cases"]:
        raise CaseFileError(f"{path}: 'cases' must be a non-empty list")
    return m


def _entry(e: Any, i: int, path: Path) -> tuple[str, tuple[int, int, int, int]]:
    """Validate case entry ``i``; return its id and dims."""
    where = f"{path}: case {i}"
    if not isinstance(e, dict):
        raise CaseFileError(f"{where} is a {type(e).__name__}, expected an object")
    missing = [k for k in ("id", "seed", "shape", "N", "D", "H", "C", "dtype", "target", "inputs", "outputs") if k not in e]
    if missing:
        raise CaseFileError(f"{where} ({e.get('id', '?')}) lacks {', '.join(missing)}")
    dims = tuple(e[k] for k in "NDHC")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims):
        raise CaseFileError(f"{where} ({e['id']}): N D H C must be positive integers, got {dims}")
    if not isinstance(e["seed"], int) or e["seed"] < 0:
        raise CaseFileError(f"{where} ({e['id']}): seed must be an integer >= 0, got {e['seed']!r}")
    if e["dtype"] not in DTYPES:
        raise CaseFileError(f"{where} ({e['id']}): dtype {e['dtype']!r}, expected one of {', '.join(DTYPES)}")
    if e["target"] not in TARGETS:
        raise CaseFileError(f"{where} ({e['id']}): target {e['target']!r}, expected one of {', '.join(TARGETS)}")
    return str(e["id"]), dims  # type: ignore[return-value]


def _read_inputs(folder: Path, layout: str, e: Mapping[str, Any], dims: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """The six input arrays of entry ``e``, checked against its dims, dtype and target kind."""
    dtype, target = DTYPES[e["dtype"]], e["target"]
    where = _path(folder, e["inputs"], f"case {e['id']}: inputs")
    try:
        if layout == "json":
            raw = json.loads(where.read_text())
            if not isinstance(raw, dict):
                raise CaseFileError(f"{where}: expected an object with {' '.join(INPUTS)}")
            lacking = [k for k in INPUTS if k not in raw]
            if lacking:
                raise CaseFileError(f"{where}: lacks {', '.join(lacking)}")
            arrays = {k: np.asarray(raw[k]) for k in INPUTS}
        else:
            arrays = {k: np.load(where / f"{k}.npy", allow_pickle=False) for k in INPUTS}
    except CaseFileError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CaseFileError(f"case {e['id']}: cannot read its inputs at {where}: {exc}") from None
    out = {}
    for k, a in arrays.items():
        shape = _input_shapes(*dims, target)[k]
        if a.shape != shape:
            raise CaseFileError(f"case {e['id']}: {k} has shape {a.shape}, the manifest says {shape}")
        if k == "y" and target == "labels":
            if a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= dims[3]:
                raise CaseFileError(f"case {e['id']}: labels y must be integers in [0, {dims[3]}), got {a.dtype} "
                                    f"in [{a.min()}, {a.max()}]")
            out[k] = a.astype(np.int64)
            continue
        if a.dtype.kind not in "fiu":
            raise CaseFileError(f"case {e['id']}: {k} holds {a.dtype}, expected numbers")
        if layout == "npy" and a.dtype != dtype:
            raise CaseFileError(f"case {e['id']}: {k}.npy is {a.dtype}, the manifest says {dtype}")
        cast = a.astype(dtype)
        if not np.all(np.isfinite(cast)) or not np.array_equal(cast.astype(a.dtype), a):
            raise CaseFileError(f"case {e['id']}: {k} holds values that are not finite {dtype} numbers "
                                "(a float32 case's inputs must be float32 values, written exactly)")
        out[k] = cast
    return out


def load(folder: str | Path) -> list[SweepCase]:
    """The cases written in ``folder``, rebuilt from its files (never regenerated from seeds).

    Raises
    ------
    CaseFileError
        No or a bad manifest, or inputs missing or inconsistent with it.
    """
    return [c for c, _ in _load(Path(folder))[1]]


def _load(folder: Path) -> tuple[str, list[tuple[SweepCase, Path]]]:
    m = _manifest(folder)
    out, seen = [], set()
    for i, e in enumerate(m["cases"]):
        cid, dims = _entry(e, i, folder / MANIFEST)
        if cid in seen:
            raise CaseFileError(f"{folder / MANIFEST}: case id {cid!r} appears twice")
        seen.add(cid)
        a = _read_inputs(folder, m["layout"], e, dims)
        case = SweepCase(e["seed"], str(e["shape"]), dims, e["dtype"], e["target"],
                         Params(a["W1"], a["b1"], a["W2"], a["b2"]), a["x"], a["y"])
        if case.id != cid:
            raise CaseFileError(f"case {cid!r}: its seed, shape, dtype and target make the id {case.id!r}")
        out.append((case, _path(folder, e["outputs"], f"case {cid}: outputs")))
    return m["layout"], out


def outputs_path(folder: str | Path, case_id: str) -> Path:
    """Where the client writes case ``case_id``'s outputs (the manifest's ``outputs``)."""
    folder = Path(folder)
    for e in _manifest(folder)["cases"]:
        if isinstance(e, dict) and e.get("id") == case_id:
            return _path(folder, e.get("outputs"), f"case {case_id}: outputs")
    raise CaseFileError(f"{folder / MANIFEST} has no case {case_id!r}")


def read_outputs(case: SweepCase, where: Path, layout: str) -> dict[str, np.ndarray]:
    """The outputs a client wrote for ``case`` at ``where`` (``outputs.json`` or the
    ``outputs`` folder): name -> array; JSON values in the case's dtype, npy as stored.

    Raises
    ------
    ImplementationError
        Unreadable: not JSON, not an object, a value that is not a rectangular array of numbers.
    """
    dtype = DTYPES[case.dtype]
    if layout == "npy":
        out = {}
        for q in REQUIRED + OPTIONAL:
            f = where / f"{q}.npy"
            if f.is_file():
                try:
                    out[q] = np.load(f, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise ImplementationError(f"{f}: not a readable .npy file ({exc})") from None
        return _complete(out, where, ".npy")
    try:
        raw = json.loads(where.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImplementationError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ImplementationError(f"{where} holds a {type(raw).__name__}; expected one object with "
                                  f"{' '.join(REQUIRED)} [{' '.join(OPTIONAL)}]")
    out = {}
    for q in REQUIRED + OPTIONAL:
        if q in raw:
            try:
                with np.errstate(all="ignore"):  # null -> NaN, overflow -> inf: the finiteness check fails them
                    out[q] = np.asarray(np.asarray(raw[q], dtype=np.float64), dtype=dtype)
            except (TypeError, ValueError):
                raise ImplementationError(f"{where}: {q} is not a number or a rectangular array of numbers") from None
    return _complete(out, where, "")


def _complete(out: dict[str, np.ndarray], where: Path, suffix: str) -> dict[str, np.ndarray]:
    missing = [q + suffix for q in REQUIRED if q not in out]
    if missing:
        raise ImplementationError(f"{where} lacks {', '.join(missing)} (expected {' '.join(REQUIRED)}, "
                                  f"optionally {' '.join(OPTIONAL)})")
    return out


def _expected(where: Path, layout: str) -> str:
    return str(where) if layout == "json" else f"{where}/ with {' '.join(f'{q}.npy' for q in REQUIRED)}"


def check(
    folder: str | Path, reference: str | Callable = "scratch", *,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Report:
    """Compare the outputs a client wrote in ``folder`` with ``reference`` on every case.

    Parameters
    ----------
    folder : a folder written by :func:`export`, with the client's outputs beside the inputs.
    reference : ``"scratch"``, an oracle name (``"torch"``, ``"jax"``, ``"numeric"``) or a
        ``loss_and_grads`` function; float32 cases are compared with it in float64.
    progress : optional wrapper of the case iterable (e.g. ``tqdm.tqdm``).

    Returns
    -------
    Report
        As :func:`scratch.testing.check_implementation`'s: a case without outputs, or with
        unreadable ones, is a failing case whose error names the file expected; blind spots are
        worked out over the cases in the folder (a file cannot be called twice, so state kept
        between calls is listed as one).

    Raises
    ------
    CaseFileError
        No or a bad manifest, unreadable inputs, or no case has any outputs.
    """
    folder = Path(folder)
    layout, loaded = _load(folder)
    if not any(where.exists() for _, where in loaded):
        case, where = loaded[0]
        raise CaseFileError(f"{folder}: no case has outputs yet; a client writes each case's outputs where the manifest "
                            f"says, e.g. {_expected(where, layout)} for {case.id} (see docs/case-files.md)")
    ref_fn = get_reference(reference) if isinstance(reference, str) else reference
    results = []
    for case, where in (progress(loaded) if progress else loaded):
        rtol = oracle_rtol(DTYPES[case.dtype], case.dims)
        if not where.exists():
            results.append(CaseResult(case, rtol, error=f"no outputs: expected {_expected(where, layout)}"))
            continue
        try:
            got = read_outputs(case, where, layout)
            results.append(check_outputs(case, got, reference=ref_fn))
        except ImplementationError as exc:
            results.append(CaseResult(case, rtol, error=f"unreadable outputs: {exc}"))
    cases = [c for c, _ in loaded]
    desc = {"folder": [str(folder)], "layout": [layout],
            **{k: list(dict.fromkeys(getattr(c, a) for c in cases))
               for k, a in (("seeds", "seed"), ("shapes", "shape"), ("dtypes", "dtype"), ("targets", "target"))}}
    return make_report(results, None, reference, "case files", sweep_desc=desc, blind_spots=True, all_cases=cases,
                       repeat_checked=False, name=f"outputs in {folder}")
