"""Case files pinned against one-line bugs (issue 21): each test fails on a mutmut survivor.

The manifest entry's validation (``_entry``: every key, every bound at its edge, every message),
what ``export`` writes byte for byte, ``outputs_path``, ``read_outputs`` and ``_read_npy`` at
their size and element limits, ``_changed_inputs``' messages, and ``check``'s per-case errors.
Expected values are worked out here from the documented format (docs/case-files.md), never
read back from the code under test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from scratch import NetworkSpec, casefiles
from scratch.adapter import ImplementationError
from scratch.casefiles import CaseFileError
from scratch.cases import SweepCase
from scratch.network import loss_and_grads
from scratch.testing import cases
from scratch.tolerances import oracle_rtol

REQUIRED = ("loss", "dW1", "db1", "dW2", "db2")
LACKS = "(expected loss dW1 db1 dW2 db2, optionally dz1 dz2)"


def outputs_of(case):
    L, g = loss_and_grads(case.params, case.x, case.y, spec=case.spec)
    return {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2, "dz1": g.dz1, "dz2": g.dz2}


def write_json(folder: Path, case, out, name="outputs.json") -> Path:
    path = folder / case.id / name
    path.write_text(json.dumps({q: np.asarray(v).tolist() for q, v in out.items()}))
    return path


@pytest.fixture
def small():
    return cases([0], ["small"], ["float64"], ["labels"])[0]


@pytest.fixture
def one(tmp_path, small):
    casefiles.export(tmp_path / "c", [small])
    return tmp_path / "c", small


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --------------------------------------------------------------------------------------------
# _entry: the manifest's case entries
# --------------------------------------------------------------------------------------------

WHERE = "m.json: case 3"
ENTRY = {"id": "s0-small-float64-labels", "seed": 0, "shape": "small", "N": 4, "D": 3, "H": 5, "C": 3,
         "dtype": "float64", "target": "labels", "inputs": "a/inputs.json", "outputs": "a/outputs.json"}


def entry_error(**changes) -> str:
    e = {**ENTRY, **changes}
    with pytest.raises(CaseFileError) as info:
        casefiles._entry(e, 3, Path("m.json"))
    return str(info.value)


def test_a_valid_entry_gives_its_id_and_dims():
    assert casefiles._entry(dict(ENTRY), 3, Path("m.json")) == ("s0-small-float64-labels", (4, 3, 5, 3))
    assert casefiles._entry({**ENTRY, "id": 7}, 0, Path("m.json"))[0] == "7"


@pytest.mark.parametrize("e, kind", [([], "list"), ("x", "str"), (None, "NoneType")])
def test_an_entry_that_is_not_an_object(e, kind):
    with pytest.raises(CaseFileError) as info:
        casefiles._entry(e, 3, Path("m.json"))
    assert str(info.value) == f"{WHERE} is a {kind}, expected an object"


@pytest.mark.parametrize("key", list(ENTRY))
def test_each_missing_key_is_named(key):
    e = {k: v for k, v in ENTRY.items() if k != key}
    with pytest.raises(CaseFileError) as info:
        casefiles._entry(e, 3, Path("m.json"))
    shown = "?" if key == "id" else ENTRY["id"]
    assert str(info.value) == f"{WHERE} ({shown}) lacks {key}"


def test_several_missing_keys_are_listed_in_order():
    e = {k: v for k, v in ENTRY.items() if k not in ("seed", "C", "outputs")}
    with pytest.raises(CaseFileError) as info:
        casefiles._entry(e, 3, Path("m.json"))
    assert str(info.value) == f"{WHERE} (s0-small-float64-labels) lacks seed, C, outputs"


@pytest.mark.parametrize("k", list("NDHC"))
@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "4", None])
def test_dims_must_be_positive_integers(k, bad):
    dims = tuple(bad if d == k else ENTRY[d] for d in "NDHC")
    assert entry_error(**{k: bad}) == (f"{WHERE} (s0-small-float64-labels): N D H C must be positive integers, "
                                       f"got {dims}")


@pytest.mark.parametrize("k", list("NDHC"))
def test_a_dim_of_one_is_accepted(k):
    assert casefiles._entry({**ENTRY, k: 1}, 3, Path("m.json"))[1] == tuple(1 if d == k else ENTRY[d] for d in "NDHC")


BOUND = "at most 10,000,000 elements per array and 1,000,000 per dimension: refused"


@pytest.mark.parametrize("dims, biggest", [
    ((10_001, 1_000, 1, 1), 10_001_000),   # N D (x) alone too big
    ((1, 10_001, 1_000, 1), 10_001_000),   # D H (W1)
    ((1, 1, 10_001, 1_000), 10_001_000),   # H C (W2)
    ((10_001, 1, 1_000, 1), 10_001_000),   # N H (z1)
    ((10_001, 1, 1, 1_000), 10_001_000),   # N C (z2)
    ((1_000_001, 1, 1, 1), 1_000_001),     # one dimension too long, every array small enough
    ((1, 1, 1, 1_000_001), 1_000_001),
])
def test_each_array_and_each_dimension_is_bounded(dims, biggest):
    got = entry_error(**dict(zip("NDHC", dims)))
    assert got == f"{WHERE} (s0-small-float64-labels): N D H C = {dims} declares an array of {biggest:,} elements; {BOUND}"


@pytest.mark.parametrize("dims", [(10_000, 1_000, 1, 1), (1, 1, 10_000, 1_000), (10_000, 1, 1, 1_000),
                                  (1_000_000, 1, 1, 1), (1, 1_000_000, 1, 1), (1, 1, 1, 1_000_000)])
def test_the_bounds_themselves_are_allowed(dims):
    assert casefiles._entry({**ENTRY, **dict(zip("NDHC", dims))}, 3, Path("m.json"))[1] == dims


@pytest.mark.parametrize("seed", [-1, 2**63, True, "0", 1.5, None])
def test_a_bad_seed_is_refused(seed):
    assert entry_error(seed=seed) == f"{WHERE} (s0-small-float64-labels): seed must be an integer >= 0, got {seed!r}"


@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1])
def test_seeds_from_zero_to_two_to_the_63_are_accepted(seed):
    assert casefiles._entry({**ENTRY, "seed": seed}, 3, Path("m.json"))[0] == ENTRY["id"]


def test_bad_shape_dtype_and_target_are_named():
    assert entry_error(shape=5) == f"{WHERE} (s0-small-float64-labels): shape must be a name, got 5"
    assert entry_error(dtype="float16") == (f"{WHERE} (s0-small-float64-labels): dtype 'float16', "
                                            "expected one of float64, float32")
    assert entry_error(target="hard") == (f"{WHERE} (s0-small-float64-labels): target 'hard', "
                                          "expected one of labels, onehot, soft, unnormalized")


# --------------------------------------------------------------------------------------------
# export: what it writes
# --------------------------------------------------------------------------------------------


def test_export_refuses_an_unknown_layout_and_no_cases(tmp_path, small):
    with pytest.raises(ValueError) as info:
        casefiles.export(tmp_path / "a", [small], fmt="csv")
    assert str(info.value) == "fmt must be one of json, npy, got 'csv'"
    with pytest.raises(ValueError) as info:
        casefiles.export(tmp_path / "b", [])
    assert str(info.value) == "no cases to export"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_export_creates_nested_folders_and_can_write_the_same_folder_twice(tmp_path, small):
    for _ in range(2):
        path = casefiles.export(tmp_path / "x" / "y" / "z", [small], fmt="json")
        casefiles.export(tmp_path / "n" / "p", [small], fmt="npy")
    assert path == tmp_path / "x" / "y" / "z" / "manifest.json"
    assert casefiles.load(tmp_path / "x" / "y" / "z")[0].id == small.id
    assert casefiles.load(tmp_path / "n" / "p")[0].id == small.id


def test_the_manifest_text_one_case_a_line(tmp_path):
    sweep = cases([0, 1], ["small"], ["float64"], ["labels", "soft"])
    path = casefiles.export(tmp_path, sweep)
    text = path.read_text()
    assert text.startswith('{\n "format": "scratch-case-files",\n "version": 1,\n "layout": "json",\n "network": ')
    lines = text.split("\n")
    rows = [ln for ln in lines if ln.startswith('  {"id": ')]
    assert len(rows) == len(sweep)
    assert [json.loads(r.rstrip(","))["id"] for r in rows] == [c.id for c in sweep]
    assert lines[-4:] == [rows[-1], " ]", "}", ""]
    assert ' "cases": [' in lines
    m = json.loads(text)
    assert list(m) == ["format", "version", "layout", "network", "spec", "spec_described", "targets", "outputs", "cases"]
    assert m["network"] == casefiles.NETWORK and m["network"].startswith("z1 = x W1 + b1 (1); a1 = f(z1) (2)")
    assert m["targets"] == casefiles.TARGET_KINDS and set(m["targets"]) == {"labels", "onehot", "soft", "unnormalized"}
    assert m["spec"] == NetworkSpec().as_dict() and m["spec_described"] == NetworkSpec().describe()


def test_a_manifest_of_several_networks_has_no_single_spec(tmp_path):
    relu, sig = NetworkSpec("relu"), NetworkSpec("sigmoid", reduction="sum")
    sweep = cases([0], ["small"], ["float64"], ["labels"], spec=relu) + cases([0], ["small"], ["float64"], ["labels"], spec=sig)
    m = manifest(casefiles.export(tmp_path, sweep).parent)
    assert m["spec"] is None
    assert m["spec_described"] == f"{relu.describe()}; {sig.describe()}"
    assert [e["spec"] for e in m["cases"]] == [relu.as_dict(), sig.as_dict()]


@pytest.mark.parametrize("fmt", casefiles.FORMATS)
def test_each_entry_names_its_files_and_their_hashes(tmp_path, small, fmt):
    casefiles.export(tmp_path, [small], fmt=fmt)
    e = manifest(tmp_path)["cases"][0]
    sid = small.id
    if fmt == "json":
        assert (e["inputs"], e["outputs"]) == (f"{sid}/inputs.json", f"{sid}/outputs.json")
        names = {"inputs.json": tmp_path / sid / "inputs.json"}
    else:
        assert (e["inputs"], e["outputs"]) == (f"{sid}/inputs", f"{sid}/outputs")
        names = {f"{k}.npy": tmp_path / sid / "inputs" / f"{k}.npy" for k in ("W1", "b1", "W2", "b2", "x", "y")}
    assert e["sha256"] == {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in names.items()}
    assert e["input_shapes"] == {"W1": [3, 5], "b1": [5], "W2": [5, 3], "b2": [3], "x": [4, 3], "y": [4]}
    assert e["spec"] == NetworkSpec().as_dict()


def test_json_inputs_are_compact_with_integer_labels(tmp_path):
    case = cases([0], ["small"], ["float32"], ["labels"])[0]
    casefiles.export(tmp_path, [case])
    text = (tmp_path / case.id / "inputs.json").read_text()
    assert text.endswith("}\n") and text.count("\n") == 1 and " " not in text
    data = json.loads(text)
    assert list(data) == ["W1", "b1", "W2", "b2", "x", "y"]
    assert all(type(v) is int for v in data["y"])
    assert all(type(v) is float for row in data["W1"] for v in row)
    assert np.array_equal(np.asarray(data["W1"], np.float32), case.params.W1)


def test_npy_inputs_keep_their_dtypes(tmp_path):
    case = cases([0], ["small"], ["float32"], ["soft"])[0]
    casefiles.export(tmp_path, [case], fmt="npy")
    folder = tmp_path / case.id / "inputs"
    got = {k: np.load(folder / f"{k}.npy") for k in ("W1", "b1", "W2", "b2", "x", "y")}
    assert {k: a.dtype for k, a in got.items()} == {k: np.dtype(np.float32) for k in got}
    assert np.array_equal(got["y"], case.y) and np.array_equal(got["x"], case.x)


# --------------------------------------------------------------------------------------------
# outputs_path
# --------------------------------------------------------------------------------------------


def test_outputs_path_is_the_manifests(one):
    folder, case = one
    assert casefiles.outputs_path(folder, case.id) == folder / case.id / "outputs.json"
    assert casefiles.outputs_path(str(folder), case.id) == folder / case.id / "outputs.json"


def test_outputs_path_of_an_unknown_case_and_a_bad_entry(one):
    folder, case = one
    with pytest.raises(CaseFileError) as info:
        casefiles.outputs_path(folder, "nope")
    assert str(info.value) == f"{folder / 'manifest.json'} has no case 'nope'"
    m = manifest(folder)
    m["cases"] = [5, {"id": "other", "outputs": "o/out.json"}, {**m["cases"][0], "outputs": "../out.json"}]
    (folder / "manifest.json").write_text(json.dumps(m))
    assert casefiles.outputs_path(folder, "other") == folder / "o" / "out.json"
    with pytest.raises(CaseFileError) as info:
        casefiles.outputs_path(folder, case.id)
    assert str(info.value) == (f"case {case.id}: outputs: '../out.json' must be a relative path inside the folder, "
                               "with / separators")


# --------------------------------------------------------------------------------------------
# read_outputs and _read_npy
# --------------------------------------------------------------------------------------------


def test_json_outputs_read_in_the_case_dtype_with_the_optional_ones(tmp_path):
    case = cases([0], ["small"], ["float32"], ["labels"])[0]
    casefiles.export(tmp_path, [case])
    out = outputs_of(case)
    where = write_json(tmp_path, case, {**out, "dW1": np.asarray(out["dW1"], np.float64) + 1e-12})
    got = casefiles.read_outputs(case, where, "json")
    assert set(got) == set(out)
    assert all(a.dtype == np.float32 for a in got.values())
    assert got["loss"].shape == () and got["dz1"].shape == (4, 5)
    assert np.array_equal(got["dW1"], (np.asarray(out["dW1"], np.float64) + 1e-12).astype(np.float32))
    where = write_json(tmp_path, case, {q: out[q] for q in REQUIRED})
    assert set(casefiles.read_outputs(case, where, "json")) == set(REQUIRED)


def test_json_outputs_errors_name_the_file_and_the_quantity(one):
    folder, case = one
    out = {q: np.asarray(v).tolist() for q, v in outputs_of(case).items()}
    where = folder / case.id / "outputs.json"
    where.write_text("[1, 2]")
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value) == f"{where} holds a list; expected one object with loss dW1 db1 dW2 db2 [dz1 dz2]"
    where.write_text(json.dumps({**out, "dW1": [[1.0, 2.0], [3.0]]}))
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value) == f"{where}: dW1 is not a number or a rectangular array of numbers"
    where.write_text(json.dumps({k: v for k, v in out.items() if k not in ("dW2", "db2")}))
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value) == f"{where} lacks dW2, db2 {LACKS}"
    where.write_text(json.dumps({**out, "db1": None}))
    assert np.isnan(casefiles.read_outputs(case, where, "json")["db1"]).all()


def test_json_outputs_default_root_is_the_folder_above_the_case(one):
    folder, case = one
    real = write_json(folder, case, outputs_of(case), name="elsewhere.json")
    moved = folder / "shared.json"
    real.rename(moved)
    link = folder / case.id / "outputs.json"
    link.symlink_to(moved)  # a link to a file in the folder, outside the case's own folder: allowed
    assert set(casefiles.read_outputs(case, link, "json")) == set(outputs_of(case))
    with pytest.raises(ImplementationError, match="leads out of the case folder"):
        casefiles.read_outputs(case, link, "json", folder / case.id)


def _total_elements(case) -> int:
    N, D, H, C = case.dims
    return 1 + D * H + H + H * C + C + N * H + N * C


def test_a_json_outputs_file_at_its_size_limit_is_read_and_one_byte_more_refused(one):
    folder, case = one
    limit = 64 * _total_elements(case) + 2**16
    text = json.dumps({q: np.asarray(v).tolist() for q, v in outputs_of(case).items()})
    where = folder / case.id / "outputs.json"
    where.write_text(" " * (limit - len(text)) + text)  # padded in front: a read one byte short breaks the JSON
    assert where.stat().st_size == limit
    assert set(casefiles.read_outputs(case, where, "json")) == set(outputs_of(case))
    where.write_text(text + " " * (limit + 1 - len(text)))
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value) == f"{where} holds {limit + 1:,} bytes, more than the {limit:,} its shapes need: refused"


def write_npy_outputs(folder, case, out, dtype=None) -> Path:
    where = folder / case.id / "outputs"
    where.mkdir(exist_ok=True)
    for q, v in out.items():
        np.save(where / f"{q}.npy", np.asarray(v, dtype=dtype))
    return where


def test_npy_outputs_read_as_stored_and_the_missing_named_with_their_suffix(one):
    folder, case = one
    out = outputs_of(case)
    where = write_npy_outputs(folder, case, {q: out[q] for q in ("loss", "dW1", "db1", "dz2")}, np.float32)
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "npy")
    assert str(info.value) == f"{where} lacks dW2.npy, db2.npy {LACKS}"
    write_npy_outputs(folder, case, {q: out[q] for q in ("dW2", "db2")}, np.float32)
    got = casefiles.read_outputs(case, where, "npy")
    assert set(got) == {"loss", "dW1", "db1", "dW2", "db2", "dz2"}
    assert all(a.dtype == np.float32 for a in got.values())  # as stored, not cast to the case's float64


def test_an_npy_outputs_folder_linked_out_of_the_case_folder_is_refused(tmp_path, one):
    folder, case = one
    away = tmp_path / "away"
    away.mkdir()
    for q, v in outputs_of(case).items():
        np.save(away / f"{q}.npy", np.asarray(v))
    where = folder / case.id / "outputs"
    where.symlink_to(away)
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "npy", folder)
    assert str(info.value) == f"{where} leads out of the case folder {folder} (a link): refused"
    with pytest.raises(ImplementationError, match="leads out of the case folder"):
        casefiles.read_outputs(case, where, "npy")  # the default root: the folder above the case's


def npy_bytes(a: np.ndarray, version=(1, 0)) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
    return buf.getvalue()


def read_npy(tmp_path: Path, data: bytes, max_elements: int):
    p = tmp_path / "a.npy"
    p.write_bytes(data)
    return casefiles._read_npy(tmp_path, p, max_elements, ImplementationError), p


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_npy_versions_one_and_two_are_read(tmp_path, version):
    a = np.arange(6.0).reshape(2, 3)
    got, _ = read_npy(tmp_path, npy_bytes(a, version), 6)
    assert got.dtype == np.float64 and np.array_equal(got, a)


def test_npy_version_three_is_refused(tmp_path):
    data = bytearray(npy_bytes(np.arange(3.0)))
    data[6:8] = b"\x03\x00"
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, bytes(data), 3)
    assert str(info.value) == (f"{tmp_path / 'a.npy'}: not a readable .npy file "
                               "(.npy format version 3.0; expected 1.0 or 2.0)")


def test_npy_elements_at_the_limit_are_read_and_one_more_refused(tmp_path):
    got, _ = read_npy(tmp_path, npy_bytes(np.zeros((2, 3))), 6)
    assert got.shape == (2, 3)
    got, _ = read_npy(tmp_path, npy_bytes(np.float64(2.5)), 1)
    assert got.shape == () and got == 2.5
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, npy_bytes(np.zeros((2, 4))), 7)
    assert str(info.value) == (f"{tmp_path / 'a.npy'} declares shape (2, 4) (8 elements), more than the 7 "
                               "the manifest's shapes allow: refused")
    with pytest.raises(ImplementationError, match=r"shape \(\) \(1 elements\), more than the 0 "):
        read_npy(tmp_path, npy_bytes(np.float64(1.0)), 0)


def test_an_npy_file_at_its_size_limit_is_read_and_one_byte_more_refused(tmp_path):
    data = npy_bytes(np.arange(4.0))
    limit = 64 * 4 + 2**16
    got, p = read_npy(tmp_path, data + b"\0" * (limit - len(data)), 4)
    assert np.array_equal(got, np.arange(4.0))
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, data + b"\0" * (limit + 1 - len(data)), 4)
    assert str(info.value) == f"{p} holds {limit + 1:,} bytes, more than the {limit:,} its shapes need: refused"


@pytest.mark.parametrize("dtype", ["complex128", "U3", "M8[s]", [("a", "f8"), ("b", "f8")]])
def test_npy_files_of_other_than_numbers_are_refused(tmp_path, dtype):
    a = np.zeros(2, dtype=dtype)
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, npy_bytes(a), 2)
    assert str(info.value) == f"{tmp_path / 'a.npy'} holds {a.dtype}, expected numbers"


def test_an_npy_object_array_is_refused_from_its_header(tmp_path):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, buf.getvalue() + b"\0" * 16, 2)
    assert str(info.value) == f"{tmp_path / 'a.npy'} holds object, expected numbers"


@pytest.mark.parametrize("dtype", ["<f8", ">f8", ">f4", ">i8", "|u1"])
def test_npy_arrays_come_back_in_native_byte_order(tmp_path, dtype):
    a = np.arange(5).astype(dtype)
    got, _ = read_npy(tmp_path, npy_bytes(a), 5)
    assert got.dtype.isnative and got.dtype == a.dtype.newbyteorder("=") and np.array_equal(got, a)


def test_truncated_npy_data_is_unreadable(tmp_path):
    data = npy_bytes(np.arange(4.0))
    with pytest.raises(ImplementationError, match=r"a\.npy: not a readable \.npy file \("):
        read_npy(tmp_path, data[:-8], 4)
    with pytest.raises(ImplementationError, match=r"a\.npy: not a readable \.npy file \("):
        read_npy(tmp_path, b"\x93NUMPZ\x01\x00", 4)


# --------------------------------------------------------------------------------------------
# _changed_inputs
# --------------------------------------------------------------------------------------------


def test_a_sha256_field_of_the_wrong_form_is_refused(one):
    folder, case = one
    e = manifest(folder)["cases"][0]
    for bad in (["x"], {"inputs.json": "0", "W1.npy": "0"}):
        with pytest.raises(CaseFileError) as info:
            casefiles._changed_inputs(folder, "json", {**e, "sha256": bad}, case)
        assert str(info.value).startswith(f"case {case.id}: sha256 must map inputs.json to hex digests, got {bad!r}")


def test_a_changed_file_is_named_by_its_hash(one):
    folder, case = one
    e = manifest(folder)["cases"][0]
    assert casefiles._changed_inputs(folder, "json", e, case) is None
    bad = {**e, "sha256": {"inputs.json": "0" * 64}}
    assert casefiles._changed_inputs(folder, "json", bad, case) == (
        f"{folder / case.id / 'inputs.json'} was changed after export (its SHA-256 differs from the manifest's)")
    assert casefiles._changed_inputs(folder, "json", {**e, "sha256": {}}, case) is None


@pytest.mark.parametrize("k", ["W1", "b2", "x", "y"])
def test_an_input_unlike_the_one_its_seed_makes_is_named(tmp_path, small, k):
    casefiles.export(tmp_path, [small], fmt="npy")
    e = {key: v for key, v in manifest(tmp_path)["cases"][0].items() if key != "sha256"}
    arrays = dict(zip(("W1", "b1", "W2", "b2", "x", "y"), (*small.params, small.x, small.y)))
    arrays[k] = arrays[k].copy()
    arrays[k].flat[0] = (arrays[k].flat[0] + 1) % 3
    changed = SweepCase(small.seed, small.shape, small.dims, small.dtype, small.target,
                        type(small.params)(*(arrays[q] for q in ("W1", "b1", "W2", "b2"))), arrays["x"], arrays["y"],
                        small.spec)
    assert casefiles._changed_inputs(tmp_path, "npy", e, changed) == (
        f"{tmp_path / small.id / 'inputs' / f'{k}.npy'}: input {k} differs from the one the manifest's seed, shape, "
        "dtype and target make (the inputs were changed after export)")
    assert casefiles._changed_inputs(tmp_path, "npy", e, small) is None


def test_a_manifest_that_makes_no_case_is_named(one):
    folder, case = one
    e = {k: v for k, v in manifest(folder)["cases"][0].items() if k != "sha256"}
    none = SweepCase(0, "confident", case.dims, "float64", "soft", case.params, case.x, case.y, case.spec)
    assert casefiles._changed_inputs(folder, "json", e, none) == (
        f"{folder / case.id / 'inputs.json'}: the manifest's seed, shape, dtype and target ({none.describe()}) "
        "do not make a case")


# --------------------------------------------------------------------------------------------
# check: the per-case errors and the report
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, expected", [
    ("json", "{w}"),
    ("npy", "{w}/ with loss.npy dW1.npy db1.npy dW2.npy db2.npy"),
])
def test_no_outputs_anywhere_names_where_they_go(tmp_path, small, fmt, expected):
    casefiles.export(tmp_path, [small], fmt=fmt)
    where = tmp_path / small.id / ("outputs.json" if fmt == "json" else "outputs")
    with pytest.raises(CaseFileError) as info:
        casefiles.check(tmp_path)
    assert str(info.value) == (f"{tmp_path}: no case has outputs yet; a client writes each case's outputs where the "
                               f"manifest says, e.g. {expected.format(w=where)} for {small.id} (see docs/case-files.md)")


def test_each_failing_case_says_why_and_the_good_one_passes(tmp_path):
    sweep = cases([0, 1, 2], ["small"], ["float64", "float32"], ["labels"])
    casefiles.export(tmp_path, sweep)
    good, missing, unreadable, changed = sweep[0], sweep[1], sweep[2], sweep[3]
    for c in (good, changed):
        write_json(tmp_path, c, outputs_of(c))
    (tmp_path / unreadable.id / "outputs.json").write_text("{")
    x = json.loads((tmp_path / changed.id / "inputs.json").read_text())
    x["x"][0][0] = 0.25 if x["x"][0][0] != 0.25 else 0.5  # a float32 value: the hash, not the dtype, fails it
    (tmp_path / changed.id / "inputs.json").write_text(json.dumps(x))
    seen = []
    report = casefiles.check(tmp_path, progress=lambda it: seen.append(len(it)) or it)
    assert seen == [len(sweep)]
    by_id = {r.case.id: r for r in report.results}
    assert by_id[good.id].ok and by_id[good.id].error is None
    assert by_id[missing.id].error == f"no outputs: expected {tmp_path / missing.id / 'outputs.json'}"
    assert by_id[unreadable.id].error.startswith(f"unreadable outputs: {tmp_path / unreadable.id / 'outputs.json'} "
                                                 "is not valid JSON: ")
    assert by_id[changed.id].error == (f"inputs changed: {tmp_path / changed.id / 'inputs.json'} was changed after "
                                       "export (its SHA-256 differs from the manifest's)")
    for r in report.results:
        assert r.rtol == oracle_rtol(np.dtype(r.case.dtype), r.case.dims)
    assert not report.ok
    assert all(not by_id[c.id].ok for c in (missing, unreadable, changed))
    assert report.implementation == f"outputs in {tmp_path}"
    assert report.signature == "case files"
    assert report.sweep["folder"] == [str(tmp_path)] and report.sweep["layout"] == ["json"]
    assert report.sweep["seeds"] == [0, 1, 2] and report.sweep["dtypes"] == ["float64", "float32"]
    assert report.sweep["shapes"] == ["small"] and report.sweep["targets"] == ["labels"]


def test_check_passes_a_correct_client_of_every_target(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["labels", "onehot", "soft", "unnormalized"])
    casefiles.export(tmp_path, sweep, fmt="npy")
    for c in sweep:
        write_npy_outputs(tmp_path, c, outputs_of(c))
    report = casefiles.check(tmp_path)
    assert report.ok and len(report.results) == 4
    assert all(set(r.checks) == {"loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2"} for r in report.results)


# --------------------------------------------------------------------------------------------
# Second pass (the survivors of the second mutmut run)
# --------------------------------------------------------------------------------------------


def test_the_manifest_names_its_cases_once(tmp_path):
    text = casefiles.export(tmp_path, cases([0, 1], ["small"], ["float64"], ["labels"])).read_text()
    assert text.count('"cases"') == 1


@pytest.mark.parametrize("rel, message", [
    ("", "w: expected a relative path, got ''"), (5, "w: expected a relative path, got 5"),
    (None, "w: expected a relative path, got None"),
    ("a\\b.json", "w: 'a\\\\b.json' must be a relative path inside the folder, with / separators"),
    ("/abs.json", "w: '/abs.json' must be a relative path inside the folder, with / separators"),
    ("a/../../b", "w: 'a/../../b' must be a relative path inside the folder, with / separators"),
])
def test_a_path_in_the_manifest_must_stay_inside(tmp_path, rel, message):
    with pytest.raises(CaseFileError) as info:
        casefiles._path(tmp_path, rel, "w")
    assert str(info.value) == message


def test_a_path_in_the_manifest(tmp_path):
    assert casefiles._path(tmp_path, "a/b.json", "w") == tmp_path / "a" / "b.json"


def test_an_npy_header_whose_element_count_overflows_int64_is_refused(tmp_path):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (2**32, 2**32)})
    with pytest.raises(ImplementationError) as info:
        read_npy(tmp_path, buf.getvalue(), 10)
    assert str(info.value) == (f"{tmp_path / 'a.npy'} declares shape (4294967296, 4294967296) "
                               "(18,446,744,073,709,551,616 elements), more than the 10 the manifest's shapes allow: refused")


def test_a_wrong_sha256_field_of_an_npy_case_names_every_file(tmp_path, small):
    casefiles.export(tmp_path, [small], fmt="npy")
    e = manifest(tmp_path)["cases"][0]
    with pytest.raises(CaseFileError) as info:
        casefiles._changed_inputs(tmp_path, "npy", {**e, "sha256": ["x"]}, small)
    assert str(info.value) == (f"case {small.id}: sha256 must map W1.npy, b1.npy, W2.npy, b2.npy, x.npy, y.npy to "
                               "hex digests, got ['x']")


def test_a_changed_json_input_names_the_inputs_file(one):
    folder, case = one
    e = {k: v for k, v in manifest(folder)["cases"][0].items() if k != "sha256"}
    x = case.x.copy()
    x[0, 0] += 1.0
    changed = SweepCase(case.seed, case.shape, case.dims, case.dtype, case.target, case.params, x, case.y, case.spec)
    assert casefiles._changed_inputs(folder, "json", e, changed) == (
        f"{folder / case.id / 'inputs.json'}: input x differs from the one the manifest's seed, shape, dtype and "
        "target make (the inputs were changed after export)")


def test_a_loss_npy_of_two_elements_is_refused_by_its_bound(one):
    folder, case = one
    out = outputs_of(case)
    where = write_npy_outputs(folder, case, {**out, "loss": np.array([1.0, 2.0])})
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "npy")
    assert str(info.value) == (f"{where / 'loss.npy'} declares shape (2,) (2 elements), more than the 1 the "
                               "manifest's shapes allow: refused")


def test_json_outputs_that_overflow_float32_warn_nothing(tmp_path):
    import warnings

    case = cases([0], ["small"], ["float32"], ["labels"])[0]
    casefiles.export(tmp_path, [case])
    out = {q: np.asarray(v, np.float64) for q, v in outputs_of(case).items()}
    where = write_json(tmp_path, case, {**out, "dW1": np.full_like(out["dW1"], 1e39)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = casefiles.read_outputs(case, where, "json")
    assert np.isinf(got["dW1"]).all()


def test_a_changed_first_case_does_not_stop_the_others(tmp_path):
    sweep = cases([0, 1], ["small"], ["float64"], ["labels"])
    casefiles.export(tmp_path, sweep)
    for c in sweep:
        write_json(tmp_path, c, outputs_of(c))
    x = json.loads((tmp_path / sweep[0].id / "inputs.json").read_text())
    x["x"][0][0] += 1.0
    (tmp_path / sweep[0].id / "inputs.json").write_text(json.dumps(x))
    report = casefiles.check(tmp_path)
    assert [r.case.id for r in report.results] == [c.id for c in sweep]
    assert report.results[0].error.startswith("inputs changed: ") and report.results[1].ok


def test_outputs_are_read_only_inside_the_folder_whatever_the_manifest_nesting(tmp_path, small):
    folder = tmp_path / "c"
    casefiles.export(folder, [small])
    m = manifest(folder)
    m["cases"][0]["outputs"] = "out.json"  # at the top of the folder: its parent's parent is outside
    (folder / "manifest.json").write_text(json.dumps(m))
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({q: np.asarray(v).tolist() for q, v in outputs_of(small).items()}))
    (folder / "out.json").symlink_to(outside)
    report = casefiles.check(folder)
    assert not report.ok and "leads out of the case folder" in report.results[0].error


def test_check_uses_the_reference_given_and_names_it(one):
    from scratch.network import loss_and_grads as scratch_lag

    folder, case = one
    write_json(folder, case, outputs_of(case))

    def doubled(params, x, y):
        L, g = scratch_lag(params, x, y)
        return 2 * L, type(g)(*(2 * v for v in g))

    assert casefiles.check(folder).reference == "scratch" and casefiles.check(folder).ok
    report = casefiles.check(folder, reference=doubled)
    assert report.reference.endswith("doubled")
    # the client agrees with scratch's own truth and the reference does not: judged against the truth, and said so
    assert report.ok and [d.kind for d in report.diagnosis] == ["reference"]
    # 2x off is no rounding: said to be off the truth, not to lose digits
    assert report.diagnosis[0].text.startswith(f"the reference {report.reference} itself is off the cancellation-free "
                                               "truth on shapes ")
    assert "far more than rounding loses (a wrong reference?)" in report.diagnosis[0].text


def test_check_lists_blind_spots_and_state_kept_between_calls_among_them(one):
    folder, case = one
    write_json(folder, case, outputs_of(case))
    spots = [b.pitfall for b in casefiles.check(folder).blind_spots]
    assert "accumulating_gradients" in spots  # a file cannot be called twice
    assert "softmax_without_max_shift" in spots  # shape huge is not in this folder


# --------------------------------------------------------------------------------------------
# Third pass (the survivors of the fourth mutmut run)
# --------------------------------------------------------------------------------------------


def test_a_dangling_link_inside_the_folder_cannot_be_opened(one):
    folder, case = one
    where = write_npy_outputs(folder, case, {q: v for q, v in outputs_of(case).items() if q != "loss"})
    (where / "loss.npy").symlink_to(where / "gone.npy")
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "npy")
    assert str(info.value) == f"cannot open {where / 'loss.npy'}: No such file or directory"


def test_brackets_inside_strings_do_not_count_as_depth(one):
    folder, case = one
    out = {q: np.asarray(v).tolist() for q, v in outputs_of(case).items()}
    where = folder / case.id / "outputs.json"
    where.write_text(json.dumps({**out, "comment": "[" * 40 + "{" * 40}))
    assert casefiles._json_depth(where.read_text()) == 3
    assert set(casefiles.read_outputs(case, where, "json")) == set(outputs_of(case))


@pytest.mark.parametrize("text", ["", "{\"loss\": 1\u00e9}", "\u00e9", "{\"loss\": [1, 2"])
def test_text_that_is_not_json_is_named_so(one, text):
    folder, case = one
    where = folder / case.id / "outputs.json"
    where.write_text(text, encoding="utf-8")
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value).startswith(f"{where} is not valid JSON: ")


def test_bytes_that_are_not_utf8_are_named_so(one):
    folder, case = one
    where = folder / case.id / "outputs.json"
    where.write_bytes(b'{"loss": "\xff"}')
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value).startswith(f"{where} is not UTF-8 text: ")


def test_json_nested_exactly_to_the_limit_is_read(one):
    folder, case = one
    deep = "[" * casefiles.MAX_JSON_DEPTH + "]" * casefiles.MAX_JSON_DEPTH
    assert casefiles._json_depth(deep) == casefiles.MAX_JSON_DEPTH
    where = folder / case.id / "outputs.json"
    where.write_text('{"loss": 1, "x": ' + "[" * (casefiles.MAX_JSON_DEPTH - 1) + "]" * (casefiles.MAX_JSON_DEPTH - 1) + "}")
    with pytest.raises(ImplementationError, match="lacks dW1"):  # parsed: the depth let it through
        casefiles.read_outputs(case, where, "json")
    where.write_text('{"loss": 1, "x": ' + "[" * casefiles.MAX_JSON_DEPTH + "]" * casefiles.MAX_JSON_DEPTH + "}")
    with pytest.raises(ImplementationError) as info:
        casefiles.read_outputs(case, where, "json")
    assert str(info.value) == f"{where} nests 17 levels deep, more than 16: refused"


def edit_manifest(folder, change):
    m = manifest(folder)
    change(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder / "manifest.json"


def load_error(folder) -> str:
    with pytest.raises(CaseFileError) as info:
        casefiles.load(folder)
    return str(info.value)


def test_a_manifest_that_is_not_an_object_or_has_a_bad_layout(one):
    folder, _ = one
    path = folder / "manifest.json"
    path.write_text("[1, 2]")
    assert load_error(folder) == f"{path}: format 'list', expected 'scratch-case-files'"
    path.write_text(json.dumps({"format": "other"}))
    assert load_error(folder) == f"{path}: format 'other', expected 'scratch-case-files'"
    path.write_text(json.dumps({"format": "scratch-case-files", "version": 1, "layout": "csv", "cases": [1]}))
    assert load_error(folder) == f"{path}: layout 'csv', expected one of json, npy"


def test_manifest_entries_are_named_by_their_index_and_duplicates_refused(one):
    folder, _ = one
    path = edit_manifest(folder, lambda m: m["cases"].insert(0, 7))
    assert load_error(folder) == f"{path}: case 0 is a int, expected an object"
    path = edit_manifest(folder, lambda m: m["cases"].__setitem__(0, m["cases"][1]))
    assert load_error(folder) == f"{path}: case id 's0-small-float64-labels' appears twice"


def test_a_bad_spec_is_named_where_it_is(one):
    folder, case = one
    path = edit_manifest(folder, lambda m: m.update(spec={"activation": "elu"}))
    assert load_error(folder).startswith(f"{path}: spec: ")
    path = edit_manifest(folder, lambda m: (m.update(spec=None), m["cases"][0].update(spec={"activation": "elu"})))
    assert load_error(folder).startswith(f"{path}: case {case.id}: spec: ")


def test_a_cases_own_spec_wins_over_the_manifests(tmp_path):
    relu = NetworkSpec("relu")
    sweep = cases([0], ["small"], ["float64"], ["labels"], spec=relu)
    casefiles.export(tmp_path, sweep)
    edit_manifest(tmp_path, lambda m: m.update(spec=NetworkSpec("sigmoid").as_dict()))
    assert [c.spec for c in casefiles.load(tmp_path)] == [relu]
