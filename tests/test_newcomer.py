"""A new user's first hour (issue 20): one list syntax, sizes with an upper bound, progress on a
terminal with or without tqdm, "did you mean", one rule for output folders, and the browser /
Node.js tests that skip (or, under ``CI=true``, fail) with the install line."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import prerequisites
from scratch.argtypes import MAX_ELEMENTS, parse_shape
from scratch.lab.cli import parse_args
from scratch.lab.commands import _options
from scratch.lab.commands._options import MAX_CASES
from scratch.lab.progress import PlainProgress, progress_bar
from cli_run import run_cli

ROOT = Path(__file__).resolve().parents[1]
SMALL, C10 = ("small", (4, 3, 5, 3)), ("c10", (32, 8, 16, 10))


# --------------------------------------------------------------------------------------------
# One list syntax: space- or comma-separated, in every command that takes a sweep
# --------------------------------------------------------------------------------------------

#: Each command's words before the sweep options (a positional where it has one).
COMMANDS = {
    "compare": ["compare"],
    "check": ["check", "mod:fn"],
    "conformance": ["conformance"],
    "cases-export": ["cases", "export", "DIR"],
}

LISTS = [
    (["--seeds", "0,1"], "seeds", [0, 1]),
    (["--seeds", "0", "1"], "seeds", [0, 1]),
    (["--seeds", "0,1", "2"], "seeds", [0, 1, 2]),
    (["--dtypes", "float64,float32"], "dtypes", ["float64", "float32"]),
    (["--targets", "labels,soft"], "targets", ["labels", "soft"]),
    (["--targets", "labels", "soft"], "targets", ["labels", "soft"]),
    (["--shapes", "small,c10"], "shapes", [SMALL, C10]),
    (["--shapes", "small", "c10"], "shapes", [SMALL, C10]),
    (["--shapes", "4,3,5,3"], "shapes", [("4,3,5,3", (4, 3, 5, 3))]),
    (["--shapes", "4x3x5x3,8x4x6x3"], "shapes", [("4x3x5x3", (4, 3, 5, 3)), ("8x4x6x3", (8, 4, 6, 3))]),
    (["--shapes", "4,3,5,3", "c10"], "shapes", [("4,3,5,3", (4, 3, 5, 3)), C10]),
    (["--shapes", "confident,huge"], "shapes", [parse_shape("confident"), parse_shape("huge")]),
]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("words, dest, want", LISTS, ids=[" ".join(w) for w, _, _ in LISTS])
def test_every_list_option_takes_spaces_and_commas(command, words, dest, want, tmp_path):
    head = [str(tmp_path / "new") if w == "DIR" else w for w in COMMANDS[command]]
    args = parse_args([*head, *words])
    assert getattr(args, dest) == want


@pytest.mark.parametrize("argv, target", [
    (["check", "--seeds", "0", "1", "mod:fn"], "mod:fn"),
    (["check", "--seeds", "0", "1", "mod:fn", "--dtypes", "float64"], "mod:fn"),
    (["check", "--shapes", "small", "c10", "file.py:fn"], "file.py:fn"),
    (["check", "--dtypes", "float64", "float32", "mod:fn"], "mod:fn"),
    (["check", "--targets", "labels", "mod:fn"], "mod:fn"),
])
def test_a_list_does_not_swallow_the_target(argv, target):
    """``check --seeds 0 1 module:fn`` read the target as a seed."""
    args = parse_args(argv)
    assert args.target == target
    assert args.seeds in ([0, 1], list(range(5)))


def test_a_list_does_not_swallow_the_export_folder(tmp_path):
    folder = tmp_path / "cases"
    args = parse_args(["cases", "export", "--seeds", "0", "1", str(folder)])
    assert args.folder == folder and args.seeds == [0, 1]


@pytest.mark.parametrize("argv, message", [
    (["compare", "--shapes", "1,2,3"], "shape '1,2,3'"),
    (["compare", "--shapes", "4,3,5"], "four positive integers NxDxHxC"),
    (["compare", "--shapes", "4x3x0x3"], "four positive integers"),
    (["compare", "--shapes", "smal"], "shape 'smal'"),
    (["compare", "--seeds", "0,x"], "'x' is not an integer"),
    (["compare", "--seeds", "0,0"], "0 listed twice"),
    (["compare", "--dtypes", "float64,float16"], "invalid choice: 'float16'"),
    (["compare", "--targets", "label"], "did you mean 'labels'?"),
    (["check", "--seeds", "0", "1x", "mod:fn"], "'1x' is not an integer"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_list_item_exits_2_naming_it(argv, message, capsys):
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and message in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Every size a user can ask for has an upper bound: exit 2 before any work
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["compare", "--shapes", "1000000000000,1,1,1"], f"the limit is {MAX_ELEMENTS:,} per array"),
    (["check", "mod:fn", "--shapes", "1x1x100000x1000"], "W2 (H*C) would hold 100,000,000 numbers"),
    (["cases", "export", "DIR", "--shapes", "5000x5000x1x1"], "x (N*D) would hold 25,000,000"),
    (["curvature", "--shape", "1,1,1,99999999"], "the limit is"),
    (["stepsize", "--per-decade", "100000000"], "argument --per-decade: 100000000 is too large; the limit is 100"),
    (["train", "--steps", "10000000"], "argument --steps: 10000000 is too large"),
    (["train", "--hidden", "10000000"], "argument --hidden: 10000000 is too large"),
    (["saturation", "--hidden", "10000000"], "argument --hidden: 10000000 is too large"),
    (["curvature", "--k", "100000"], "argument --k: 100000 is too large"),
    (["bench", "--repeats", "100000000"], "argument --repeats: 100000000 is too large"),
    (["bench", "--rounds", "100000"], "argument --rounds: 100000 is too large"),
    (["compare", "--seeds", ",".join(map(str, range(4000))), "--shapes", "small,c10,n1,h1"],
     f"the sweep holds 128,000 cases (--seeds x --shapes x --dtypes x --targets); the limit is {MAX_CASES:,}"),
], ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None)
def test_every_size_has_an_upper_bound(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(argv, capsys)
    assert rc == 2 and message in err and "Traceback" not in err and out == ""
    assert not (tmp_path / "DIR").exists()  # nothing written


def test_the_largest_bench_size_is_within_the_bound():
    from scratch.lab.bench import SIZES

    assert all(parse_shape("x".join(map(str, s)))[1] == s for s in SIZES)


# --------------------------------------------------------------------------------------------
# train and bench name the NumPy implementation the same way
# --------------------------------------------------------------------------------------------

def test_train_and_bench_both_call_it_numpy():
    assert parse_args(["train", "--frameworks", "numpy"]).frameworks == [["numpy"]]
    assert parse_args(["bench", "--frameworks", "numpy,torch"]).frameworks == ["numpy", "torch"]
    from scratch.lab.commands.bench import FRAMEWORK_WORKERS

    assert FRAMEWORK_WORKERS["numpy"] == FRAMEWORK_WORKERS["scratch"] == "scratch"


def test_bench_runs_numpy_alone_quietly(capsys):
    rc, out, err = run_cli(["bench", "--shapes", "3x2x5x2", "--dtypes", "float64", "--repeats", "1", "--warmup", "1",
                            "--frameworks", "numpy", "--quiet"], capsys)
    assert rc == 0 and "kernel" in out and "3,2,5,2" in out
    assert "bench:" not in err  # --quiet: no progress


def _bench_report(sizes):
    """A bench report as :func:`scratch.lab.commands.bench.collect` returns it (numbers made up)."""
    from scratch.lab.bench import IMPLEMENTATIONS

    points = []
    for dtype in ("float64", "float32"):
        for shape in sizes:
            pt = {"shape": list(shape), "dtype": dtype, "floor": 1.234e-3}
            pt.update({impl: 1.0543 for impl in IMPLEMENTATIONS})  # "1054ms": the widest a time prints
            pt.update({"workspace/jax": 0.95, "goal_jax": True, "workspace/torch": 0.62, "goal_torch": False,
                       "workspace/floor": 12.3, "numba/jax": 1.23, "numba/floor": 123.0, "stream/floor": 1.5})
            points.append(pt)
    return {"points": points, "blas_rate": {"float64": 2.2e10, "float32": 4.4e10}}


def test_bench_tables_fit_100_columns(capsys):
    """The bench table was 250 characters wide."""
    from scratch.lab.bench import SIZES
    from scratch.lab.commands.bench import tables
    from scratch.lab.report import print_table

    for title, headers, rows in tables(_bench_report(SIZES)):
        print_table(title.format(steps=30), headers, rows)
    lines = capsys.readouterr().out.splitlines()
    table_lines = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert len(table_lines) >= 2 * (2 * len(SIZES) + 1)
    assert max(map(len, table_lines)) <= 100, max(table_lines, key=len)


# --------------------------------------------------------------------------------------------
# Progress: tqdm when installed, a plain line on stderr without it
# --------------------------------------------------------------------------------------------

def test_plain_progress_line_counts_and_erases():
    stream = io.StringIO()
    with PlainProgress("compare", 4, "case", stream=stream) as bar:
        bar.update(1)
        bar._last = -1.0  # the next draw is not rate-limited
        bar.set_postfix_str("large-float32")
        assert bar.line().startswith("compare: 1/4 case (25%) ")
        assert bar.line().endswith("  large-float32")
    text = stream.getvalue()
    assert "\rcompare: 0/4 case (0%)" in text and "compare: 1/4 case (25%)" in text
    assert text.endswith("\r") and text.rsplit("\r", 2)[-2].strip() == ""  # erased at the end


def test_plain_progress_wraps_an_iterable():
    stream = io.StringIO()
    bar = PlainProgress("check", unit="case", stream=stream)
    assert list(bar(range(3))) == [0, 1, 2]
    assert bar.n == 3 and bar.total == 3


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def terminal_without_tqdm(monkeypatch) -> FakeTerminal:
    """From now on in this test stderr is a terminal (returned: read what was written) and tqdm
    is not installed.  Called in the test's body: pytest's capture replaces sys.stderr between a
    fixture's setup and the call."""
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    return term


def test_progress_bar_falls_back_to_the_plain_line(monkeypatch):
    terminal_without_tqdm(monkeypatch)
    with progress_bar("x", 2, True) as bar:
        assert isinstance(bar, PlainProgress)
    wrap = _options.case_progress(argparse.Namespace(quiet=False), "check")
    assert wrap is not None and list(wrap([1, 2])) == [1, 2]
    assert _options.case_progress(argparse.Namespace(quiet=True), "check") is None


@pytest.mark.parametrize("argv, desc", [
    (["compare", "--seeds", "0", "--shapes", "small", "--dtypes", "float64", "--targets", "labels,soft",
      "--oracles", "numeric"], "compare: "),
    (["check", "user_impls:textbook", "--seeds", "0", "--shapes", "small", "--dtypes", "float64",
      "--targets", "labels"], "check: "),
    (["conformance", "--implementations", "scratch", "--seeds", "0", "--shapes", "small", "--dtypes", "float64",
      "--targets", "labels"], "conformance: "),
    (["bench", "--shapes", "3x2x5x2", "--dtypes", "float64", "--repeats", "1", "--warmup", "1", "--frameworks",
      "numpy"], "bench: "),
    (["accuracy", "--seeds", "0"], "accuracy: "),
    (["train", "--steps", "3", "--frameworks", "numpy"], "numpy: "),
    (["stepsize", "--seeds", "0", "--shapes", "n1", "--targets", "labels", "--per-decade", "1"], "step sizes: "),
], ids=["compare-numeric", "check", "conformance", "bench", "accuracy", "train", "stepsize"])
def test_long_commands_show_progress_without_tqdm(argv, desc, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    terminal = terminal_without_tqdm(monkeypatch)
    rc, out, _ = run_cli(argv, capsys)
    err = terminal.getvalue()
    assert rc == 0, err
    assert f"\r{desc}" in err and re.search(r"\d+/\d+ ", err), err
    assert f"\r{desc}" not in out  # progress on stderr only
    terminal.seek(0)
    terminal.truncate()
    rc, _, _ = run_cli([*argv, "--quiet"], capsys)
    assert rc == 0 and desc not in terminal.getvalue()


def test_pitfalls_progress_without_tqdm(monkeypatch, capsys):
    """The gallery itself is the slow part (~30 s): its progress callback drives the line."""
    import scratch.lab.commands.pitfalls as cmd

    def fake_gallery(names, progress=None):
        for name in ("missing_mean", "sign_flipped"):
            progress(name)
        return []

    monkeypatch.setattr(cmd, "gallery", fake_gallery)
    terminal = terminal_without_tqdm(monkeypatch)
    rc, _, _ = run_cli(["pitfalls", "--oracles", "numeric"], capsys)
    from scratch.pitfalls import PITFALLS

    assert rc == 0 and f"\rpitfalls: 0/{len(PITFALLS)} pitfall" in terminal.getvalue()


def test_report_progress_falls_back_to_the_plain_line(monkeypatch):
    terminal_without_tqdm(monkeypatch)
    from scratch.lab.commands.report import progress_factory

    bar = progress_factory(argparse.Namespace(quiet=False))(total=3, desc="report", unit="section")
    assert isinstance(bar, PlainProgress) and bar.total == 3 and bar.unit == "section"
    assert progress_factory(argparse.Namespace(quiet=True)) is None


# --------------------------------------------------------------------------------------------
# The smaller things
# --------------------------------------------------------------------------------------------

def test_report_json_says_wrote_once(tmp_path, capsys, monkeypatch):
    """``report --json rq2.json`` printed ``wrote rq2.json`` twice."""
    import scratch.lab.page as page
    import scratch.lab.page.report_page as report_page

    fake = SimpleNamespace(plan=SimpleNamespace(name="quick"), seconds={"a": 1.0}, as_json=lambda: {"passed": True},
                           failures=lambda: [])
    monkeypatch.setattr(page, "missing", lambda needs: None)
    monkeypatch.setattr(report_page, "collect", lambda *a, **k: fake)
    monkeypatch.setattr(report_page, "render", lambda run: "<html></html>")
    out, js = tmp_path / "r.html", tmp_path / "rq2.json"
    rc, stdout, _ = run_cli(["report", "--quick", "--out", str(out), "--json", str(js), "--quiet"], capsys)
    assert rc == 0 and json.loads(js.read_text()) == {"passed": True}
    assert stdout.count(f"wrote {js}") == 1 and stdout.count(f"wrote {out}") == 1


def test_export_into_a_missing_parent_is_refused_and_creates_nothing(tmp_path, capsys):
    """``cases export a/b/c`` said "'a/b' is not a writable folder" and created the folders itself."""
    target = tmp_path / "a" / "b" / "c"
    rc, _, err = run_cli(["cases", "export", str(target)], capsys)
    assert rc == 2 and f"{str(tmp_path / 'a' / 'b')!r} does not exist" in err
    assert not (tmp_path / "a").exists()


def test_export_creates_its_folder_as_json_creates_its_file(tmp_path, capsys):
    """The one rule: an output is created, the folder holding it must exist."""
    rc, _, err = run_cli(["compare", "--json", str(tmp_path / "no" / "r.json")], capsys)
    assert rc == 2 and "does not exist" in err
    folder = tmp_path / "cases"
    rc, _, _ = run_cli(["cases", "export", str(folder), "--seeds", "0", "--shapes", "small", "--dtypes", "float64",
                        "--targets", "labels"], capsys)
    assert rc == 0 and (folder / "manifest.json").is_file()


def test_conformance_help_names_only_the_columns_it_prints(capsys):
    rc, out, _ = run_cli(["conformance", "--help"], capsys)
    assert rc == 0
    text = " ".join(out.split())
    assert "worst err/tolerance or FAIL" not in text
    assert "ok; FAIL and the worst relative error; - when not returned" in text


def test_check_help_lists_confident_and_huge(capsys):
    rc, out, _ = run_cli(["check", "--help"], capsys)
    text = " ".join(out.split())
    assert rc == 0 and "confident, huge)" in text and "NxDxHxC" in text


@pytest.mark.parametrize("argv, message", [
    (["comapre"], "unknown command 'comapre'; did you mean 'compare'?"),
    (["cases", "exprot", "x"], "unknown command 'exprot'; did you mean 'export'?"),
    (["pitfalls", "--show", "missing_man"], "unknown pitfall; did you mean 'missing_mean'?"),
    (["compare", "--oracles", "troch"], "did you mean 'torch'?"),
], ids=["command", "sub-command", "pitfall", "oracle"])
def test_did_you_mean(argv, message, capsys):
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and message in err and "Traceback" not in err


def test_pitfalls_show_empty_is_an_unknown_name_not_the_gallery(capsys, monkeypatch):
    import scratch.lab.commands.pitfalls as cmd

    def no_gallery(*a, **k):
        raise AssertionError("--show '' ran the whole gallery")

    monkeypatch.setattr(cmd, "gallery", no_gallery)
    rc, _, err = run_cli(["pitfalls", "--show", ""], capsys)
    assert rc == 2 and "--show '': unknown pitfall" in err


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_float32_tolerance_range_is_the_tables_range():
    from scratch.cases import SHAPES
    from scratch.tolerances import oracle_rtol

    rtols = [oracle_rtol(np.float32, s) for s in SHAPES.values()]
    assert f"({min(rtols):.1e} … {max(rtols):.1e} here".replace("e-06", "e-6").replace("e-05", "e-5") in _readme()


def test_readme_says_what_params_is():
    readme = _readme()
    check = readme[readme.index("## Check your own implementation"):readme.index("## Commands")]
    assert "`scratch.Params` NamedTuple" in check and "params.W1" in check and '`params["W1"]` is a\nTypeError' in check


def test_readme_quick_start_names_the_prerequisites_in_one_line():
    readme = _readme()
    quick = readme[readme.index("## Quick start"):readme.index("```bash")]
    line = next(line for line in quick.splitlines() if line.startswith("Prerequisites:"))
    assert "chromium" in line and "node" in line and "apt-get install" in line and "CI=true" in line


# --------------------------------------------------------------------------------------------
# Browser and Node.js tests: skip with the install line on a user's machine, fail in CI
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("false", pytest.skip.Exception),
                                         ("true", pytest.fail.Exception), ("1", pytest.fail.Exception)],
                         ids=["unset", "false", "true", "1"])
def test_a_missing_prerequisite_skips_or_fails_in_ci(ci, outcome, monkeypatch):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("SCRATCH_NODE", "/nonexistent/node")
    with pytest.raises(outcome, match=r"node not available: '/nonexistent/node' is not an executable file.*"
                                      r"install: sudo apt-get install nodejs"):
        prerequisites.node_path()
    monkeypatch.setenv("SCRATCH_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(outcome, match="chromium not available.*install: sudo apt-get install chromium"):
        prerequisites.require_browser()


def test_a_present_prerequisite_passes(monkeypatch):
    monkeypatch.setenv("SCRATCH_NODE", sys.executable)  # any executable file
    assert prerequisites.node_path() == sys.executable


def test_ci_script_sets_ci_true():
    assert re.search(r"^export CI=true$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


@pytest.mark.parametrize("ci, rc, summary", [("", 0, r"17 skipped"), ("true", 1, r"17 errors")],
                         ids=["user-machine", "ci"])
def test_browser_tests_without_a_browser(ci, rc, summary):
    """The real file, run with the browser pointed at nothing: 17 skips with the install line on a
    user's machine; 17 errors under CI=true."""
    env = {**os.environ, "CI": ci, "SCRATCH_CHROMIUM": "/nonexistent/chromium", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        str(ROOT / "tests" / "test_page_browser.py")], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=120)
    assert r.returncode == rc, r.stdout[-2000:]
    assert re.search(summary, r.stdout), r.stdout[-2000:]
    assert "install: sudo apt-get install chromium" in r.stdout
