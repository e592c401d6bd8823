"""``python -m scratch conformance``: the matrix over scratch, the oracles and the peers."""

from __future__ import annotations

import json

import pytest

from scratch.lab.cli import main
from scratch.conformance import matrix


def test_matrix_cells_and_known_departures():
    cells = {(c.implementation, c.dtype, c.target): c for c in matrix(
        ["scratch", "sklearn", "autograd"], seeds=[0], shapes=["small", "seed", "confident"])}
    assert all(c.report.ok for k, c in cells.items() if k[0] == "scratch")
    assert cells[("autograd", "float64", "soft")].report.ok
    # sklearn's output delta is yhat - y: unnormalized targets are diagnosed as that pitfall, outside its declared support
    unnorm = cells[("sklearn", "float64", "unnormalized")]
    assert not unnorm.report.ok and unnorm.unsupported
    assert "yhat_minus_y" in {d.pitfall for d in unnorm.report.diagnosis}
    # float32 on confident rows: sklearn's 1 - a1^2 is diagnosed
    conf = cells[("sklearn", "float32", "labels")]
    assert "float32_tanh_derivative_from_a1" in {d.pitfall for d in conf.report.diagnosis}
    assert {r.case.shape for r in conf.report.failures()} == {"confident"}


def test_command_prints_and_writes_the_matrix(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["conformance", "--implementations", "scratch", "autograd", "--seeds", "0", "--shapes", "small",
                 "--dtypes", "float64", "--quiet", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [(c["implementation"], c["target"]) for c in data["cells"]][:2] == [("scratch", "labels"), ("scratch", "onehot")]
    assert all(c["passed"] for c in data["cells"]) and all(
        c["quantities"]["dW1"]["status"] == "pass" for c in data["cells"])
    assert "conformance" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["conformance", "--implementations", "tf"], ["conformance", "--json", "/no/dir/m.json"],
                                  ["conformance", "--seeds", "x"]])
def test_bad_usage_exits_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_missing_peer_library_is_named(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)
    for mod in [m for m in sys.modules if m.startswith("scratch.peers.sklearn")]:
        monkeypatch.delitem(sys.modules, mod)
    assert main(["conformance", "--implementations", "sklearn", "--seeds", "0", "--shapes", "small"]) == 2
    assert "scratch-backprop[peers]" in capsys.readouterr().err
