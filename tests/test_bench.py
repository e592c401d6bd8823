"""``python -m scratch bench``: a smoke run on a tiny size (no timed assertions: speed lives in
the benchmark itself), the JSON report's structure, the plot, and usage errors."""

from __future__ import annotations

import json
import sys

import pytest

import scratch.lab.commands.bench as bench_command

from scratch.lab.bench import IMPLEMENTATIONS, STEP_BUILDERS, WORKERS, gemm_flops, median_time, run_worker
from scratch.lab.cli import main

TINY = "3,2,5,2"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One tiny run of every framework (each in its own subprocess), with JSON and plot."""
    d = tmp_path_factory.mktemp("bench")
    rc = main(["bench", "--sizes", TINY, "--repeats", "2", "--rounds", "2", "--warmup", "1",
               "--json", str(d / "b.json"), "--plot", str(d / "b.png")])
    return rc, json.loads((d / "b.json").read_text()), d / "b.png"


def test_bench_runs_every_implementation(report):
    rc, rep, _ = report
    assert rc == 0
    assert {(p["dtype"], tuple(p["shape"])) for p in rep["points"]} == {("float64", (3, 2, 5, 2)), ("float32", (3, 2, 5, 2))}
    unmeasured = [(impl, p["dtype"]) for p in rep["points"] for impl in IMPLEMENTATIONS
                  if not (p[impl] is not None and p[impl] > 0)]
    assert not unmeasured, f"no positive median time: {unmeasured}"
    counts = {(impl, p["dtype"]): p[f"{impl}_n"] for p in rep["points"] for impl in IMPLEMENTATIONS}
    assert set(counts.values()) == {4}, f"2 repeats x 2 rounds, pooled: {counts}"
    for p in rep["points"]:
        assert p["gemm_flops"] == gemm_flops(3, 2, 5, 2) and p["floor"] > 0
        assert p["workspace/jax"] == pytest.approx(p["workspace"] / p["jax"])
        assert p["workspace/torch"] == pytest.approx(p["workspace"] / p["torch"])
        assert p["stream/floor"] == pytest.approx(p["stream"] / p["floor"])


def test_the_stream_bound_does_the_two_large_products():
    """The stream bound computes x W1 and x^T (x W1)^3, so it cannot time less work than it claims."""
    import numpy as np

    from scratch.lab.bench import stream_step

    rng = np.random.default_rng(0)
    x, W1 = rng.standard_normal((6, 3)), rng.standard_normal((3, 4))
    got = stream_step(x, W1)()
    np.testing.assert_allclose(got, x.T @ (x @ W1) ** 3, rtol=1e-12)


def fake_workers(times_of):
    """A stand-in for ``spawn_worker``: every implementation of the worker at the first size and
    dtype, with the samples ``times_of(impl)``; a BLAS rate of 1 GFLOP/s, two BLAS threads."""
    env = {"env": {"OMP_NUM_THREADS": None}, "threadpools": [{"internal_api": "openblas", "num_threads": 2}],
           "framework": "x"}

    def fake(worker, sizes, dtypes, repeats, warmup, progress=None):
        impls = [i for i, w in IMPLEMENTATIONS.items() if w == worker]
        return {"results": [{"impl": i, "shape": list(sizes[0]), "dtype": dtypes[0], "times": times_of(i)} for i in impls],
                "blas_rate": {dtypes[0]: 1e9} if worker == "scratch" else {}, "environment": env}

    return fake


def test_the_stream_bound_is_never_the_fastest_implementation(monkeypatch, capsys):
    """A bound that takes 1/50 of every step must not make the steps look implausibly slow."""
    monkeypatch.setattr(bench_command, "spawn_worker", fake_workers(lambda i: [2e-6] * 10 if i == "stream" else [1e-4] * 10))
    assert main(["bench", "--shapes", TINY, "--dtypes", "float64", "--frameworks", "scratch,torch"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and "stream/floor" in out


def test_bench_reports_blas_and_threads(report):
    _, rep, _ = report
    env = rep["environment"]
    assert set(env) == {"scratch", "torch", "jax"}
    assert "torch" in env["torch"]["framework"] and "jax" in env["jax"]["framework"]
    pools = env["scratch"]["threadpools"]
    assert any(p.get("user_api") == "blas" and p.get("num_threads", 0) >= 1 for p in pools), pools
    assert "intra-op threads" in env["torch"]["framework"] and "(pinned to NumPy's BLAS threads)" in env["torch"]["framework"]
    blas = max(p["num_threads"] for p in pools if p.get("user_api") == "blas")
    assert f"intra-op threads {blas} " in env["torch"]["framework"]
    assert set(rep["blas_rate"]) == {"float64", "float32"} and all(r > 0 for r in rep["blas_rate"].values())


def test_bench_prints_the_table(report, capsys):
    rc = main(["bench", "--sizes", TINY, "--dtypes", "float32", "--repeats", "2", "--warmup", "1",
               "--frameworks", "scratch"])
    out = capsys.readouterr().out
    assert rc == 0
    for word in ("ws = workspace", "plain", "floor", "ws/jax", "goals: ws/jax <= 1.0, ws/torch <= 0.5", "3,2,5,2", "openblas"):
        assert word in out, word


def test_bench_writes_a_png(report):
    _, _, png = report
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gemm_flops_counts_five_products():
    assert gemm_flops(1, 2, 500, 2) == 2 * (2 * 1 * 2 * 500) + 3 * (2 * 1 * 500 * 2)


def test_median_time_counts_calls():
    calls = []
    t = median_time(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and t["repeats"] == 5 and 0 <= t["q1"] <= t["median"] <= t["q3"]


def test_every_implementation_has_a_worker_that_builds_it():
    assert WORKERS == tuple(STEP_BUILDERS) == ("scratch", "torch", "jax")


def test_worker_rejects_unknown_framework():
    with pytest.raises(ValueError, match="worker must be one of"):
        run_worker("tensorflow", [(3, 2, 5, 2)], ["float64"], 1, 1)


@pytest.mark.parametrize("argv, message", [(["--repeats", "0"], "argument --repeats: 0 must be >= 1"),
                                           (["--rounds", "0"], "argument --rounds: 0 must be >= 1"),
                                           (["--sizes", "1,2,3"], "'1,2,3'"), (["--dtypes", "float16"], "'float16'")],
                         ids=["repeats0", "rounds0", "bad-size", "bad-dtype"])
def test_bench_usage_errors_exit_2(argv, message, capsys):
    try:
        rc = main(["bench", "--frameworks", "scratch", *argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    assert rc == 2
    assert message in capsys.readouterr().err


def test_bench_plot_without_matplotlib_exits_2_before_measuring(monkeypatch, capsys):
    """A missing plot extra is a usage error found before the (long) measurements, not a traceback after them."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(bench_command, "collect", lambda args: pytest.fail("measured before checking for matplotlib"))
    rc = main(["bench", "--frameworks", "scratch", "--plot", "b.png"])
    assert rc == 2 and "scratch-backprop[plot]" in capsys.readouterr().err


def test_bench_warns_when_the_measurement_is_disturbed(monkeypatch, capsys):
    """A point whose step time varies > 5x between repeats (a torch step at 84 ms under load)
    is flagged, next to the thread settings, rather than reported as a clean ratio."""
    steady, noisy = [1e-4] * 10, [1e-4] * 5 + [8.4e-2] * 5
    monkeypatch.setattr(bench_command, "spawn_worker", fake_workers(lambda i: noisy if i == "torch" else steady))
    assert main(["bench", "--shapes", TINY, "--dtypes", "float64", "--frameworks", "scratch", "torch"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: torch float64 3,2,5,2" in out and "unreliable" in out
    assert "WARNING: workspace" not in out and "threads=2" in out


def test_bench_warns_when_one_framework_is_uniformly_slow(monkeypatch, capsys):
    """A steady 92 ms torch step where the others take 0.1 ms (an oversubscribed thread pool on a
    busy machine) has no spread to see; it is flagged as implausible instead of read as a ratio."""
    monkeypatch.setattr(bench_command, "spawn_worker", fake_workers(lambda i: [9.2e-2] * 10 if i == "torch" else [1e-4] * 10))
    assert main(["bench", "--shapes", TINY, "--dtypes", "float64", "--frameworks", "scratch,torch"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: torch float64 3,2,5,2" in out and "fastest implementation" in out
    assert "WARNING: workspace" not in out
