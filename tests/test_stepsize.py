"""The step-size study (``python -m scratch stepsize``): the CLI runs and writes its files, and the
curves show truncation error, the round-off floor and complex step's flat line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratch.cases import SHAPES, make_case
from scratch.lab.cli import main
from scratch.lab.stepsize import best_steps, step_grid, step_size_errors
from scratch.tolerances import CENTRAL_DIFFERENCE_RTOL, COMPLEX_STEP_RTOL, EPS64, FORWARD_DIFFERENCE_RTOL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["small", "n1"])
def study(request):
    """(steps, errors) for a small float64 case, 1e-1 .. 1e-16 at 2 steps per decade."""
    c = make_case(0, SHAPES[request.param], np.float64, "soft")
    steps = step_grid(1e-1, 1e-16, 2)
    return steps, step_size_errors(c.params, c.x, c.y, steps)


def test_step_grid_spans_the_decades():
    steps = step_grid(1e-1, 1e-16, 4)
    assert len(steps) == 61 and steps[0] == pytest.approx(1e-1) and steps[-1] == pytest.approx(1e-16)
    assert np.all(np.diff(np.log10(steps)) == pytest.approx(-0.25))


def test_complex_step_is_flat_below_1e_7(study):
    """No subtractive cancellation: every step from 1e-7 down to 1e-16 is within COMPLEX_STEP_RTOL
    (at 1e-6 the truncation term h^2 f'''/6 is still ~3e-13)."""
    steps, errors = study
    small = steps <= 1.01e-7
    bad = {f"{h:.0e}": f"{e:.2e}" for h, e in zip(steps[small], errors["complex"][small]) if not e <= COMPLEX_STEP_RTOL}
    assert not bad, f"complex-step error above {COMPLEX_STEP_RTOL} at h = {bad}"


@pytest.mark.parametrize(
    "method, root, rtol",
    [("central", 1 / 3, CENTRAL_DIFFERENCE_RTOL), ("forward", 1 / 2, FORWARD_DIFFERENCE_RTOL)],
    ids=["central", "forward"],
)
def test_finite_difference_is_best_near_eps_root(study, method, root, rtol):
    """Central is best within a decade of eps^(1/3) ~ 6e-6, forward of eps^(1/2) ~ 1.5e-8."""
    steps, errors = study
    best = best_steps(steps, errors)[method]
    assert abs(np.log10(best["h"]) - np.log10(EPS64**root)) <= 1.0, best
    assert best["error"] <= rtol, best


@pytest.mark.parametrize("method, slope", [("forward", 1), ("central", 2), ("complex", 2)])
def test_truncation_error_has_the_order_of_the_method(study, method, slope):
    """For large h the error falls like h^slope: 1 for (F), 2 for (C) and (S); fitted over 1e-1 .. 1e-3."""
    steps, errors = study
    big = (steps <= 1e-1) & (steps >= 1e-3)
    fitted = np.polyfit(np.log10(steps[big]), np.log10(errors[method][big]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.15)


@pytest.mark.parametrize("method", ["forward", "central"])
def test_round_off_takes_over_for_small_h(study, method):
    """Below the best step finite differences lose digits like eps/h: at h = 1e-13 (and smaller)
    the error is at least 1e-5 and a thousand times the best error; complex step keeps its floor."""
    steps, errors = study
    e = errors[method][steps <= 1.01e-13]
    assert np.all(e >= 1e-5) and np.all(e >= 1e3 * np.min(errors[method]))
    assert np.max(errors["complex"][steps <= 1.01e-13]) <= COMPLEX_STEP_RTOL


def test_cli_writes_plot_and_json(tmp_path, capsys):
    png, js = tmp_path / "s.png", tmp_path / "s.json"
    rc = main(["stepsize", "--shapes", "small", "n1", "--per-decade", "1", "--plot", str(png), "--json", str(js)])
    assert rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    report = json.loads(js.read_text())
    assert len(report["steps"]) == 16 and [c["shape"] for c in report["cases"]] == ["small", "n1"]
    study = report["cases"][0]
    assert study["dims"] == list(SHAPES["small"])
    assert set(study["errors"]) == {"forward", "central", "complex"}
    assert all(len(v) == 16 for v in study["errors"].values())
    assert study["errors"]["forward"][-1] == "inf"  # h = 1e-16: θ ± h rounds to θ
    out = capsys.readouterr().out
    assert "best step per method" in out and "complex" in out


@pytest.mark.parametrize(
    "argv",
    [["--per-decade", "0"], ["--h-min", "1e-2", "--h-max", "1e-3"], ["--h-min", "0"], ["--shape", "1,2"],
     ["--target", "hard"]],
    ids=["per-decade-0", "h-min-above-h-max", "h-min-0", "bad-shape", "bad-target"],
)
def test_bad_usage_exits_2(argv):
    try:
        rc = main(["stepsize", "--shape", "n1", *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2


def test_script_entry_point(tmp_path):
    js = tmp_path / "s.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "step_size.py"), "--shape", "n1", "--per-decade", "1",
                        "--json", str(js)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(js.read_text())["cases"][0]["shape"] == "n1"
