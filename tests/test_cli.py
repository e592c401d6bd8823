"""``python -m scratch compare``: table, JSON, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import scratch
from scratch.cli import main


def test_compare_small_sweep_passes_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["compare", "--seeds", "0", "1", "--shapes", "seed", "2,3,4,5", "--json", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["n_pairs"] == 2 * 2 * 2 * 4 * 2  # seeds x shapes x dtypes x targets x oracles
    rows = {(s["quantity"], s["dtype"]) for s in report["summary"]}
    assert ("dz2", "float32") in rows and ("loss", "float64") in rows
    assert "max rel err" in capsys.readouterr().out


def test_compare_exits_1_on_a_mismatch(monkeypatch, tmp_path):
    """Break our gradient: compare must notice and exit 1."""
    import scratch.commands.compare as cmd

    def broken(params, x, y):
        L, g = scratch.loss_and_grads(params, x, y)
        return L, g._replace(db1=g.db1 * 0)

    monkeypatch.setattr(cmd, "loss_and_grads", broken)
    out = tmp_path / "r.json"
    rc = main(["compare", "--seeds", "0", "--shapes", "small", "--oracles", "torch", "--dtype", "float64",
               "--json", str(out)])
    assert rc == 1
    failed = {s["quantity"] for s in json.loads(out.read_text())["summary"] if not s["passed"]}
    assert failed == {"db1"}


@pytest.mark.parametrize("argv", [["compare", "--shapes", "1,2,3"], ["compare", "--dtype", "float16"],
                                  ["compare", "--oracles", "tf"], ["nope"], []])
def test_bad_usage_exits_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "scratch", "compare", "--seeds", "0", "--shapes", "n1",
                        "--targets", "labels"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout
