"""``python -m scratch curvature``: Lanczos on hvp / gnvp checked against the dense spectrum,
spectra of a network and a trained moons network, plot and JSON; bad usage exits 2 before any
work; a missing SciPy or matplotlib is named."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from scratch.cases import SHAPES, make_case
from scratch.lab.cli import main
from scratch.lab.commands.curvature import dense_check, lanczos
from scratch.curvature import dense, gnvp, hvp
from scratch.tolerances import LANCZOS_RTOL, eigenvalue_atol


@pytest.mark.parametrize("shape_name", ["small", "n1", "h1"])
@pytest.mark.parametrize("target", ["labels", "unnormalized"])
def test_lanczos_matches_the_dense_spectrum(shape_name, target):
    check = dense_check(SHAPES[shape_name], 3, 0, target)
    assert check["passed"] and check["error"] <= LANCZOS_RTOL
    assert np.all(np.isfinite(check["H"]["dense"]))


def test_lanczos_finds_a_negative_eigenvalue_of_h_and_none_of_g():
    c = make_case(0, SHAPES["small"], np.float64, "labels")
    lam_h = np.linalg.eigvalsh(dense(hvp, *c[:3]))
    bottom = lanczos(hvp, *c[:3], 2, which="SA")
    assert bottom[0] < 0 and abs(bottom[0] - lam_h[0]) <= LANCZOS_RTOL * np.max(np.abs(lam_h))
    G_bottom = lanczos(gnvp, *c[:3], 2, which="SA")[0]
    assert G_bottom >= -eigenvalue_atol(lam_h.size) * lanczos(gnvp, *c[:3], 1)[0]


def test_cli_runs_writes_plot_and_json(tmp_path, capsys):
    png, js = tmp_path / "c.png", tmp_path / "c.json"
    rc = main(["curvature", "--shape", "4,2,12,2", "--k", "3", "--plot", str(png), "--json", str(js)])
    assert rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    report = json.loads(js.read_text())
    assert report["passed"] and report["dense_check"]["error"] <= LANCZOS_RTOL
    net, moons = report["networks"]
    assert net["P"] == 2 * 12 + 12 + 12 * 2 + 2 and moons["P"] == 2 * 16 + 16 + 16 * 2 + 2
    for r in (net, moons):
        assert len(r["H_top"]) == 3 and r["H_top"] == sorted(r["H_top"], reverse=True)
        assert r["G_top"][-1] >= -eigenvalue_atol(r["P"]) * r["G_top"][0] and r["cost"]["hvp_ratio"] > 0
        # Lanczos agrees with the dense spectrum of the same network (both here: P <= 400)
        assert np.allclose(r["H_top"], sorted(r["H_dense"], reverse=True)[:3], rtol=0, atol=LANCZOS_RTOL * abs(r["H_top"][0]))
    out = capsys.readouterr().out
    assert "PASS" in out and "H top" in out and "moons trained" in out


def test_one_class_network_has_a_zero_spectrum(capsys):
    """C = 1: H = G = 0 exactly; ARPACK refuses a zero operator, so the command reports zeros
    instead of a traceback, in the dense check and on the network."""
    check = dense_check(SHAPES["c1"], 2, 0, "labels")
    assert check["passed"] and check["error"] == 0 and np.all(check["H"]["dense"] == 0)
    c = make_case(0, SHAPES["c1"], np.float64, "labels")
    assert np.all(lanczos(hvp, *c[:3], 2) == 0) and np.all(lanczos(gnvp, *c[:3], 2, which="SA") == 0)
    assert main(["curvature", "--shape", "c1", "--check-shape", "c1", "--no-moons", "--k", "2"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_cli_exits_1_when_lanczos_disagrees(monkeypatch, tmp_path):
    import scratch.lab.commands.curvature as cmd

    monkeypatch.setattr(cmd, "LANCZOS_RTOL", -1.0)  # nothing can pass
    assert main(["curvature", "--shape", "n1", "--no-moons", "--k", "2"]) == 1


def test_pitfalls_table(capsys, tmp_path):
    js = tmp_path / "p.json"
    assert main(["curvature", "--pitfalls", "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["passed"] and report["missed"] == [] and len(report["pitfalls"]) == 5
    assert "gauss_newton_for_hessian" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [(["--k", "0"], "--k"), (["--shape", "1,2"], "--shape"), (["--json", "/nonexistent/x.json"], "--json"),
     (["--plot", "out.txt"], "--plot"), (["--check-shape", "large"], "P = "), (["--k", "40"], "--k 40"),
     (["--seed", "-1"], "--seed"), (["--target", "hard"], "--target")],
    ids=["k0", "bad-shape", "json-folder", "plot-ext", "check-too-big", "k-too-big", "seed-neg", "target"],
)
def test_bad_usage_exits_2_with_a_message(argv, match, capsys, monkeypatch):
    import scratch.lab.commands.curvature as cmd

    monkeypatch.setattr(cmd, "dense_check", lambda *a: pytest.fail("work started before the usage check"))
    try:
        rc = main(["curvature", *argv])
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


@pytest.mark.parametrize("module, extra", [("scipy.sparse.linalg", "curvature"), ("matplotlib", "plot")])
def test_missing_extra_is_named(module, extra, monkeypatch, capsys, tmp_path):
    import scratch.lab.commands.curvature as cmd

    monkeypatch.setitem(sys.modules, module, None)  # import fails
    monkeypatch.setattr(cmd, "dense_check", lambda *a: pytest.fail("work started before the extra check"))
    rc = main(["curvature", "--plot", str(tmp_path / "c.png")])
    assert rc == 2
    assert f"scratch-backprop[{extra}]" in capsys.readouterr().err
