"""``python -m scratch compare``: table, JSON, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import scratch
from scratch.lab.cli import build_parser, main


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
    import scratch.lab.comparison as cmd

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


# --------------------------------------------------------------------------------------------
# One tool: the same option means the same thing everywhere, and bad usage exits 2 up front
# --------------------------------------------------------------------------------------------

#: Every command, with the options that make it quick.
QUICK = {
    "compare": ["--seeds", "0", "--shapes", "n1", "--targets", "labels", "--oracles", "numeric"],
    "accuracy": ["--seeds", "0"],
    "pitfalls": ["--oracles", "numeric"],
    "stepsize": ["--shapes", "n1", "--per-decade", "1"],
    "train": ["--steps", "3", "--hidden", "2", "--frameworks", "numpy", "--quiet"],
    "saturation": ["--hidden", "4"],
    "bench": ["--shapes", "3,2,5,2", "--dtypes", "float64", "--repeats", "1", "--warmup", "1", "--frameworks", "scratch"],
}
#: The commands that draw a figure.
PLOTTING = ("stepsize", "train", "saturation", "bench")


def exit_status(argv, capsys):
    """(exit status, stderr) of ``main(argv)``, whether argparse exits or the command returns."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("argv", [["compare", "--seeds", "-1", "--shapes", "seed"], ["accuracy", "--seeds", "-1"],
                                  ["stepsize", "--seeds", "-1"], ["train", "--seed", "-1"], ["saturation", "--seed", "-2"],
                                  ["compare", "--seeds", "x"]],
                         ids=["compare", "accuracy", "stepsize", "train", "saturation", "not-an-integer"])
def test_negative_seed_is_a_usage_error_naming_the_option(argv, capsys):
    """``compare --seeds -1`` was a NumPy traceback with exit 1."""
    rc, err = exit_status(argv, capsys)
    assert rc == 2 and ("--seeds" in err or "--seed" in err) and "Traceback" not in err


BAD_OUTPUTS = [(cmd, opt, path) for cmd in QUICK for opt, path in
               [("--json", "/nonexistent/dir/x.json"), ("--json", "x.txt")]] + \
              [(cmd, "--plot", path) for cmd in PLOTTING for path in ("out.txt", "/nonexistent/dir/x.png", "noext")]


@pytest.mark.parametrize("command, option, path", BAD_OUTPUTS, ids=[f"{c} {o} {p}" for c, o, p in BAD_OUTPUTS])
def test_output_paths_are_checked_before_any_work(command, option, path, capsys):
    """A folder that does not exist or an extension the writer cannot write: exit 2 at parse
    time (``compare --json /nonexistent/dir/x.json`` ran the whole sweep, then a traceback)."""
    rc, err = exit_status([command, *QUICK[command], option, path], capsys)
    assert rc == 2 and f"argument {option}" in err and repr(path) in err


@pytest.mark.parametrize("command", PLOTTING)
def test_plot_is_optional_and_every_written_file_is_announced(command, tmp_path, capsys):
    """``saturation`` required ``--plot``; now no command does, and each says ``wrote PATH``."""
    assert main([command, *QUICK[command]]) == 0
    assert "wrote" not in capsys.readouterr().out
    js, png = tmp_path / "r.json", tmp_path / "f.png"
    assert main([command, *QUICK[command], "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {js}" in out and f"wrote {png}" in out
    assert json.loads(js.read_text()) and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["compare", "accuracy", "pitfalls"])
def test_json_is_announced(command, tmp_path, capsys):
    js = tmp_path / "r.json"
    assert main([command, *QUICK[command], "--json", str(js)]) == 0
    assert f"wrote {js}" in capsys.readouterr().out and json.loads(js.read_text())


ALIASES = [("compare", ["--dtype", "float64"], "dtypes", ["float64"]),
           ("compare", ["--shape", "n1"], "shapes", [("n1", (1, 4, 6, 3))]),
           ("bench", ["--sizes", "3,2,5,2"], "shapes", [("3,2,5,2", (3, 2, 5, 2))]),
           ("stepsize", ["--shape", "small"], "shapes", [("small", (4, 3, 5, 3))]),
           ("stepsize", ["--seed", "3"], "seeds", [3]),
           ("stepsize", ["--target", "soft"], "targets", ["soft"])]


@pytest.mark.parametrize("command, argv, dest, value", ALIASES, ids=[f"{c} {a[0]}" for c, a, _, _ in ALIASES])
def test_old_spellings_still_work(command, argv, dest, value):
    args = build_parser().parse_args([command, *argv])
    assert getattr(args, dest) == value


@pytest.mark.parametrize("command, option", [(c, o) for c in ("compare", "stepsize") for o in ("--seeds", "--shapes", "--targets")]
                         + [("compare", "--dtypes"), ("bench", "--dtypes"), ("bench", "--shapes"), ("accuracy", "--seeds"),
                            ("compare", "--oracles"), ("pitfalls", "--oracles"), ("compare", "--quiet"),
                            ("stepsize", "--quiet"), ("train", "--quiet")]
                         + [(c, "--json") for c in QUICK] + [(c, "--plot") for c in PLOTTING])
def test_the_shared_names_are_listed(command, option):
    assert option in command_parser(command).format_help().replace("[", " ").replace("]", " ").split()


@pytest.mark.parametrize("command", ["compare", "bench", "stepsize", "accuracy"])
def test_the_old_spellings_are_hidden(command):
    words = command_parser(command).format_help().replace("[", " ").replace("]", " ").split()
    assert not {"--dtype", "--shape", "--sizes", "--target", "--seed"} & set(words)


def command_parser(name):
    """The sub-parser of command ``name``."""
    return build_parser().parse_args([name, *QUICK[name]]).command_parser


def test_compare_float64_only_has_no_float32_note_and_ratios_keep_their_digits(tmp_path, capsys):
    """``compare --dtypes float64`` printed the float32 note, and err/tol ratios ~2e-5 as ``0.000``."""
    js = tmp_path / "r.json"
    assert main(["compare", "--dtypes", "float64", "--seeds", "0", "--shapes", "small", "--oracles", "torch",
                 "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "float32" not in out
    ratios = [s["worst_ratio"] for s in json.loads(js.read_text())["summary"]]
    assert max(ratios) < 1e-3  # tiny ratios: what .3f printed as 0.000
    assert "0.000 " not in out and all(f"{r:.3g}" in out for r in ratios)


def test_top_level_help_is_for_users():
    """Not the module docstring with its RST markup."""
    text = build_parser().format_help()
    assert "``" not in text and ":mod:" not in text and ":class:" not in text
    for command in QUICK:
        assert command in text
    assert "Exit status" in text


def test_unknown_option_is_reported_by_the_command(capsys):
    rc, err = exit_status(["compare", "--bogus"], capsys)
    assert rc == 2
    assert "usage: python -m scratch compare" in err and "python -m scratch compare: error: unrecognized arguments: --bogus" in err


def test_console_script_names_itself():
    """The ``scratch-backprop`` console script (pyproject.toml) says ``scratch-backprop`` in its usage."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]["scratch-backprop"] == "scratch.lab.cli:main"
    program = "import sys; sys.argv[0] = '/venv/bin/scratch-backprop'; from scratch.lab.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-c", program, "compare", "--bogus"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "usage: scratch-backprop compare" in r.stderr, r.stderr


@pytest.mark.parametrize("quiet", [False, True], ids=["terminal", "quiet"])
def test_compare_progress_bar_on_a_terminal_only(quiet, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["compare", *QUICK["compare"], "--seeds", "0", "1", *(["--quiet"] if quiet else [])]) == 0
    err = capsys.readouterr().err
    assert ("compare" in err) != quiet, err


def test_no_progress_bar_when_piped(capsys):
    assert main(["compare", *QUICK["compare"]]) == 0  # capsys: stderr is not a terminal
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command, option, words, flat", [
    ("compare", "--oracles", ["torch,jax"], ["torch", "jax"]),
    ("compare", "--oracles", ["torch", "jax,numeric"], ["torch", "jax", "numeric"]),
    ("pitfalls", "--oracles", ["numeric,torch"], ["numeric", "torch"]),
    ("curvature", "--oracles", ["jax,numeric"], ["jax", "numeric"]),
    ("conformance", "--implementations", ["scratch,numeric"], ["scratch", "numeric"]),
    ("train", "--frameworks", ["numpy,jax"], [["numpy", "jax"]]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_name_lists_take_commas_as_train_frameworks_does(command, option, words, flat):
    """``train --frameworks numpy,jax`` worked, ``compare --oracles torch,jax`` was 'invalid choice'."""
    args = build_parser().parse_args([command, option, *words])
    assert getattr(args, option[2:]) == flat


@pytest.mark.parametrize("argv, message", [(["compare", "--oracles", "torch,torch"], "argument --oracles: torch listed twice"),
                                           (["compare", "--oracles", "torch,tf"], "argument --oracles: invalid choice: 'tf'"),
                                           (["conformance", "--implementations", "nope"], "argument --implementations: invalid choice: 'nope'")])
def test_name_list_errors_name_the_option(argv, message, capsys):
    rc, err = exit_status(argv, capsys)
    assert rc == 2 and message in err and f"usage: python -m scratch {argv[0]}" in err


def test_a_reader_closing_the_pipe_early_gets_no_traceback():
    """``python -m scratch pitfalls | head -1``: the reader is gone before the command writes; the
    command ends quietly with 141 (128 + SIGPIPE), no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "scratch", "pitfalls", "--oracles", "numeric"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader leaves at once (the command is still importing NumPy)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and "Traceback" not in err, err
