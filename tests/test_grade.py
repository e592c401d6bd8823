"""``python -m scratch grade``: a class of small submissions written here, graded by check in
processes of their own; grades.csv, the tiers, the flags, the class summary, Gradescope's
results.json and the autograder bundle run against a fake /autograder layout."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scratch.grading import (
    ConfigError,
    find_submissions,
    load_assignment,
    parse_assignment,
    shard,
    validate_results,
)
from scratch.grading.runner import TierRun
from scratch.grading.scoring import score_tier
from scratch.lab.cli import main
from processes import gone

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# The submissions: a textbook implementation (max-shift, yhat - y, 1 - a1^2) and its variants
# --------------------------------------------------------------------------------------------

from scratch.lab.grade_bench import TEXTBOOK  # noqa: E402  (the textbook submission the benchmark grades too)

# float32-accurate (log1p of the other classes' mass, cancellation-free dz2 and tanh'): the
# benchmark's own, the submission the confident float32 tier asks for
from scratch.lab.grade_bench import ACCURATE  # noqa: E402


def variant(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


NO_SHIFT = variant(TEXTBOOK, "z = z2 - z2.max(axis=1, keepdims=True)", "z = z2")
NO_MEAN = variant(variant(TEXTBOOK, "loss = -(t * logp).sum() / N", "loss = -(t * logp).sum()"),
                  "- t) / N", "- t)")
BIAS_BY_MEAN = variant(TEXTBOOK, "db1 = dz1.sum(axis=0)", "db1 = dz1.mean(axis=0)")
SEGFAULT = "import ctypes\n\ndef loss_and_grads(params, x, y):\n    return ctypes.string_at(0)\n"
EXITS = "import sys\n\ndef loss_and_grads(params, x, y):\n    sys.exit(3)\n"
NOT_IMPORTABLE = "import no_such_module_for_grading\n\ndef loss_and_grads(params, x, y):\n    pass\n"
NO_ENTRY_POINT = TEXTBOOK.replace("def loss_and_grads(", "def loss_and_gradients(")
ACCURATE_WITH_HELPER = "from helpers import loss_and_grads  # a module of the same folder\n"

#: A small sweep: every tier runs, in well under a second each.
CONFIG = '''\
[assignment]
file = "backprop.py"

[sweep]
seeds = [0, 1]
shapes = ["small", "square"]
dtypes = ["float64", "float32"]
targets = ["labels", "soft"]

[limits]
time = 120
'''

#: submission -> (status, score, ordinary, robustness, float32) of the default rubric (10 + 5 + 5).
EXPECTED = {
    "accurate.py": ("graded", 20, 10, 5, 5),
    "textbook.py": ("graded", 15, 10, 5, 0),
    "no_shift.py": ("graded", 10, 10, 0, 0),
    "no_mean.py": ("graded", 0, 0, 0, 0),
    "bias_by_mean.py": ("graded", 13, 9, 4, 0),   # db1 (1 point in each tier) lost everywhere
    "segfault.py": ("crashed", 0, 0, 0, 0),
    "exits.py": ("crashed", 0, 0, 0, 0),
    "not_importable.py": ("not gradable", 0, 0, 0, 0),
    "no_entry_point.py": ("not gradable", 0, 0, 0, 0),
    "folder": ("graded", 20, 10, 5, 5),
    "empty_folder": ("not gradable", 0, 0, 0, 0),
}


def write_class(root: Path) -> Path:
    subs = root / "submissions"
    subs.mkdir()
    for name, source in [("accurate.py", ACCURATE), ("textbook.py", TEXTBOOK), ("no_shift.py", NO_SHIFT),
                         ("no_mean.py", NO_MEAN), ("bias_by_mean.py", BIAS_BY_MEAN), ("segfault.py", SEGFAULT),
                         ("exits.py", EXITS), ("not_importable.py", NOT_IMPORTABLE),
                         ("no_entry_point.py", NO_ENTRY_POINT)]:
        (subs / name).write_text(source)
    (subs / "folder").mkdir()
    (subs / "folder" / "backprop.py").write_text(ACCURATE_WITH_HELPER)
    (subs / "folder" / "helpers.py").write_text(ACCURATE)
    (subs / "empty_folder").mkdir()
    (subs / "empty_folder" / "notes.txt").write_text("I ran out of time\n")
    (subs / "README.txt").write_text("not a submission\n")
    return subs


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class above graded once: (exit status, stdout, stderr, RESULTS/, rows by submission)."""
    root = tmp_path_factory.mktemp("class")
    subs = write_class(root)
    (root / "assignment.toml").write_text(CONFIG)
    results = root / "results"
    rc, out, err = run_main(["grade", str(subs), "--out", str(results), "--config", str(root / "assignment.toml"),
                             "--jobs", "2"])
    with open(results / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    return rc, out, err, results, rows


def test_grading_exits_0_with_one_row_per_submission(graded):
    rc, out, err, results, rows = graded
    assert rc == 0, err
    assert sorted(rows) == sorted(EXPECTED)
    assert "README.txt" in err  # ignored, and said so


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_row(graded, name):
    rows = graded[4]
    status, score, ordinary, robustness, f32 = EXPECTED[name]
    r = rows[name]
    assert (r["status"], float(r["score"]), float(r["ordinary"]), float(r["robustness"]), float(r["float32"])) == \
        (status, score, ordinary, robustness, f32), r
    assert float(r["max_score"]) == 20
    assert r["crashed"] == ("1" if status == "crashed" else "0")
    assert r["timed_out"] == "0"
    assert float(r["seconds"]) > 0 or name == "empty_folder"  # nothing to run there


@pytest.mark.parametrize("name, quantity_columns", [
    ("bias_by_mean.py", {"ordinary.db1": 0, "ordinary.dW1": 3, "ordinary.loss": 2, "robustness.db1": 0,
                         "robustness.dW1": 1}),
    ("textbook.py", {"float32.loss": 0, "ordinary.dW2": 3}),
])
def test_points_per_quantity(graded, name, quantity_columns):
    row = graded[4][name]
    assert {k: float(row[k]) for k in quantity_columns} == quantity_columns


@pytest.mark.parametrize("name, pitfall", [
    ("no_shift.py", "softmax_without_max_shift"),
    ("bias_by_mean.py", "bias_gradient_by_mean"),
    ("textbook.py", "float32_tanh_derivative_from_a1"),
])
def test_diagnosed_pitfalls_in_the_row(graded, name, pitfall):
    assert pitfall in graded[4][name]["pitfalls"].split(";")


def test_a_summed_loss_is_named_as_such_not_as_missing_mean(graded):
    """Loss and gradients consistently N x: the diagnosis says "your loss is a sum" (issue 18),
    not `missing_mean`; the feedback carries the sentence."""
    assert "missing_mean" not in graded[4]["no_mean.py"]["pitfalls"].split(";")
    report = json.loads((graded[3] / "reports" / "no_mean.py.json").read_text())
    assert "your loss is a sum, not a mean" in report["feedback"]


def test_a_pitfall_another_tier_rules_out_is_not_counted(graded):
    # textbook.py passes every huge-logit case: it has the max-shift, whatever a float32 diagnosis says
    assert "softmax_without_max_shift" not in graded[4]["textbook.py"]["pitfalls"].split(";")


@pytest.mark.parametrize("robustness_failed, counted", [(0, False), (1, True)])
def test_contradicted_by_the_tier_that_always_shows_the_pitfall(robustness_failed, counted):
    from scratch.grading.scoring import TierScore, contradicted, pitfall_tier

    a = load_assignment()
    assert (pitfall_tier("softmax_without_max_shift", a), pitfall_tier("float32_yhat_minus_y", a),
            pitfall_tier("missing_mean", a)) == ("robustness", "float32", "ordinary")
    tiers = {"robustness": TierScore("robustness", 5.0, 5.0, {}, n_cases=20, n_failed=robustness_failed)}
    assert contradicted("softmax_without_max_shift", tiers, a) is not counted


@pytest.mark.parametrize("name, words", [
    ("segfault.py", "SIGSEGV"),
    ("exits.py", "sys.exit(3)"),
    ("not_importable.py", "no_such_module_for_grading"),
    ("no_entry_point.py", "loss_and_grads"),
    ("empty_folder", "backprop.py"),
])
def test_why_a_submission_earned_nothing(graded, name, words):
    assert words in graded[4][name]["message"]


def test_overflow_prone_submission_is_told_why_it_lost_the_robustness_tier(graded):
    report = json.loads((graded[3] / "reports" / "no_shift.py.json").read_text())
    rob = report["tiers"]["robustness"]
    assert rob["points"] == 0 and rob["max_points"] == 5 and "softmax_without_max_shift" in rob["pitfalls"]
    assert all("huge-float64" in q["reason"] for q in rob["quantities"].values())
    assert report["tiers"]["ordinary"]["full_marks"]
    feedback = report["feedback"]
    assert "robustness (huge logits, float64): 0 / 5" in feedback and "max-shift" in feedback


def test_one_json_report_per_submission(graded):
    results, rows = graded[3], graded[4]
    reports = {p.name for p in (results / "reports").iterdir()}
    assert reports == {f"{name}.json" for name in rows}
    for name in rows:
        data = json.loads((results / "reports" / f"{name}.json").read_text())
        assert data["submission"] == name and data["score"] == float(rows[name]["score"])
    assert not [p for p in results.rglob("*.tmp")]


def test_class_summary(graded):
    out, rows = graded[1], graded[4]
    assert "11 submission(s): 6 graded, 2 crashed, 3 not gradable" in out
    # full marks per tier, counted from the expected table
    for tier, i in (("ordinary cases", 2), ("robustness (huge logits, float64)", 3),
                    ("float32 accuracy (confident, saturated cases)", 4)):
        full = sum(e[i] == {2: 10, 3: 5, 4: 5}[i] for e in EXPECTED.values())
        line = next(ln for ln in out.splitlines() if ln.startswith(tier))
        assert line.split()[-3:] == [str(full), "of", "11"], line
    counted = {ln.split()[1]: int(ln.split()[0]) for ln in out.split("Most common diagnosed mistakes")[1].splitlines()[1:]
               if ln.strip() and ln.split()[0].isdigit()}
    for pitfall in ("softmax_without_max_shift", "bias_gradient_by_mean"):
        assert counted[pitfall] == sum(pitfall in r["pitfalls"].split(";") for r in rows.values())
    assert counted["bias_gradient_by_mean"] == 1
    summary = json.loads((graded[3] / "summary.json").read_text())
    assert summary["submissions"] == 11 and summary["tiers_full_marks"]["float32"] == 2


def test_grading_never_writes_into_a_submission(graded):
    subs = graded[3].parent / "submissions"
    assert not list(subs.rglob("__pycache__")) and not list(subs.rglob("*.json"))


def test_html_page_per_submission_and_tier(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "no_shift.py").write_text(NO_SHIFT)
    cfg = tmp_path / "a.toml"
    cfg.write_text('[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n'
                   "[rubric.float32]\n")
    rc, out, err = run_main(["grade", str(subs), "--out", str(tmp_path / "r"), "--config", str(cfg), "--html"])
    assert rc == 0, err
    pages = tmp_path / "r" / "html" / "no_shift.py"
    assert sorted(p.name for p in pages.iterdir()) == ["ordinary.html", "robustness.html"]
    assert "softmax_without_max_shift" in (pages / "robustness.html").read_text(encoding="utf-8")
    report = json.loads((tmp_path / "r" / "reports" / "no_shift.py.json").read_text())
    assert report["tiers"]["robustness"]["html"] == str(pages / "robustness.html")


# --------------------------------------------------------------------------------------------
# Hangs, interrupts
# --------------------------------------------------------------------------------------------

HANG_SLEEP = "import time\n\ndef loss_and_grads(params, x, y):\n    time.sleep(600)\n"
HANG_THREAD = ("import threading, time\n\nthreading.Thread(target=time.sleep, args=(600,)).start()\n\n"
               "def loss_and_grads(params, x, y):\n    raise ValueError('never mind')\n")
HANG_CHILD = ("import subprocess, time\n\nchild = subprocess.Popen(['sleep', '600'])\n"
              "open({pidfile!r}, 'w').write(str(child.pid))\n\n"
              "def loss_and_grads(params, x, y):\n    time.sleep(600)\n")




def test_hanging_submissions_are_killed_and_flagged(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    pidfile = tmp_path / "grandchild.pid"
    (subs / "a_child.py").write_text(HANG_CHILD.format(pidfile=str(pidfile)))
    (subs / "b_sleep.py").write_text(HANG_SLEEP)
    cfg = tmp_path / "a.toml"
    cfg.write_text('[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n'
                   "[limits]\ntime = 4\n")  # the whole check, two Python starts included: 1.5 s was too short under load
    rc, out, err = run_main(["grade", str(subs), "--out", str(tmp_path / "r"), "--config", str(cfg), "--jobs", "3"])
    assert rc == 0, err
    with open(tmp_path / "r" / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert {n: (r["status"], r["timed_out"], r["score"]) for n, r in rows.items()} == {
        n: ("timed out", "1", "0") for n in ("a_child.py", "b_sleep.py")}
    assert "limit of 4 s" in rows["b_sleep.py"]["message"]
    assert pidfile.is_file(), "the submission never started its child"
    assert gone(int(pidfile.read_text())), "the submission's own child outlived the time-out"


def test_a_non_daemon_thread_hangs_nothing(tmp_path):
    """The worker ends with os._exit: a thread the submission leaves running cannot keep the check
    alive, so the submission is graded on what its function did (it raised: no points), well
    within a generous limit."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "c_thread.py").write_text(HANG_THREAD)
    cfg = tmp_path / "a.toml"
    cfg.write_text('[sweep]\nseeds = [0]\nshapes = ["small"]\ndtypes = ["float64"]\ntargets = ["labels"]\n'
                   "[limits]\ntime = 120\n")
    results = tmp_path / "r"
    assert main(["grade", str(subs), "--out", str(results), "--config", str(cfg), "--quiet"]) == 0
    with open(results / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["status"], row["timed_out"], row["score"]) == ("graded", "0", "0")
    assert int(row["raised"]) > 0 and float(row["seconds"]) < 100


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_exits_130_kills_everything_and_leaves_no_csv(tmp_path, sig):
    subs = tmp_path / "subs"
    subs.mkdir()
    pidfile = tmp_path / "grandchild.pid"
    (subs / "hang.py").write_text(HANG_CHILD.format(pidfile=str(pidfile)))
    results = tmp_path / "r"
    results.mkdir()
    (results / "grades.csv").write_text("stale,from,an,earlier,run\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "scratch", "grade", str(subs), "--out", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not pidfile.is_file() or not pidfile.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "the submission never started"
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (results / "grades.csv").exists()
    assert not [p for p in results.rglob("*") if p.is_file()]
    assert gone(int(pidfile.read_text()))


# --------------------------------------------------------------------------------------------
# Gradescope
# --------------------------------------------------------------------------------------------

def check_gradescope_results(data: dict, total: float, n_tests: int) -> None:
    """results.json as Gradescope's spec has it, checked here independently of the writer."""
    assert isinstance(data["score"], float) and data["score"] == total
    assert len(data["tests"]) == n_tests
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output", "visibility"}
        assert isinstance(t["name"], str) and isinstance(t["output"], str) and t["output"]
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float) and 0 <= t["score"] <= t["max_score"]
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert sum(t["score"] for t in data["tests"]) == total
    assert validate_results(data) == []


def test_gradescope_format_one_submission(tmp_path):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "backprop.py").write_text(NO_SHIFT)
    cfg = tmp_path / "a.toml"
    cfg.write_text(CONFIG + '[gradescope]\nvisibility = "after_due_date"\n')
    rc, out, err = run_main(["grade", str(sub), "--format", "gradescope", "--out", str(tmp_path / "results"),
                             "--config", str(cfg)])
    assert rc == 0, err
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    check_gradescope_results(data, 10.0, 15)
    assert {t["visibility"] for t in data["tests"]} == {"after_due_date"}
    rob = [t for t in data["tests"] if t["name"].startswith("robustness")]
    assert all(t["score"] == 0 and "softmax_without_max_shift" in t["output"] for t in rob)
    assert "Score 10 / 20" in out


@pytest.mark.parametrize("data, problem", [
    ({"tests": []}, "score must be a number"),
    ({"score": 1.0, "tests": [{"name": "a", "score": 2.0, "max_score": 1.0}]}, "outside [0, max_score"),
    ({"score": 1.0, "tests": [{"name": "a", "score": 0.5, "max_score": 1.0}]}, "add up to 0.5"),
    ({"score": 1.0, "tests": [{"name": "a", "score": 1.0, "max_score": 1.0, "visibility": "public"}]}, "visibility"),
    ({"score": 1.0, "tests": [{"score": 1.0, "max_score": 1.0}]}, "name must be"),
], ids=["no-score", "over-max", "sum", "visibility", "no-name"])
def test_validate_results_finds_what_gradescope_refuses(data, problem):
    assert any(problem in e for e in validate_results(data))


def test_gradescope_bundle_runs_against_a_fake_autograder_root(tmp_path):
    bundle = tmp_path / "bundle"
    cfg = tmp_path / "a.toml"
    cfg.write_text(CONFIG)
    rc, out, err = run_main(["grade", "--gradescope-bundle", str(bundle), "--config", str(cfg)])
    assert rc == 0, err
    assert sorted(p.name for p in bundle.iterdir()) == ["assignment.toml", "run_autograder", "setup.sh"]
    for script in ("setup.sh", "run_autograder"):
        assert os.stat(bundle / script).st_mode & stat.S_IXUSR
        assert subprocess.run(["bash", "-n", str(bundle / script)]).returncode == 0
    assert (bundle / "assignment.toml").read_text() == CONFIG
    # Gradescope's layout: the bundle unzipped in source/, the student's files in submission/
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    (root / "submission" / "backprop.py").write_text(TEXTBOOK)
    (root / "source").symlink_to(bundle, target_is_directory=True)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([str(bundle / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    check_gradescope_results(json.loads((root / "results" / "results.json").read_text()), 15.0, 15)


def test_bundle_reports_a_grader_failure_to_the_student(tmp_path):
    bundle = tmp_path / "bundle"
    assert run_main(["grade", "--gradescope-bundle", str(bundle)])[0] == 0
    (bundle / "assignment.toml").write_text("[sweep]\nshape = 1\n")  # broken after the fact
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").symlink_to(bundle, target_is_directory=True)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([str(bundle / "run_autograder")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "shape" in done.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0.0 and "could not run" in data["output"]


# --------------------------------------------------------------------------------------------
# The config, usage, shards (no check runs)
# --------------------------------------------------------------------------------------------

def test_default_config_grades_the_seed_network_on_checks_default_sweep():
    a = load_assignment()
    assert a.spec.is_seed and a.entry_point == "loss_and_grads" and a.max_score == 20
    assert [t.name for t in a.tiers] == ["ordinary", "robustness", "float32"]
    assert len(a.tier("ordinary").cases(a.spec)) == 400  # check's default: 5 seeds x 10 shapes x 2 x 4
    assert (a.tier("robustness").shapes, a.tier("robustness").dtypes) == (("huge",), ("float64",))
    assert (a.tier("float32").shapes, a.tier("float32").dtypes) == (("confident",), ("float32",))


def test_a_tier_with_an_empty_table_does_not_run():
    a = parse_assignment("[rubric.float32]\n[rubric.robustness]\nloss = 4\n")
    assert [t.name for t in a.tiers] == ["ordinary", "robustness"] and dict(a.tier("robustness").points) == {"loss": 4}
    assert a.max_score == 14


def test_network_options_passed_to_check():
    a = parse_assignment('[network]\nactivation = "leaky_relu"\nalpha = 0.1\nreduction = "sum"\nl2 = 0.001\n')
    assert a.spec_args() == ["--activation", "leaky_relu", "--alpha", "0.1", "--l2", "0.001", "--l2-form", "half",
                             "--reduction", "sum"]
    assert parse_assignment('[network]\nactivation = "relu"\n').spec_args() == ["--activation", "relu",
                                                                               "--reduction", "mean"]
    assert parse_assignment("").spec_args() == []


@pytest.mark.parametrize("network", [
    'activation = "leaky_relu"\nalpha = 0.1\nreduction = "sum"\nl2 = 0.001\n',
    'activation = "sigmoid"\nl2 = 0.5\nl2_form = "full"\nl2_biases = true\n',
    'activation = "relu"\n',
], ids=["leaky-sum-l2", "sigmoid-full-biases", "relu"])
def test_network_options_read_back_as_the_same_spec(network):
    import argparse

    from scratch.lab.commands._options import add_spec_options, spec_from_args

    a = parse_assignment("[network]\n" + network)
    p = argparse.ArgumentParser()
    add_spec_options(p)
    assert spec_from_args(p.parse_args(a.spec_args())) == a.spec


@pytest.mark.parametrize("text, words", [
    ("[sweep]\nshape = ['small']\n", ["[sweep]", "'shape'", "did you mean 'shapes'"]),
    ("[swep]\n", ["top level", "'swep'"]),
    ("[sweep]\nshapes = ['hug']\n", ["[sweep] shapes", "'hug'"]),
    ("[sweep]\nshapes = ['huge']\n", ["[sweep] shapes", "tier of its own"]),
    ("[sweep]\nshapes = ['100000,100000,1,1']\n", ["[sweep] shapes", "too large"]),
    ("[sweep]\ndtypes = ['float16']\n", ["[sweep] dtypes", "'float16'"]),
    ("[sweep]\nseeds = [-1]\n", ["[sweep] seeds", "-1"]),
    ("[sweep]\ntargets = []\n", ["[sweep] targets", "non-empty"]),
    ("[limits]\ntime = 0\n", ["[limits] time", "0"]),
    ("[limits]\nmemory = 10\n", ["[limits] memory", "10"]),
    ("[rubric.ordinary]\ndW3 = 1\n", ["[rubric.ordinary]", "'dW3'", "did you mean 'dW2'"]),
    ("[rubric.ordinary]\nloss = -1\n", ["[rubric.ordinary] loss", "-1"]),
    ("[rubric]\nscoring = 'some'\n", ["[rubric] scoring", "'some'"]),
    ("[rubric.style]\nloss = 1\n", ["[rubric]", "'style'"]),
    ("[rubric.ordinary]\n[rubric.robustness]\n[rubric.float32]\n", ["[rubric]", "0 points"]),
    ("[network]\nactivation = 'gelu'\n", ["[network]", "gelu"]),
    ("[network]\nalpha = 0.2\n", ["[network]", "alpha"]),
    ("[assignment]\nentry_point = '1abc'\n", ["[assignment] entry_point", "'1abc'"]),
    ("[assignment]\nsignature = 'kwargs'\n", ["[assignment] signature", "'kwargs'"]),
    ("[assignment]\nfile = 'sub/backprop.py'\n", ["[assignment] file", "no folder"]),
    ("[gradescope]\nvisibility = 'public'\n", ["[gradescope] visibility", "'public'"]),
    ("[sweep\n", ["not valid TOML", "line 1"]),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_bad_config_names_the_key(text, words):
    with pytest.raises(ConfigError) as e:
        parse_assignment(text, "a.toml")
    for w in words:
        assert w in str(e.value), str(e.value)


@pytest.mark.parametrize("extra, words", [
    (["--config", "BADCFG"], ["[limits] time"]),
    ([], []),  # no --out: see below
    (["--jobs", "0"], ["--jobs", ">= 1"]),
    (["--shard", "3/2"], ["--shard", "1 <= K <= N"]),
    (["--format", "gradescope", "--shard", "1/2"], ["--shard does not apply"]),
], ids=["bad-config", "no-out", "jobs", "shard", "gradescope-shard"])
def test_bad_usage_exits_2_before_any_work(tmp_path, monkeypatch, extra, words):
    import scratch.grading.runner as runner

    monkeypatch.setattr(runner, "run_submissions", lambda *a, **k: pytest.fail("work started"))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a.py").write_text(TEXTBOOK)
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\ntime = -1\n")
    results = tmp_path / "results"
    argv = ["grade", str(subs), *[str(bad) if x == "BADCFG" else x for x in extra]]
    if extra:
        argv += ["--out", str(results)]
    else:
        words = ["--out RESULTS is required"]
    rc, out, err = run_main(argv)
    assert rc == 2
    for w in words:
        assert w in err, err
    assert "Traceback" not in err
    assert not results.exists()


def test_not_a_folder_of_submissions_is_usage(tmp_path):
    (tmp_path / "a.py").write_text(TEXTBOOK)
    rc, out, err = run_main(["grade", str(tmp_path / "a.py"), "--out", str(tmp_path / "r")])
    assert rc == 2 and "--format gradescope" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, err = run_main(["grade", str(empty), "--out", str(tmp_path / "r")])
    assert rc == 2 and "no submissions" in err


def test_shards_split_the_sorted_class(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("d", "a", "c", "b", "e"):  # empty folders: not gradable, no check runs
        (subs / name).mkdir()
    found, ignored = find_submissions(subs)
    assert [s.name for s in found] == ["a", "b", "c", "d", "e"] and ignored == []
    parts = [[s.name for s in shard(found, k, 2)] for k in (1, 2)]
    assert parts == [["a", "c", "e"], ["b", "d"]]
    rc, out, err = run_main(["grade", str(subs), "--out", str(tmp_path / "r"), "--shard", "2/2"])
    assert rc == 0, err
    with open(tmp_path / "r" / "grades-2-of-2.csv", newline="") as f:
        assert [r["submission"] for r in csv.DictReader(f)] == ["b", "d"]
    assert not (tmp_path / "r" / "grades.csv").exists()


def test_results_inside_the_submissions_is_usage(tmp_path):
    (tmp_path / "a").mkdir()
    rc, out, err = run_main(["grade", str(tmp_path), "--out", str(tmp_path / "results")])
    assert rc == 2 and "inside SUBMISSIONS" in err and not (tmp_path / "results").exists()


def test_names_a_spreadsheet_would_run_are_quoted(tmp_path):
    subs = tmp_path / "subs"
    (subs / "=HYPERLINK(1)").mkdir(parents=True)
    assert run_main(["grade", str(subs), "--out", str(tmp_path / "r")])[0] == 0
    with open(tmp_path / "r" / "grades.csv", newline="") as f:
        assert [r["submission"] for r in csv.DictReader(f)] == ["'=HYPERLINK(1)"]


def test_a_flood_of_output_is_killed_not_stored(tmp_path, monkeypatch):
    import scratch.grading.runner as runner

    monkeypatch.setattr(runner, "MAX_FILE_BYTES", 1 << 20)  # read by the child between fork and exec
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "chatty.py").write_text("print('x' * (8 << 20))\n\ndef loss_and_grads(params, x, y):\n    pass\n")
    assert run_main(["grade", str(subs), "--out", str(tmp_path / "r")])[0] == 0
    with open(tmp_path / "r" / "grades.csv", newline="") as f:
        row = next(csv.DictReader(f))
    # Python ignores SIGXFSZ: the print raises OSError (EFBIG) in the submission, a failure of its own
    assert row["status"] != "graded" and row["score"] == "0" and "File too large" in row["message"]
    assert max(p.stat().st_size for p in (tmp_path / "r").rglob("*") if p.is_file()) < 1 << 20


def test_entry_point_file_in_a_folder(tmp_path):
    from scratch.grading.submissions import entry_file

    (tmp_path / "zipped" / "hw1").mkdir(parents=True)  # a student who zipped the folder, not its files
    (tmp_path / "zipped" / "hw1" / "backprop.py").write_text(TEXTBOOK)
    assert entry_file(tmp_path / "zipped", "backprop.py") == (tmp_path / "zipped" / "hw1" / "backprop.py", None)
    (tmp_path / "zipped" / "old").mkdir()
    (tmp_path / "zipped" / "old" / "backprop.py").write_text(TEXTBOOK)
    found, why = entry_file(tmp_path / "zipped", "backprop.py")
    assert found is None and "2 copies" in why
    (tmp_path / "two").mkdir()
    for name in ("a.py", "b.py"):
        (tmp_path / "two" / name).write_text("")
    assert "must name one" in entry_file(tmp_path / "two", None)[1]


@pytest.mark.parametrize("tty, tqdm_installed, shows", [
    (True, True, "grade: "), (True, False, "\rgraded 2/2"), (False, True, "[2/2] b: 0 / 20 (not gradable)")],
    ids=["bar", "line", "piped"])
def test_progress(tmp_path, monkeypatch, tty, tqdm_installed, shows):
    import scratch.lab.commands.grade as grade_command

    monkeypatch.setattr(grade_command, "show_progress", lambda args: tty)
    if not tqdm_installed:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    subs = tmp_path / "subs"
    for name in ("a", "b"):
        (subs / name).mkdir(parents=True)  # not gradable: nothing runs
    rc, out, err = run_main(["grade", str(subs), "--out", str(tmp_path / "r")])
    assert rc == 0 and shows in err, err


def test_print_config_is_the_default(capsys):
    assert main(["grade", "--print-config"]) == 0
    assert parse_assignment(capsys.readouterr().out) == load_assignment()


# --------------------------------------------------------------------------------------------
# Scoring, on reports written here
# --------------------------------------------------------------------------------------------

def fake_run(cases: list[dict]) -> TierRun:
    return TierRun("ordinary", [], returncode=1, report={"cases": cases, "diagnosis": [
        {"pitfall": "missing_mean", "text": "dW1 matches pitfall `missing_mean`"}]})


def case(i: int, dW1: str = "pass", error: str | None = None, problems: tuple = ()) -> dict:
    q = {"loss": {"status": "pass"}, "dW1": {"status": dW1, "problem": "value: relative error 1 > 1e-10"},
         "dz1": {"status": "not checked", "reason": "not returned"}}
    return {"id": f"case{i}", "passed": dW1 == "pass" and not error and not problems, "error": error,
            "problems": list(problems), "quantities": {} if error else q}


@pytest.mark.parametrize("scoring, dW1_points", [("all", 0.0), ("fraction", 2.0)])
def test_scoring_all_or_in_proportion(scoring, dW1_points):
    t = score_tier(fake_run([case(0), case(1), case(2, dW1="fail")]), "ordinary", {"loss": 1.0, "dW1": 3.0}, scoring)
    assert (t.quantities["loss"].points, t.quantities["dW1"].points) == (1.0, dW1_points)
    assert t.quantities["dW1"].reason == "failed on 1 of 3 case(s); first case2: value: relative error 1 > 1e-10"
    assert t.pitfalls == ["missing_mean"] and t.n_failed == 1


def test_an_exception_or_a_problem_fails_every_quantity_of_the_case():
    t = score_tier(fake_run([case(0, error="raised ValueError: no"), case(1, problems=("modified its input x in place",))]),
                   "ordinary", {"loss": 1.0}, "fraction")
    assert t.quantities["loss"].points == 0 and t.raised == 1
    assert "raised ValueError: no" in t.quantities["loss"].reason


def test_a_graded_quantity_not_returned_earns_nothing():
    t = score_tier(fake_run([case(0)]), "ordinary", {"loss": 1.0, "dz1": 2.0}, "all")
    assert t.points == 1.0 and t.quantities["dz1"].reason == "not returned (this rubric gives dz1 points)"


def test_a_tier_without_a_report_earns_nothing_and_says_why():
    run = TierRun("robustness", [], returncode=-11, problem="crashed: killed by SIGSEGV")
    t = score_tier(run, "robustness", {"loss": 1.0}, "all")
    assert t.points == 0 and t.problem == "crashed: killed by SIGSEGV"


@pytest.mark.parametrize("source", [
    "from scratch import loss_and_grads\n",
    "import scratch.network as n\nloss_and_grads = n.loss_and_grads\n",
    "def loss_and_grads(params, x, y):\n    import oracles\n    return oracles.get('torch')(params, x, y)\n",
], ids=["from-scratch", "import-scratch-network", "oracles-inside"])
def test_a_submission_that_imports_the_reference_is_not_gradable(tmp_path, source):
    """A wrapper around our reference would earn full marks: it is refused, saying where."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "cheat.py").write_text(source)
    results = tmp_path / "r"
    assert main(["grade", str(subs), "--out", str(results), "--quiet"]) == 0
    with open(results / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["status"], float(row["score"])) == ("not gradable", 0.0)
    assert "imports the reference: cheat.py:" in row["message"]


def test_a_module_named_like_ours_elsewhere_is_not_refused(tmp_path):
    """Only the packages themselves: `scratchpad` or a relative import is fine."""
    from scratch.grading.submissions import forbidden_import

    (tmp_path / "a.py").write_text("import scratchpad\nfrom . import scratch\n")
    assert forbidden_import(tmp_path) is None
    (tmp_path / "b.py").write_text("import os\nfrom scratch.testing import cases\n")
    assert forbidden_import(tmp_path) == "b.py:2 imports scratch"
