"""Case files: the manifest records the network; ``cases check`` trusts nothing the client wrote.

Changed inputs are caught (recomputed from the manifest, and by hash), outputs that are not
regular files (a FIFO), links out of the folder, JSON nested too deep, huge declared shapes
and oversized files are refused before anything is read or allocated; big-endian ``.npy`` and
UTF-8-BOM JSON read as what they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from scratch import NetworkSpec, casefiles
from scratch.network import loss_and_grads
from scratch.testing import cases
from cli_run import run_cli

RELU = NetworkSpec("relu", l2=1e-3, reduction="sum")


def client_outputs(case, spec=None):
    """What a correct client computes for ``case`` (the member ``spec``, default the case's)."""
    L, g = loss_and_grads(case.params, case.x, case.y, spec=spec or case.spec)
    return {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2}


def write_json(folder: Path, case, out: dict, *, bom: bool = False) -> Path:
    path = folder / case.id / "outputs.json"
    text = json.dumps({q: np.asarray(v).tolist() for q, v in out.items()})
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def write_npy(folder: Path, case, out: dict, byteorder: str = "=") -> None:
    (folder / case.id / "outputs").mkdir()
    for q, v in out.items():
        a = np.asarray(v)
        np.save(folder / case.id / "outputs" / f"{q}.npy", a.astype(a.dtype.newbyteorder(byteorder)))


@pytest.fixture
def one(tmp_path):
    """A folder with one float64 labels case (json layout), and that case."""
    sweep = cases([0], ["small"], ["float64"], ["labels"])
    casefiles.export(tmp_path / "c", sweep)
    return tmp_path / "c", sweep[0]


# --------------------------------------------------------------------------------------------
# The network in the manifest
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", casefiles.FORMATS)
def test_export_records_the_spec_and_check_uses_it(tmp_path, fmt):
    sweep = cases([0, 1], ["small", "n1"], ["float64"], ["labels"], spec=RELU)
    casefiles.export(tmp_path, sweep, fmt)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["spec"] == RELU.as_dict() and all(e["spec"] == RELU.as_dict() for e in m["cases"])
    write = write_json if fmt == "json" else write_npy
    for c in sweep:
        write(tmp_path, c, client_outputs(c))
    report = casefiles.check(tmp_path)
    assert report.ok, str(report)
    assert report.networks == [RELU] and "for relu, reduction sum" in str(report)
    assert json.loads(report.to_json())["network"] == [RELU.as_dict()]


def test_outputs_of_another_member_fail_against_the_manifests(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["labels"], spec=RELU)
    casefiles.export(tmp_path, sweep)
    write_json(tmp_path, sweep[0], client_outputs(sweep[0], NetworkSpec()))  # the seed network's
    assert not casefiles.check(tmp_path).ok


def test_cases_export_cli_takes_the_spec_options(tmp_path, capsys):
    folder = tmp_path / "c"
    rc, _, err = run_cli(["cases", "export", str(folder), "--seeds", "0", "--shapes", "small", "--dtypes", "float64",
                          "--targets", "labels", "--activation", "relu", "--l2", "1e-3", "--reduction", "sum"], capsys)
    assert rc == 0, err
    assert json.loads((folder / "manifest.json").read_text())["spec"] == RELU.as_dict()


def test_an_old_manifest_without_a_spec_is_the_seed_network(one):
    folder, case = one
    m = json.loads((folder / "manifest.json").read_text())
    del m["spec"], m["spec_described"]
    for e in m["cases"]:
        del e["spec"]
    (folder / "manifest.json").write_text(json.dumps(m))
    write_json(folder, case, client_outputs(case))
    report = casefiles.check(folder)
    assert report.ok and report.networks == [NetworkSpec()]


@pytest.mark.parametrize("spec, field", [
    ({"activation": "swish"}, "activation"),
    ({"l2": -1}, "l2"),
    ({"reduction": "median"}, "reduction"),
    ({"lambda": 0.1}, "lambda"),
    ("relu", "mapping"),
])
def test_a_bad_spec_in_the_manifest_exits_2_naming_the_field(one, spec, field, capsys):
    folder, case = one
    m = json.loads((folder / "manifest.json").read_text())
    m["spec"] = spec
    for e in m["cases"]:
        e.pop("spec")
    (folder / "manifest.json").write_text(json.dumps(m))
    write_json(folder, case, client_outputs(case))
    rc, _, err = run_cli(["cases", "check", str(folder), "--quiet"], capsys)
    assert rc == 2 and "spec:" in err and field in err and "Traceback" not in err, err


# --------------------------------------------------------------------------------------------
# Inputs the client changed
# --------------------------------------------------------------------------------------------


def _changed(folder: Path, case, *, rehash: bool) -> None:
    """The client rewrites x to match its own outputs (and, when ``rehash``, the manifest's hash too)."""
    f = folder / case.id / "inputs.json"
    raw = json.loads(f.read_text())
    raw["x"][0][0] += 0.25
    f.write_text(json.dumps(raw))
    if rehash:
        import hashlib

        m = json.loads((folder / "manifest.json").read_text())
        m["cases"][0]["sha256"]["inputs.json"] = hashlib.sha256(f.read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("rehash", [False, True], ids=["hash-stale", "hash-rewritten-too"])
def test_a_changed_input_fails_its_case_naming_the_file(one, rehash, capsys):
    folder, case = one
    _changed(folder, case, rehash=rehash)
    edited = casefiles.load  # load() refuses it outright
    with pytest.raises(casefiles.CaseFileError, match="inputs.json"):
        edited(folder)
    # outputs computed on the edited inputs, so they would match them
    raw = json.loads((folder / case.id / "inputs.json").read_text())
    x = np.asarray(raw["x"])
    L, g = loss_and_grads(case.params, x, case.y)
    write_json(folder, case, {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2})
    rc, out, _ = run_cli(["cases", "check", str(folder), "--quiet"], capsys)
    assert rc == 1 and "inputs changed" in out and f"{case.id}/inputs.json" in out


def test_a_changed_npy_input_is_named(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["onehot"])
    casefiles.export(tmp_path, sweep, "npy")
    f = tmp_path / sweep[0].id / "inputs" / "W2.npy"
    W2 = np.load(f)
    np.save(f, W2 * 2)
    write_npy(tmp_path, sweep[0], client_outputs(sweep[0]))
    report = casefiles.check(tmp_path)
    assert not report.ok and "W2.npy" in report.results[0].error


# --------------------------------------------------------------------------------------------
# Files that are not what they seem
# --------------------------------------------------------------------------------------------


def test_a_fifo_in_place_of_the_outputs_is_refused_without_blocking(one):
    folder, case = one
    os.mkfifo(folder / case.id / "outputs.json")  # nobody writes it: a blocking read would hang
    report = casefiles.check(folder)
    assert not report.ok and "not a regular file" in report.results[0].error


def test_a_fifo_in_place_of_an_npy_output_is_refused(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["labels"])
    casefiles.export(tmp_path, sweep, "npy")
    write_npy(tmp_path, sweep[0], client_outputs(sweep[0]))
    f = tmp_path / sweep[0].id / "outputs" / "dW1.npy"
    f.unlink()
    os.mkfifo(f)
    report = casefiles.check(tmp_path)
    assert not report.ok and "not a regular file" in report.results[0].error and "dW1.npy" in report.results[0].error


def test_a_link_out_of_the_case_folder_is_not_followed(one, tmp_path):
    folder, case = one
    outside = tmp_path / "right.json"  # right values, outside the case folder
    outside.write_text(json.dumps({q: np.asarray(v).tolist() for q, v in client_outputs(case).items()}))
    (folder / case.id / "outputs.json").symlink_to(outside)
    report = casefiles.check(folder)
    assert not report.ok and "leads out of the case folder" in report.results[0].error


def test_a_link_inside_the_case_folder_is_read(one):
    folder, case = one
    real = folder / case.id / "real.json"
    real.write_text(json.dumps({q: np.asarray(v).tolist() for q, v in client_outputs(case).items()}))
    (folder / case.id / "outputs.json").symlink_to(real)
    assert casefiles.check(folder).ok


def test_json_nested_past_the_limit_is_refused_before_parsing(one):
    folder, case = one
    deep = "[" * 20_000 + "]" * 20_000  # small enough for the size limit; past Python's recursion limit
    (folder / case.id / "outputs.json").write_text('{"loss": 1, "dW1": ' + deep + "}")
    report = casefiles.check(folder)
    assert not report.ok and "levels deep" in report.results[0].error


def test_an_oversized_outputs_file_is_refused(one):
    folder, case = one
    (folder / case.id / "outputs.json").write_text('{"loss": 1, "pad": "' + "x" * 2_000_000 + '"}')
    report = casefiles.check(folder)
    assert not report.ok and "more than the" in report.results[0].error


def test_an_npy_header_declaring_a_huge_shape_is_refused_before_its_data(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["labels"])
    casefiles.export(tmp_path, sweep, "npy")
    write_npy(tmp_path, sweep[0], client_outputs(sweep[0]))
    f = tmp_path / sweep[0].id / "outputs" / "dW1.npy"
    with open(f, "wb") as fh:  # a header for 2^40 float64 (8 TiB), and no data at all
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**20, 2**20)})
    report = casefiles.check(tmp_path)
    assert not report.ok and "declares shape (1048576, 1048576)" in report.results[0].error


@pytest.mark.parametrize("dims", [(10**12, 3, 5, 3), (4, 3, 10**5, 10**5)], ids=["huge-N", "huge-HxC"])
def test_a_manifest_declaring_a_huge_shape_exits_2_before_any_allocation(one, dims, capsys):
    folder, case = one
    m = json.loads((folder / "manifest.json").read_text())
    m["cases"][0].update(zip("NDHC", dims))
    (folder / "manifest.json").write_text(json.dumps(m))
    rc, _, err = run_cli(["cases", "check", str(folder), "--quiet"], capsys)
    assert rc == 2 and "refused" in err and "Traceback" not in err, err


def test_a_fifo_manifest_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "manifest.json")
    rc, _, err = run_cli(["cases", "check", str(tmp_path), "--quiet"], capsys)
    assert rc == 2 and "not a regular file" in err, err


# --------------------------------------------------------------------------------------------
# Read as what they are
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_big_endian_npy_outputs_pass(tmp_path, dtype):
    sweep = cases([0], ["small"], [dtype], ["labels"])
    casefiles.export(tmp_path, sweep, "npy")
    write_npy(tmp_path, sweep[0], client_outputs(sweep[0]), ">")
    assert np.load(tmp_path / sweep[0].id / "outputs" / "dW1.npy").dtype.byteorder == ">"
    report = casefiles.check(tmp_path)
    assert report.ok, str(report)


def test_big_endian_npy_inputs_are_read(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["soft"])
    casefiles.export(tmp_path, sweep, "npy")
    m = json.loads((tmp_path / "manifest.json").read_text())
    del m["cases"][0]["sha256"]  # rewritten as Java would write them: same values, other byte order
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    for k in ("W1", "x", "y"):
        f = tmp_path / sweep[0].id / "inputs" / f"{k}.npy"
        a = np.load(f)
        np.save(f, a.astype(a.dtype.newbyteorder(">")))
    back = casefiles.load(tmp_path)[0]
    assert back.x.dtype == np.float64 and back.x.dtype.isnative and np.array_equal(back.x, sweep[0].x)


def test_utf8_bom_json_outputs_and_manifest_are_read(one):
    folder, case = one
    write_json(folder, case, client_outputs(case), bom=True)
    m = folder / "manifest.json"
    m.write_bytes(b"\xef\xbb\xbf" + m.read_bytes())
    report = casefiles.check(folder)
    assert report.ok, str(report)


def test_a_hash_entry_naming_a_file_outside_the_inputs_exits_2(one, capsys):
    folder, case = one
    m = json.loads((folder / "manifest.json").read_text())
    m["cases"][0]["sha256"] = {"../../../etc/passwd": "0" * 64}
    (folder / "manifest.json").write_text(json.dumps(m))
    rc, _, err = run_cli(["cases", "check", str(folder), "--quiet"], capsys)
    assert rc == 2 and "sha256 must map inputs.json" in err, err


def test_bias_rows_in_case_files_are_a_noted_convention(one):
    from scratch.adapter import NOTE_BIAS_ROWS

    folder, case = one
    out = client_outputs(case)
    write_json(folder, case, {**out, "db1": out["db1"].reshape(1, -1), "db2": out["db2"].reshape(1, -1)})
    report = casefiles.check(folder)
    assert report.ok and report.notes == [NOTE_BIAS_ROWS]
