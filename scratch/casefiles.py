"""Case files: check an implementation written in any language, through files.

``export`` writes the inputs of a sweep of cases and a ``manifest.json``; a program in any
language reads them, computes the loss and gradients of the network, and writes its outputs
beside them; ``check`` reads those outputs and compares and diagnoses them exactly as
``python -m scratch check`` does (:func:`scratch.testing.check_outputs`,
:func:`scratch.testing.make_report`).  :func:`load` reads every case from the files and
verifies them against the manifest (below: the client is not trusted).  The full description,
with a worked example, is ``docs/case-files.md``; in brief::

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
  array.  Either byte order is read as what it is (a big-endian ``>f8`` file, as Java writes
  them, is a float64); JSON files may start with a UTF-8 byte-order mark.

The network: the manifest's ``spec`` (:meth:`scratch.NetworkSpec.as_dict`: activation, alpha,
l2, l2_form, l2_biases, reduction) says which member of the family the outputs are checked
against; a manifest without one (written before the family existed) means the seed network.

What ``check`` trusts (the client is untrusted):

- the inputs: every case's inputs are recomputed from the manifest (seed, shape, dims, dtype,
  target) and must equal the files exactly, and each input file's SHA-256, written at export,
  must match; an input changed by the client fails that case, naming the file;
- the files: only regular files are read (a FIFO or a device is refused, never opened for a
  blocking read), never through a link leading out of the case folder, at most
  :func:`_max_bytes` bytes each; JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused
  before it is parsed; a ``.npy`` header declaring more elements than the manifest's shape is
  refused before its data is read;
- the manifest: every declared shape is bounded (:data:`MAX_DIM`, :data:`MAX_ELEMENTS`) before
  anything is allocated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .adapter import OPTIONAL, REQUIRED, ImplementationError
from .cases import DTYPES, TARGETS, SweepCase
from .compare import expected_shapes
from .network import Params
from .spec import SEED, NetworkSpec
from .testing import CaseResult, Report, check_outputs, make_report, reference_for
from .tolerances import oracle_rtol

__all__ = ["CaseFileError", "FORMAT", "FORMATS", "VERSION", "check", "export", "load", "outputs_path", "read_outputs"]

#: The manifest's ``format`` and ``version``; ``layout`` is one of :data:`FORMATS`.
FORMAT, VERSION = "scratch-case-files", 1
FORMATS = ("json", "npy")
MANIFEST = "manifest.json"
INPUTS = ("W1", "b1", "W2", "b2", "x", "y")
NETWORK = ("z1 = x W1 + b1 (1); a1 = f(z1) (2), f the spec's activation (tanh for the seed network); "
           "z2 = a1 W2 + b2 (3); yhat = softmax z2 (4); L = -(1/N) sum_n sum_c y_nc log yhat_nc (5)-(7) "
           "(-sum_n for reduction sum), plus the spec's L2 penalty; y_n = onehot(label_n) for labels")
#: Bounds on what a manifest may declare, checked before anything is allocated: each of N D H C,
#: and the elements of any one array (the sweep's largest shape has 16,384).
MAX_DIM, MAX_ELEMENTS = 1_000_000, 10_000_000
#: JSON deeper than this is refused before parsing (inputs and outputs need 3: object, rows, numbers).
MAX_JSON_DEPTH = 16
#: The manifest may be at most this many bytes.
MAX_MANIFEST_BYTES = 64 * 2**20
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
        "spec": case.spec.as_dict(),
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
            entry["sha256"] = {"inputs.json": _sha256(where)}
        else:
            where.mkdir(parents=True, exist_ok=True)
            for k, a in arrays.items():
                np.save(where / f"{k}.npy", a, allow_pickle=False)
            entry["sha256"] = {f"{k}.npy": _sha256(where / f"{k}.npy") for k in arrays}
        entries.append(entry)
    specs = list(dict.fromkeys(c.spec for c in case_list))
    manifest = {
        "format": FORMAT, "version": VERSION, "layout": fmt, "network": NETWORK,
        "spec": specs[0].as_dict() if len(specs) == 1 else None,
        "spec_described": "; ".join(s.describe() for s in specs), "targets": TARGET_KINDS,
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _path(folder: Path, rel: Any, what: str) -> Path:
    """``folder / rel`` for a relative POSIX path that stays inside ``folder``."""
    if not isinstance(rel, str) or not rel:
        raise CaseFileError(f"{what}: expected a relative path, got {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise CaseFileError(f"{what}: {rel!r} must be a relative path inside the folder, with / separators")
    return folder.joinpath(*p.parts)


def _max_bytes(elements: int) -> int:
    """The largest file accepted for ``elements`` numbers: 64 bytes each (a double in JSON with
    indentation takes at most ~40) plus 64 KiB."""
    return 64 * int(elements) + 2**16


def _inside(folder: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError, RuntimeError):  # outside, or a link loop
        return False


def _open_regular(folder: Path, path: Path, max_bytes: int, error: type[Exception]) -> Any:
    """``path`` opened for binary reading, only if it is a regular file inside ``folder`` (no
    link leads out of it) of at most ``max_bytes`` bytes; otherwise ``error`` naming the file.
    Opened without blocking and checked on the open descriptor, so a FIFO is never read."""
    if not _inside(folder, path):
        raise error(f"{path} leads out of the case folder {folder} (a link): refused")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"cannot open {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"{path} is not a regular file (a FIFO, a device or a socket): refused")
    if st.st_size > max_bytes:
        os.close(fd)
        raise error(f"{path} holds {st.st_size:,} bytes, more than the {max_bytes:,} its shapes need: refused")
    return os.fdopen(fd, "rb")


def _json_depth(text: str) -> int:
    """The nesting depth of JSON ``text`` (strings ignored), without parsing it."""
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = np.frombuffer(skeleton.encode("ascii", "replace"), np.uint8)
    delta = np.isin(steps, (ord("["), ord("{"))).astype(np.int64) - np.isin(steps, (ord("]"), ord("}")))
    return int(np.max(np.cumsum(delta), initial=0))


def _read_json(folder: Path, path: Path, max_bytes: int, error: type[Exception]) -> Any:
    """The JSON value in ``path`` (UTF-8, with or without a byte-order mark), read safely
    (:func:`_open_regular`, depth at most :data:`MAX_JSON_DEPTH`)."""
    with _open_regular(folder, path, max_bytes, error) as f:
        data = f.read(max_bytes + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text: {exc}") from None
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise error(f"{path} nests {depth} levels deep, more than {MAX_JSON_DEPTH}: refused")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{path} is not valid JSON: {exc}") from None


def _read_npy(folder: Path, path: Path, max_elements: int, error: type[Exception]) -> np.ndarray:
    """The array in ``path``, in native byte order; refused before its data is read when the
    header declares more than ``max_elements`` elements or a dtype that is not numbers."""
    with _open_regular(folder, path, _max_bytes(max_elements), error) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version[0]}.{version[1]}; expected 1.0 or 2.0")
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(f)  # the header only: no data read yet
        except (ValueError, OSError, SyntaxError) as exc:
            raise error(f"{path}: not a readable .npy file ({exc})") from None
        n = int(np.prod(shape, dtype=object)) if shape else 1
        if n > max_elements:
            raise error(f"{path} declares shape {tuple(shape)} ({n:,} elements), more than the {max_elements:,} "
                        "the manifest's shapes allow: refused")
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields:
            raise error(f"{path} holds {dtype}, expected numbers")
        f.seek(0)
        try:
            a = np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise error(f"{path}: not a readable .npy file ({exc})") from None
    return a.astype(a.dtype.newbyteorder("="), copy=False) if not a.dtype.isnative else a


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not (path.exists() or path.is_symlink()):
        raise CaseFileError(f"{folder} has no {MANIFEST}: write cases first (python -m scratch cases export {folder})")
    m = _read_json(folder, path, MAX_MANIFEST_BYTES, CaseFileError)
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


def _spec(d: Any, where: str) -> NetworkSpec:
    """The spec a manifest records (``None``/absent: the seed network); a bad one is a
    :class:`CaseFileError` naming the field."""
    if d is None:
        return SEED
    try:
        return NetworkSpec.from_dict(d)
    except (ValueError, TypeError) as exc:
        raise CaseFileError(f"{where}: spec: {exc}") from None


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
    N, D, H, C = dims
    biggest = max(N * D, D * H, H * C, N * H, N * C)
    if max(dims) > MAX_DIM or biggest > MAX_ELEMENTS:
        raise CaseFileError(f"{where} ({e['id']}): N D H C = {dims} declares an array of {biggest:,} elements; "
                            f"at most {MAX_ELEMENTS:,} elements per array and {MAX_DIM:,} per dimension: refused")
    if not isinstance(e["seed"], int) or isinstance(e["seed"], bool) or not 0 <= e["seed"] < 2**63:
        raise CaseFileError(f"{where} ({e['id']}): seed must be an integer >= 0, got {e['seed']!r}")
    if not isinstance(e["shape"], str):
        raise CaseFileError(f"{where} ({e['id']}): shape must be a name, got {e['shape']!r}")
    if e["dtype"] not in DTYPES:
        raise CaseFileError(f"{where} ({e['id']}): dtype {e['dtype']!r}, expected one of {', '.join(DTYPES)}")
    if e["target"] not in TARGETS:
        raise CaseFileError(f"{where} ({e['id']}): target {e['target']!r}, expected one of {', '.join(TARGETS)}")
    return str(e["id"]), dims  # type: ignore[return-value]


def _read_inputs(folder: Path, layout: str, e: Mapping[str, Any], dims: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """The six input arrays of entry ``e``, checked against its dims, dtype and target kind."""
    dtype, target = DTYPES[e["dtype"]], e["target"]
    where = _path(folder, e["inputs"], f"case {e['id']}: inputs")
    shapes = _input_shapes(*dims, target)
    total = sum(int(np.prod(v)) for v in shapes.values())
    try:
        if layout == "json":
            raw = _read_json(folder, where, _max_bytes(total), CaseFileError)
            if not isinstance(raw, dict):
                raise CaseFileError(f"{where}: expected an object with {' '.join(INPUTS)}")
            lacking = [k for k in INPUTS if k not in raw]
            if lacking:
                raise CaseFileError(f"{where}: lacks {', '.join(lacking)}")
            arrays = {k: np.asarray(raw[k]) for k in INPUTS}
        else:
            arrays = {k: _read_npy(folder, where / f"{k}.npy", int(np.prod(shapes[k])), CaseFileError) for k in INPUTS}
    except CaseFileError as exc:
        raise CaseFileError(f"case {e['id']}: cannot read its inputs: {exc}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CaseFileError(f"case {e['id']}: cannot read its inputs at {where}: {exc}") from None
    out = {}
    for k, a in arrays.items():
        shape = shapes[k]
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


def _changed_inputs(folder: Path, layout: str, e: Mapping[str, Any], case: SweepCase) -> str | None:
    """Why ``case``'s input files are not what export wrote (None when they are): each file's
    SHA-256 against the manifest's, and the arrays against those recomputed from the manifest's
    seed, shape, dims, dtype and target."""
    from .cases import draw

    base = _path(folder, e["inputs"], f"case {case.id}: inputs")
    hashes = e.get("sha256")
    if hashes is not None:
        files = {"inputs.json": base} if layout == "json" else {f"{k}.npy": base / f"{k}.npy" for k in INPUTS}
        if not isinstance(hashes, dict) or not set(map(str, hashes)) <= set(files):
            raise CaseFileError(f"case {case.id}: sha256 must map {', '.join(files)} to hex digests, got {hashes!r:.200}")
        n = sum(int(np.prod(v)) for v in _input_shapes(*case.dims, case.target).values())
        for name, digest in hashes.items():
            f = files[str(name)]
            with _open_regular(folder, f, _max_bytes(n), CaseFileError) as fh:
                if hashlib.sha256(fh.read()).hexdigest() != digest:
                    return f"{f} was changed after export (its SHA-256 differs from the manifest's)"
    try:
        fresh = draw(case.seed, (case.shape, case.dims), case.dtype, case.target, spec=case.spec)
    except (ValueError, TypeError):
        fresh = None
    if fresh is None:
        return f"{base}: the manifest's seed, shape, dtype and target ({case.describe()}) do not make a case"
    for k, a, b in zip(INPUTS, (*case.params, case.x, case.y), (*fresh.params, fresh.x, fresh.y)):
        if not np.array_equal(a, b):
            f = base if layout == "json" else base / f"{k}.npy"
            return (f"{f}: input {k} differs from the one the manifest's seed, shape, dtype and target make "
                    "(the inputs were changed after export)")
    return None


def load(folder: str | Path) -> list[SweepCase]:
    """The cases written in ``folder``, rebuilt from its files and verified against the
    manifest (each input equal to the one its seed, shape, dtype and target make).

    Raises
    ------
    CaseFileError
        No or a bad manifest, or inputs missing, inconsistent with it, or changed after export.
    """
    loaded = _load(Path(folder))[1]
    for _, _, changed in loaded:
        if changed:
            raise CaseFileError(changed)
    return [c for c, _, _ in loaded]


def _load(folder: Path) -> tuple[str, list[tuple[SweepCase, Path, str | None]]]:
    m = _manifest(folder)
    out, seen = [], set()
    default_spec = _spec(m.get("spec"), f"{folder / MANIFEST}")
    for i, e in enumerate(m["cases"]):
        cid, dims = _entry(e, i, folder / MANIFEST)
        if cid in seen:
            raise CaseFileError(f"{folder / MANIFEST}: case id {cid!r} appears twice")
        seen.add(cid)
        spec = _spec(e["spec"], f"{folder / MANIFEST}: case {cid}") if "spec" in e else default_spec
        a = _read_inputs(folder, m["layout"], e, dims)
        case = SweepCase(e["seed"], str(e["shape"]), dims, e["dtype"], e["target"],
                         Params(a["W1"], a["b1"], a["W2"], a["b2"]), a["x"], a["y"], spec)
        if case.id != cid:
            raise CaseFileError(f"case {cid!r}: its seed, shape, dtype, target and spec make the id {case.id!r}")
        out.append((case, _path(folder, e["outputs"], f"case {cid}: outputs"), _changed_inputs(folder, m["layout"], e, case)))
    return m["layout"], out


def outputs_path(folder: str | Path, case_id: str) -> Path:
    """Where the client writes case ``case_id``'s outputs (the manifest's ``outputs``)."""
    folder = Path(folder)
    for e in _manifest(folder)["cases"]:
        if isinstance(e, dict) and e.get("id") == case_id:
            return _path(folder, e.get("outputs"), f"case {case_id}: outputs")
    raise CaseFileError(f"{folder / MANIFEST} has no case {case_id!r}")


def read_outputs(case: SweepCase, where: Path, layout: str, folder: str | Path | None = None) -> dict[str, np.ndarray]:
    """The outputs a client wrote for ``case`` at ``where`` (``outputs.json`` or the
    ``outputs`` folder): name -> array; JSON values in the case's dtype, npy as stored (in
    native byte order).  Only regular files inside ``folder`` (default: the folder above the
    case's, ``where``'s grandparent for npy, parent's parent for JSON) are read, none larger
    than its shape needs.

    Raises
    ------
    ImplementationError
        Unreadable: not JSON, not an object, a value that is not a rectangular array of numbers,
        not a regular file, a link out of the folder, too large or too deep.
    """
    dtype = DTYPES[case.dtype]
    root = Path(folder) if folder is not None else where.parent.parent
    shapes = expected_shapes(*case.dims)
    if layout == "npy":
        if not _inside(root, where):
            raise ImplementationError(f"{where} leads out of the case folder {root} (a link): refused")
        out = {}
        for q in REQUIRED + OPTIONAL:
            f = where / f"{q}.npy"
            if f.exists() or f.is_symlink():
                out[q] = _read_npy(root, f, max(1, int(np.prod(shapes[q]))), ImplementationError)
        return _complete(out, where, ".npy")
    total = sum(max(1, int(np.prod(v))) for v in shapes.values())
    raw = _read_json(root, where, _max_bytes(total), ImplementationError)
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
    if not any(where.exists() for _, where, _ in loaded):
        case, where, _ = loaded[0]
        raise CaseFileError(f"{folder}: no case has outputs yet; a client writes each case's outputs where the manifest "
                            f"says, e.g. {_expected(where, layout)} for {case.id} (see docs/case-files.md)")
    refs: dict[NetworkSpec, Callable] = {}
    results = []
    for case, where, changed in (progress(loaded) if progress else loaded):
        rtol = oracle_rtol(DTYPES[case.dtype], case.dims)
        if changed:
            results.append(CaseResult(case, rtol, error=f"inputs changed: {changed}"))
            continue
        if not (where.exists() or where.is_symlink()):
            results.append(CaseResult(case, rtol, error=f"no outputs: expected {_expected(where, layout)}"))
            continue
        ref_fn = reference_for(reference, case.spec, refs)
        try:
            got = read_outputs(case, where, layout, folder)
            results.append(check_outputs(case, got, reference=ref_fn))
        except ImplementationError as exc:
            results.append(CaseResult(case, rtol, error=f"unreadable outputs: {exc}"))
    cases = [c for c, _, _ in loaded]
    desc = {"folder": [str(folder)], "layout": [layout],
            **{k: list(dict.fromkeys(getattr(c, a) for c in cases))
               for k, a in (("seeds", "seed"), ("shapes", "shape"), ("dtypes", "dtype"), ("targets", "target"))}}
    return make_report(results, None, reference, "case files", sweep_desc=desc, blind_spots=True, all_cases=cases,
                       repeat_checked=False, name=f"outputs in {folder}")
