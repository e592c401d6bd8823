"""Case files (``python -m scratch cases``): export, outputs written beside the inputs, check.

The outputs here are written by hand following docs/case-files.md (not by scratch.casefiles),
by scratch's own ``loss_and_grads`` on the sweep's arrays, or by a separate Node process
running ``scripts/js/scratch_net.js``: an implementation in another language, with a one-line
bug switch that must be caught and named.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scratch import casefiles
from scratch.cases import TARGETS
from scratch.lab.cli import main
from scratch.network import loss_and_grads
from scratch.testing import cases
from cli_run import run_cli

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "scripts" / "js" / "scratch_net.js"
QUANTITIES = ("loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2")


def scratch_outputs(case):
    """scratch's loss and gradients on the sweep's own arrays (not on what the files say)."""
    L, g = loss_and_grads(case.params, case.x, case.y)
    return {"loss": L, **{q: getattr(g, q) for q in QUANTITIES[1:]}}


def write_json_outputs(folder: Path, case_id: str, out: dict) -> None:
    """The documented JSON layout: <id>/outputs.json, one object, numbers as JSON numbers."""
    (folder / case_id / "outputs.json").write_text(json.dumps({q: np.asarray(v).tolist() for q, v in out.items()}))


def write_npy_outputs(folder: Path, case_id: str, out: dict) -> None:
    """The documented npy layout: <id>/outputs/<name>.npy."""
    (folder / case_id / "outputs").mkdir()
    for q, v in out.items():
        np.save(folder / case_id / "outputs" / f"{q}.npy", np.asarray(v))


# --------------------------------------------------------------------------------------------
# Export, load, check
# --------------------------------------------------------------------------------------------


def test_manifest_describes_every_case(tmp_path):
    sweep = cases([0, 3], ["small", "n1"], ["float64"], ["labels", "soft"])
    casefiles.export(tmp_path, sweep)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert (m["format"], m["version"], m["layout"]) == ("scratch-case-files", 1, "json")
    assert m["outputs"] == {"required": ["loss", "dW1", "db1", "dW2", "db2"], "optional": ["dz1", "dz2"]}
    assert [e["id"] for e in m["cases"]] == [c.id for c in sweep]
    e = next(e for e in m["cases"] if e["id"] == "s3-small-float64-soft")
    assert (e["seed"], e["shape"], e["N"], e["D"], e["H"], e["C"], e["dtype"], e["target"]) == (
        3, "small", 4, 3, 5, 3, "float64", "soft")
    assert e["inputs"] == "s3-small-float64-soft/inputs.json" and e["outputs"] == "s3-small-float64-soft/outputs.json"
    assert e["expected"] == {"loss": [], "dW1": [3, 5], "db1": [5], "dW2": [5, 3], "db2": [3]}
    assert e["optional"] == {"dz1": [4, 5], "dz2": [4, 3]}
    assert e["input_shapes"]["y"] == [4, 3]
    assert next(e for e in m["cases"] if e["target"] == "labels")["input_shapes"]["y"] == [4]


@pytest.mark.parametrize("fmt, write", [("json", write_json_outputs), ("npy", write_npy_outputs)])
def test_scratch_outputs_pass_and_a_wrong_one_fails(tmp_path, fmt, write):
    sweep = cases([0, 1], ["small", "square", "n1"], ["float64", "float32"], TARGETS)
    casefiles.export(tmp_path, sweep, fmt)
    for c in sweep:
        out = scratch_outputs(c)
        assert all(np.all(np.isfinite(v)) for v in out.values())
        write(tmp_path, c.id, out)
    report = casefiles.check(tmp_path)
    assert report.ok, str(report)
    assert len(report.results) == len(sweep) and report.not_returned == ()
    assert all(set(r.checks) == set(QUANTITIES) and all(c.passed for c in r.checks.values()) for r in report.results)
    assert "all passed" in str(report)
    # The same files with one element of one gradient off by 1e-6 relative: that case fails, on dW2 only.
    bad = next(c for c in sweep if c.id == "s1-square-float64-soft")
    out = scratch_outputs(bad)
    out["dW2"] = out["dW2"].copy()
    out["dW2"][2, 1] *= 1 + 1e-6
    shutil.rmtree(tmp_path / bad.id / "outputs", ignore_errors=True)
    write(tmp_path, bad.id, out)
    report = casefiles.check(tmp_path)
    assert [r.case.id for r in report.failures()] == [bad.id]
    assert report.failures()[0].failed() == ["dW2"]


def test_float32_json_inputs_parse_back_exactly(tmp_path):
    sweep = cases([0, 1, 2], ["small", "wide"], ["float32"], TARGETS)
    casefiles.export(tmp_path, sweep)
    for c in sweep:
        raw = json.loads((tmp_path / c.id / "inputs.json").read_text())  # any JSON parser: doubles
        for name, a in zip(("W1", "b1", "W2", "b2", "x", "y"), (*c.params, c.x, c.y)):
            parsed = np.asarray(raw[name])
            if name == "y" and c.target == "labels":
                assert parsed.dtype.kind == "i" and np.array_equal(parsed, a)
                continue
            assert a.dtype == np.float32 and np.all(np.isfinite(a))
            assert np.array_equal(parsed, a.astype(np.float64))  # the double read IS the float32 value
            assert np.array_equal(parsed.astype(np.float32), a)
    for c, back in zip(sweep, casefiles.load(tmp_path)):
        assert back.id == c.id and back.dims == c.dims
        for a, b in zip((*c.params, c.x, c.y), (*back.params, back.x, back.y)):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_npy_round_trip_and_the_files_are_the_truth(tmp_path):
    sweep = cases([4], ["c1", "h1"], ["float64", "float32"], ["labels", "unnormalized"])
    casefiles.export(tmp_path, sweep, "npy")
    assert sorted(p.name for p in (tmp_path / sweep[0].id / "inputs").iterdir()) == sorted(
        f"{k}.npy" for k in ("W1", "b1", "W2", "b2", "x", "y"))
    back = casefiles.load(tmp_path)
    assert [b.id for b in back] == [c.id for c in sweep]
    for c, b in zip(sweep, back):
        for x, y in zip((*c.params, c.x, c.y), (*b.params, b.x, b.y)):
            assert x.dtype == y.dtype and np.array_equal(x, y)
    # Edit one input file: load() refuses it, naming the file (the manifest's seed makes other inputs).
    x_file = tmp_path / sweep[0].id / "inputs" / "x.npy"
    x = np.load(x_file)
    x[0, 0] = 0.5
    np.save(x_file, x)
    with pytest.raises(casefiles.CaseFileError, match=f"{sweep[0].id}/inputs/x.npy"):
        casefiles.load(tmp_path)


def test_json_outputs_are_read_in_the_case_dtype_and_npy_dtype_is_checked(tmp_path):
    sweep = cases([0], ["small"], ["float32"], ["soft"])
    c = sweep[0]
    for fmt in ("json", "npy"):
        folder = tmp_path / fmt
        casefiles.export(folder, sweep, fmt)
        # computed in float64 on the float32 inputs, as a client working in doubles would
        L, g = loss_and_grads(c.params.astype(np.float64), c.x.astype(np.float64), c.y.astype(np.float64))
        out = {"loss": L, "dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2}
        (write_json_outputs if fmt == "json" else write_npy_outputs)(folder, c.id, out)
        report = casefiles.check(folder)
        if fmt == "json":
            assert report.ok, str(report)
            assert report.not_returned == ("dz1", "dz2") and "not checked (not returned)" in str(report)
        else:
            assert not report.ok and "dtype" in report.results[0].checks["dW1"].problem


def test_non_finite_and_unreadable_outputs_fail_their_case(tmp_path):
    sweep = cases([0], ["small"], ["float64"], ["labels", "onehot", "soft"])
    casefiles.export(tmp_path, sweep)
    a, b, c = sweep
    out = {q: np.asarray(v).tolist() for q, v in scratch_outputs(a).items()}
    out["db1"][1] = None  # JSON.stringify(NaN)
    (tmp_path / a.id / "outputs.json").write_text(json.dumps(out))
    out = {q: np.asarray(v).tolist() for q, v in scratch_outputs(b).items() if q != "dW1"}
    (tmp_path / b.id / "outputs.json").write_text(json.dumps(out))
    (tmp_path / c.id / "outputs.json").write_text("{not json")
    report = casefiles.check(tmp_path)
    ra, rb, rc = report.results
    assert ra.failed() == ["db1"] and "finite" in ra.checks["db1"].problem
    assert "lacks dW1" in rb.error and "outputs.json" in rb.error
    assert "not valid JSON" in rc.error
    assert not report.ok and len(report.failures()) == 3


def test_a_case_without_outputs_fails_naming_the_file(tmp_path, capsys):
    sweep = cases([0, 1], ["small"], ["float64"], ["labels"])
    casefiles.export(tmp_path, sweep)
    write_json_outputs(tmp_path, sweep[0].id, scratch_outputs(sweep[0]))
    report = casefiles.check(tmp_path)
    assert report.results[0].ok and not report.results[1].ok
    assert report.results[1].error == f"no outputs: expected {tmp_path / sweep[1].id / 'outputs.json'}"
    rc, out, _ = run_cli(["cases", "check", str(tmp_path), "--quiet"], capsys)
    assert rc == 1 and f"{sweep[1].id}/outputs.json" in out


# --------------------------------------------------------------------------------------------
# The JavaScript client, run as a separate process
# --------------------------------------------------------------------------------------------


def node() -> str:
    """Node.js for scripts/js/scratch_net.js: a skip naming the install line when missing (a failure in CI)."""
    from prerequisites import node_path

    return node_path()


def run_js(folder: Path, *extra: str) -> None:
    r = subprocess.run([node(), str(JS), str(folder), *extra], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


JS_SWEEP = ["--seeds", "0", "1", "--shapes", "small", "n1", "square", "c1", "h1", "confident", "huge",
            "--dtypes", "float64", "float32", "--targets", *TARGETS]


@pytest.fixture(scope="module")
def js_folder(tmp_path_factory):
    node()  # no node: skip (fail in CI) before exporting
    folder = tmp_path_factory.mktemp("js") / "cases"
    assert main(["cases", "export", str(folder), *JS_SWEEP]) == 0
    return folder


def test_javascript_client_passes(js_folder, capsys):
    run_js(js_folder)
    m = json.loads((js_folder / "manifest.json").read_text())
    assert {(e["dtype"], e["target"]) for e in m["cases"]} == {(d, t) for d in ("float64", "float32") for t in TARGETS}
    for e in m["cases"]:  # every output written, every number finite (JSON.stringify writes null for NaN)
        out = json.loads((js_folder / e["outputs"]).read_text())
        assert sorted(out) == sorted(QUANTITIES)
        assert all(np.all(np.isfinite(np.asarray(out[q], dtype=np.float64))) for q in QUANTITIES)
        assert all(np.shape(out[q]) == tuple(s) for q, s in {**e["expected"], **e["optional"]}.items())
    json_report = js_folder.parent / "report.json"
    rc, out, _ = run_cli(["cases", "check", str(js_folder), "--quiet", "--json", str(json_report)], capsys)
    assert rc == 0, out
    data = json.loads(json_report.read_text())
    assert data["passed"] and data["n_cases"] == len(m["cases"]) and data["not_returned"] == []
    assert all(r["quantities"][q]["status"] == "pass" for r in data["cases"] for q in QUANTITIES)


def test_javascript_one_line_bug_is_caught_and_named(js_folder, capsys):
    run_js(js_folder, "--bug", "bias-mean")
    report = casefiles.check(js_folder)
    assert not report.ok
    assert {q for r in report.failures() for q in r.failed()} == {"db1"}
    assert all(r.ok for r in report.results if r.case.dims[0] == 1)  # N = 1: mean = sum
    names = [d.pitfall for d in report.diagnosis if "db1" in d.quantities]
    assert names == ["bias_gradient_by_mean"], [str(d) for d in report.diagnosis]
    rc, out, _ = run_cli(["cases", "check", str(js_folder), "--quiet"], capsys)
    assert rc == 1 and "Diagnosis:" in out and "db1 matches pitfall `bias_gradient_by_mean`" in out
    run_js(js_folder)  # leave the folder passing for any later test


# --------------------------------------------------------------------------------------------
# Usage errors: exit 2, a message, no traceback, before any work
# --------------------------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    import scratch.testing

    monkeypatch.setattr(casefiles, "export", lambda *a, **k: pytest.fail("export started"))
    monkeypatch.setattr(casefiles, "check_outputs", lambda *a, **k: pytest.fail("comparison started"))
    monkeypatch.setattr(scratch.testing, "check_outputs", lambda *a, **k: pytest.fail("comparison started"))


@pytest.fixture
def exported(tmp_path):
    folder = tmp_path / "cases"
    casefiles.export(folder, cases([0], ["small"], ["float64"], ["labels", "soft"]))
    return folder


def _edit_manifest(folder: Path, fn) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    fn(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_export_to_bad_paths_exits_2(tmp_path, capsys, no_work):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "old").write_text("x")
    for path, message in [(a_file, "exists and is not a folder"), (a_file / "sub", "cannot create it"),
                          (tmp_path / "no" / "such", "cannot create it"), (full, "is not empty")]:
        rc, _, err = run_cli(["cases", "export", str(path), "--seeds", "0"], capsys)
        assert rc == 2 and message in err and "Traceback" not in err, (path, err)
    rc, _, err = run_cli(["cases", "export", str(tmp_path / "new"), "--format", "csv"], capsys)
    assert rc == 2 and "invalid choice: 'csv'" in err
    rc, _, err = run_cli(["cases", "export", str(tmp_path / "new"), "--shapes", "confident", "--targets", "soft"], capsys)
    assert rc == 2 and "the sweep is empty" in err and not (tmp_path / "new").exists()


@pytest.mark.parametrize("breakage, message", [
    (lambda f: (f / "manifest.json").unlink(), "has no manifest.json"),
    (lambda f: (f / "manifest.json").write_text("{"), "is not valid JSON"),
    (lambda f: _edit_manifest(f, lambda m: m.update(format="other")), "format 'other', expected 'scratch-case-files'"),
    (lambda f: _edit_manifest(f, lambda m: m.update(version=2)), "version 2"),
    (lambda f: _edit_manifest(f, lambda m: m.update(cases=[])), "'cases' must be a non-empty list"),
    (lambda f: _edit_manifest(f, lambda m: m["cases"][0].update(dtype="float16")), "dtype 'float16'"),
    (lambda f: _edit_manifest(f, lambda m: m["cases"][0].update(inputs="../elsewhere.json")), "relative path inside"),
    (lambda f: _edit_manifest(f, lambda m: m["cases"][0].update(N=5)), "x has shape (4, 3), the manifest says (5, 3)"),
    (lambda f: _edit_manifest(f, lambda m: m["cases"][1].update(dtype="float32")), "not finite float32 numbers"),
    (lambda f: _edit_manifest(f, lambda m: m["cases"][1].update(seed=9)), "make the id 's9-small-float64-soft'"),
    (lambda f: (f / "s0-small-float64-labels" / "inputs.json").unlink(), "cannot read its inputs"),
    (lambda f: None, "no case has outputs yet"),
])
def test_check_bad_folder_exits_2_before_any_work(exported, breakage, message, capsys, no_work):
    breakage(exported)
    rc, _, err = run_cli(["cases", "check", str(exported), "--quiet"], capsys)
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_check_bad_paths_exit_2(tmp_path, exported, capsys, no_work):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for argv, message in [([str(a_file)], "is not a folder"), ([str(tmp_path / "nope")], "is not a folder"),
                          ([str(exported), "--json", str(tmp_path / "no" / "r.json")], "does not exist"),
                          ([str(exported), "--json", str(tmp_path / "r.txt")], "unsupported extension"),
                          ([str(exported), "--reference", "tensorflow"], "invalid choice")]:
        rc, _, err = run_cli(["cases", "check", *argv], capsys)
        assert rc == 2 and message in err and "Traceback" not in err, (argv, err)
    rc, _, err = run_cli(["cases"], capsys)
    assert rc == 2 and "ACTION" in err
