"""Training: SGD on the hand-derived gradients follows the very same trajectory as
``torch.optim.SGD`` and ``optax.sgd`` from the same arrays and mini-batch order; the optimiser's
formulas; the schedule; the ``train`` and ``saturation`` commands."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import scratch
import scratch.lab.train as st
from scratch.lab.cli import main
from scratch.lab.parity import get_trainer, max_param_diff, progress
from scratch.compare import elementwise_relative_error, relative_error
from scratch.lab.data import make_dataset
from scratch.network import Params
from scratch.tolerances import train_rtol
from scratch.lab.train import SGDConfig, Step, accuracy, batch_schedule, sgd_update, train

STEPS = 200
H = 8  # small: the runs stay fast, and the claim does not depend on width

#: momentum and weight decay on in both: every term of (8)-(10) is exercised.
CONFIGS = {
    "full": SGDConfig(lr=0.5, steps=STEPS, momentum=0.9, weight_decay=1e-3),
    "mini32": SGDConfig(lr=0.2, steps=STEPS, momentum=0.9, weight_decay=1e-3, batch_size=32, seed=7),
}


def problem(dataset: str, dtype=np.float64, seed: int = 0):
    """Data and theta_0 (non-zero biases, so a bias bug cannot hide) for one run."""
    d = make_dataset(dataset, seed=seed, dtype=dtype)
    _, D, C = d.dims
    return d, scratch.init_params(D, H, C, rng=seed, dtype=dtype, bias_scale=0.5)


def param_report(ours: Params, theirs: Params, rtol: float) -> str:
    """Every array that is non-finite or differs by more than rtol (empty when all agree)."""
    bad = []
    for name, a, b in zip(Params._fields, ours, theirs):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            bad.append(f"{name}: non-finite")
        elif a.dtype != b.dtype or a.shape != b.shape:
            bad.append(f"{name}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
        elif not relative_error(a, b) <= rtol:
            bad.append(f"{name}: relative difference {relative_error(a, b):.2e} > {rtol:.1e}")
    return "; ".join(bad)


@pytest.fixture(scope="module")
def runs():
    """numpy runs, cached per (dataset, config, dtype): computed once, compared with each twin."""
    cache = {}

    def get(dataset, config_name, dtype=np.float64):
        key = (dataset, config_name, np.dtype(dtype).name)
        if key not in cache:
            d, p = problem(dataset, dtype)
            cfg = CONFIGS[config_name]
            b = batch_schedule(d.x.shape[0], cfg.batch_size, cfg.steps, cfg.seed)
            cache[key] = (d, p, cfg, b, train(p, d.x, d.y, cfg, batches=b))
        return cache[key]

    return get


@pytest.mark.parametrize("twin", ["torch", "jax"])
@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("dataset", ["moons", "spirals"])
def test_float64_trajectory_matches_twin(runs, dataset, config_name, twin):
    """After 200 steps all four arrays agree to 1e-9 relative, and the loss at every step."""
    d, p, cfg, b, ours = runs(dataset, config_name)
    theirs = get_trainer(twin)(p, d.x, d.y, cfg, batches=b)
    rtol = train_rtol(np.float64, STEPS)
    assert rtol == 1e-9
    assert theirs.framework == twin and ours.loss.shape == theirs.loss.shape == (STEPS,)
    assert np.all(np.isfinite(ours.loss)) and np.all(np.isfinite(theirs.loss))
    report = param_report(ours.params, theirs.params, rtol)
    assert not report, f"{dataset}/{config_name} numpy vs {twin}: {report}"
    worst = elementwise_relative_error(ours.loss, theirs.loss)
    assert worst <= rtol, f"loss curves differ by {worst:.2e} at step {np.argmax(np.abs(ours.loss - theirs.loss))}"
    assert ours.loss[-1] < 0.6 * ours.loss[0], "the run must actually train (else agreement is cheap)"


@pytest.mark.parametrize("twin", ["torch", "jax"])
def test_float32_trajectory_matches_twin(runs, twin):
    """float32: agreement within 4 eps32 per step (scratch.tolerances.train_float32_rtol)."""
    d, p, cfg, b, ours = runs("moons", "mini32", np.float32)
    theirs = get_trainer(twin)(p, d.x, d.y, cfg, batches=b)
    rtol = train_rtol(np.float32, STEPS)
    assert all(a.dtype == np.float32 for a in (*ours.params, *theirs.params)), "no silent upcast"
    report = param_report(ours.params, theirs.params, rtol)
    assert not report, f"float32 numpy vs {twin}: {report}"
    assert elementwise_relative_error(ours.loss, theirs.loss) <= rtol
    assert max_param_diff(ours.params, theirs.params) > 0, "float32 twins are not bitwise equal: the check has teeth"


def test_twins_agree_with_each_other(runs):
    d, p, cfg, b, _ = runs("spirals", "mini32")
    a = get_trainer("torch")(p, d.x, d.y, cfg, batches=b)
    c = get_trainer("jax")(p, d.x, d.y, cfg, batches=b)
    assert not param_report(a.params, c.params, train_rtol(np.float64, STEPS))


def test_a_convention_mismatch_fails_the_tolerance(runs, monkeypatch):
    """Decoupled weight decay (theta -= lr (v + lambda theta), decay outside the momentum) is a
    different optimiser; the parity check must see it."""

    def decoupled(params, grads, velocity, *, lr, momentum, weight_decay):
        new, v = sgd_update(params, grads, velocity, lr=lr, momentum=momentum, weight_decay=0.0)
        return Params(*(n - lr * weight_decay * p for n, p in zip(new, params))), v

    d, p, cfg, b, _ = runs("moons", "full")
    monkeypatch.setattr(st, "sgd_update", decoupled)
    wrong = train(p, d.x, d.y, cfg, batches=b)
    monkeypatch.undo()
    theirs = get_trainer("torch")(p, d.x, d.y, cfg, batches=b)
    assert max_param_diff(wrong.params, theirs.params) > 1e3 * train_rtol(np.float64, STEPS)


def test_workspace_and_plain_gradients_give_the_same_trajectory(runs, monkeypatch):
    """The fast path (scratch.Workspace, one per batch size) is really used and changes nothing."""
    d, p, cfg, b, _ = runs("spirals", "mini32")
    calls = []
    real = scratch.Workspace.loss_and_grads
    monkeypatch.setattr(scratch.Workspace, "loss_and_grads", lambda self, *a, **k: calls.append(self.N) or real(self, *a, **k))
    fast = train(p, d.x, d.y, cfg, batches=b, workspace=True)
    plain = train(p, d.x, d.y, cfg, batches=b, workspace=False)
    assert len(calls) == STEPS and set(calls) == {32, 300 % 32}, "one workspace per distinct batch size"
    assert not param_report(fast.params, plain.params, train_rtol(np.float64, STEPS))
    assert elementwise_relative_error(fast.loss, plain.loss) <= train_rtol(np.float64, STEPS)


def test_sgd_update_follows_torch_formulas():
    """(8) g = grad + lambda theta; (9) v = g first, then mu v + g; (10) theta - lr v; on numbers by hand."""
    theta = Params(np.array([[2.0]]), np.array([1.0]), np.array([[-1.0]]), np.array([0.5]))
    grad = Params(np.array([[1.0]]), np.array([0.0]), np.array([[2.0]]), np.array([-1.0]))
    t1, v1 = sgd_update(theta, grad, None, lr=0.1, momentum=0.5, weight_decay=0.25)
    # g = grad + 0.25 theta = [1.5, 0.25, 1.75, -0.875]; v1 = g; theta1 = theta - 0.1 g
    np.testing.assert_allclose(np.concatenate([a.ravel() for a in v1]), [1.5, 0.25, 1.75, -0.875], rtol=1e-15)
    np.testing.assert_allclose(np.concatenate([a.ravel() for a in t1]), [1.85, 0.975, -1.175, 0.5875], rtol=1e-15)
    t2, v2 = sgd_update(t1, grad, v1, lr=0.1, momentum=0.5, weight_decay=0.25)
    # g2 = grad + 0.25 theta1; v2 = 0.5 v1 + g2
    g2 = np.array([1.0, 0.0, 2.0, -1.0]) + 0.25 * np.array([1.85, 0.975, -1.175, 0.5875])
    v2_expected = 0.5 * np.array([1.5, 0.25, 1.75, -0.875]) + g2
    np.testing.assert_allclose(np.concatenate([a.ravel() for a in v2]), v2_expected, rtol=1e-15)
    np.testing.assert_allclose(np.concatenate([a.ravel() for a in t2]),
                               np.array([1.85, 0.975, -1.175, 0.5875]) - 0.1 * v2_expected, rtol=1e-15)
    t_plain, v_plain = sgd_update(theta, grad, None, lr=0.1, momentum=0.0, weight_decay=0.0)
    assert v_plain is None
    np.testing.assert_array_equal(t_plain.W1, theta.W1 - 0.1 * grad.W1)


def test_batch_schedule_is_a_permutation_per_epoch_and_deterministic():
    b = batch_schedule(10, 4, 7, seed=3)
    assert [len(i) for i in b] == [4, 4, 2, 4, 4, 2, 4] and all(i.dtype == np.int64 for i in b)
    assert sorted(np.concatenate(b[:3]).tolist()) == list(range(10))
    assert sorted(np.concatenate(b[3:6]).tolist()) == list(range(10))
    assert [i.tolist() for i in b] == [i.tolist() for i in batch_schedule(10, 4, 7, seed=3)]
    assert [i.tolist() for i in b] != [i.tolist() for i in batch_schedule(10, 4, 7, seed=4)]
    full = batch_schedule(10, None, 3, seed=0)
    assert len(full) == 3 and all(i.tolist() == list(range(10)) for i in full)
    assert batch_schedule(10, 50, 1, seed=0)[0].tolist() == list(range(10))


def test_history_callback_and_inputs_untouched():
    d, p = problem("moons")
    before = p.copy()
    seen = []
    r = train(p, d.x, d.y, SGDConfig(lr=0.5, steps=5), callback=seen.append)
    assert [s.step for s in seen] == list(range(5)) and all(isinstance(s, Step) for s in seen)
    np.testing.assert_array_equal([s.loss for s in seen], r.loss)
    np.testing.assert_array_equal([s.accuracy for s in seen], r.accuracy)
    assert r.accuracy.shape == (5,) and np.all((r.accuracy >= 0) & (r.accuracy <= 1))
    assert r.accuracy[0] == accuracy(p, d.x, d.y)
    changed = [name for name, a, b in zip(Params._fields, p, before) if not np.array_equal(a, b)]
    assert not changed, f"theta_0 modified: {changed}"
    assert r.wall_time > 0 and r.framework == "numpy"


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr": -0.1}, "lr"), ({"lr": 0.0}, "lr"), ({"steps": 0}, "steps"), ({"momentum": 1.0}, "momentum"),
     ({"weight_decay": -1e-3}, "weight_decay"), ({"batch_size": 0}, "batch_size"), ({"lr": float("nan")}, "lr")],
    ids=["lr-negative", "lr-zero", "steps-0", "momentum-1", "decay-negative", "batch-0", "lr-nan"],
)
def test_bad_config_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGDConfig(**{"lr": 0.1, "steps": 10, **kwargs})


def test_train_rejects_float_targets_and_wrong_batch_count():
    d, p = problem("moons")
    with pytest.raises(TypeError, match="integer labels"):
        train(p, d.x, np.eye(2)[d.y], SGDConfig(lr=0.1, steps=1))
    with pytest.raises(ValueError, match="steps = 2"):
        train(p, d.x, d.y, SGDConfig(lr=0.1, steps=2), batches=[np.arange(5)])


# ---------------------------------------------------------------------------------- commands


def test_train_command_writes_json_and_png(tmp_path, capsys):
    js, png = tmp_path / "r.json", tmp_path / "f.png"
    rc = main(["train", "--dataset", "spirals", "--hidden", "6", "--steps", "30", "--batch-size", "50",
               "--json", str(js), "--plot", str(png), "--quiet"])
    assert rc == 0
    r = json.loads(js.read_text())
    assert set(r["max_param_diff"]) == {"numpy-torch", "numpy-jax", "torch-jax"}
    assert all(0 <= v <= 1e-9 for v in r["max_param_diff"].values())
    assert set(r["loss"]) == {"numpy", "torch", "jax"} and all(len(v) == 30 for v in r["loss"].values())
    assert set(r["final_accuracy"]) == set(r["wall_time"]) == {"numpy", "torch", "jax"}
    assert r["passed"] and r["config"]["batch_size"] == 50
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    out = capsys.readouterr()
    assert "numpy-jax" in out.out and out.err == "", "no progress bar when stderr is not a terminal"
    assert "threads: numpy BLAS" in out.out and "torch intra-op 1" in out.out


def test_train_warns_when_the_step_time_is_disturbed(monkeypatch, capsys):
    """Steps whose time varies > 5x (a busy machine) make the wall times unreliable: say so."""
    import scratch.lab.parity as par

    clock = iter(t * 1e-3 for t in np.cumsum([1] + [1, 1, 1, 1, 20, 20, 1, 1, 1, 1, 20, 20] * 3))
    monkeypatch.setattr(par.time, "perf_counter", lambda: next(clock))
    assert main(["train", "--steps", "30", "--hidden", "2", "--frameworks", "numpy", "--quiet"]) == 0
    assert "WARNING: numpy: the step time varied 20x" in capsys.readouterr().out


def test_train_command_blobs_in_higher_dimension(tmp_path):
    png = tmp_path / "b.png"
    rc = main(["train", "--dataset", "blobs", "--dim", "5", "--steps", "5", "--frameworks", "numpy",
               "--plot", str(png), "--quiet"])
    assert rc == 0 and png.stat().st_size > 10_000


def test_train_command_exits_1_when_trajectories_differ(monkeypatch, tmp_path):
    """A twin that trains differently (no weight decay) must be reported, not averaged away."""
    import scratch.lab.parity as par

    real = par.get_trainer

    def fake(name):
        fn = real(name)
        if name != "torch":
            return fn
        return lambda p, x, y, cfg, **k: fn(p, x, y, SGDConfig(**{**vars(cfg), "weight_decay": 0.0}), **k)

    monkeypatch.setattr(par, "get_trainer", fake)
    js = tmp_path / "r.json"
    rc = main(["train", "--steps", "20", "--hidden", "4", "--frameworks", "numpy,torch", "--json", str(js), "--quiet"])
    assert rc == 1
    assert not json.loads(js.read_text())["passed"]


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    with progress("x", 3, enabled=False) as cb:
        cb(None)  # times the step, draws nothing
        assert len(cb.times) == 1
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["train", "--steps", "3", "--hidden", "2", "--frameworks", "numpy"]) == 0
    assert "numpy" in capsys.readouterr().err
    assert main(["train", "--steps", "3", "--hidden", "2", "--frameworks", "numpy", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


BAD_TRAIN = {
    "lr-negative": (["--lr", "-1"], "--lr"),
    "steps-0": (["--steps", "0"], "--steps"),
    "dataset-unknown": (["--dataset", "circles"], "circles"),
    "hidden-0": (["--hidden", "0"], "--hidden"),
    "framework-unknown": (["--frameworks", "numpy,tf"], "'tf'"),
    "momentum-1": (["--momentum", "1"], "--momentum"),
    "batch-0": (["--batch-size", "0"], "--batch-size"),
    "dim-on-moons": (["--dim", "3"], "--dim"),
    "batch-above-N": (["--batch-size", "201"], "--batch-size 201 is larger than the data set (moons: N = 200)"),
    "seed-negative": (["--seed", "-1"], "--seed"),
    "framework-twice": (["--frameworks", "numpy", "numpy"], "numpy listed twice"),
}


@pytest.mark.parametrize("argv, message", list(BAD_TRAIN.values()), ids=list(BAD_TRAIN))
def test_train_bad_options_exit_2_with_a_message(argv, message, capsys):
    try:
        rc = main(["train", "--quiet", *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2
    assert message in capsys.readouterr().err


def test_missing_matplotlib_names_the_plot_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = main(["train", "--steps", "1", "--frameworks", "numpy", "--plot", str(tmp_path / "f.png")])
    assert rc == 2 and "scratch-backprop[plot]" in capsys.readouterr().err


def test_saturation_command_and_its_physics(tmp_path):
    png, js = tmp_path / "s.png", tmp_path / "s.json"
    assert main(["saturation", "--plot", str(png), "--json", str(js), "--hidden", "32"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = json.loads(js.read_text())
    sat, rel = np.array(r["saturated"]), np.array(r["dW1_relative"])
    assert np.all(np.diff(sat) >= 0) and sat[0] == 0 and sat[-1] > 0.9, "saturation grows with the scale"
    assert np.all(np.diff(rel) < 0) and rel[-1] < 1e-3 * rel[0], "and dW1 per unit weight vanishes"
    assert np.max(np.abs(sat - np.array(r["predicted"]))) < 0.05, "as P(|z1| > atanh 0.99) predicts"


@pytest.mark.parametrize("argv, message", [(["--good", "-1"], "--good"), (["--hidden", "0"], "--hidden"),
                                           (["--plot", "s.txt"], "--plot")],
                         ids=["good-negative", "hidden-0", "plot-txt"])
def test_saturation_bad_options_exit_2(argv, message, tmp_path, capsys):
    try:
        rc = main(["saturation", *argv])
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    assert message in capsys.readouterr().err
