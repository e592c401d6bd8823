"""The grader's assignment config pinned against one-line bugs (issue 21).

Every check of ``scratch.grading.config`` at its edge (the largest seed list, dimension and
array it allows and one past it, the time and memory bounds), every message word for word,
the tiers it builds (the float32 tier's targets) and the ``check`` options it hands on.
"""

from __future__ import annotations

import pytest

from scratch import NetworkSpec
from scratch.grading.config import (DEFAULT_CONFIG, MAX_DIM, MAX_ELEMENTS, MAX_SEEDS, ConfigError, load_assignment,
                                    parse_assignment)

SRC = "a.toml"


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_assignment(text, SRC)
    return str(info.value)


def ok(text: str):
    return parse_assignment(text, SRC)


# --------------------------------------------------------------------------------------------
# Tables and keys
# --------------------------------------------------------------------------------------------


def test_unknown_keys_with_and_without_a_close_match():
    assert error("[assignmnt]\n") == "a.toml: top level: unknown key 'assignmnt' (did you mean 'assignment'?)"
    assert error("[zzz]\n") == ("a.toml: top level: unknown key 'zzz'; expected one of assignment, network, sweep, "
                                "limits, rubric, gradescope")
    assert error("[sweep]\nseed = [1]\n") == "a.toml: [sweep]: unknown key 'seed' (did you mean 'seeds'?)"
    assert error("[rubric.ordinary]\ndW11 = 1\n") == "a.toml: [rubric.ordinary]: unknown key 'dW11' (did you mean 'dW1'?)"


def test_a_table_that_is_not_a_table():
    assert error("sweep = 3\n") == "a.toml: sweep: expected a table [sweep], got int"


def test_not_toml():
    assert error("[sweep\n").startswith("a.toml: not valid TOML: ")


# --------------------------------------------------------------------------------------------
# [assignment]
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, message", [
    ('""', "expected a non-empty string, got ''"), ('"  "', "expected a non-empty string, got '  '"),
    ("3", "expected a non-empty string, got 3"),
])
def test_title_must_be_a_string(value, message):
    assert error(f"[assignment]\ntitle = {value}\n") == f"a.toml: [assignment] title: {message}"


@pytest.mark.parametrize("entry, good", [("net", True), ("Net.grads", True), ("a.b.c", True), ("my-net", False),
                                         ("1net", False), ("net.", False)])
def test_entry_point_is_a_python_name(entry, good):
    text = f'[assignment]\nentry_point = "{entry}"\n'
    if good:
        assert ok(text).entry_point == entry
    else:
        assert error(text) == f"a.toml: [assignment] entry_point: {entry!r} is not a Python name (function or Class.method)"


def test_signature_choices():
    assert ok('[assignment]\nsignature = "arrays"\n').signature == "arrays"
    assert error('[assignment]\nsignature = "kwargs"\n').startswith(
        "a.toml: [assignment] signature: 'kwargs': expected one of params, arrays")


@pytest.mark.parametrize("name", ["net.txt", "sub/net.py", "sub\\\\net.py", ".net.py"])
def test_file_is_a_py_file_name(name):
    assert error(f'[assignment]\nfile = "{name}"\n') == (
        f"a.toml: [assignment] file: {name.replace(chr(92) * 2, chr(92))!r}: expected the name of a .py file (no folder)")


def test_file_given_and_not():
    assert ok('[assignment]\nfile = "net.py"\n').file == "net.py"
    assert ok("").file is None
    assert error('[assignment]\nfile = ""\n') == "a.toml: [assignment] file: expected a non-empty string, got ''"


# --------------------------------------------------------------------------------------------
# [network]
# --------------------------------------------------------------------------------------------


def test_network_keys_make_the_spec_and_a_bad_one_is_named():
    a = ok('[network]\nactivation = "leaky_relu"\nalpha = 0.2\nl2 = 0.1\nl2_form = "full"\nl2_biases = true\n'
           'reduction = "sum"\n')
    assert a.spec == NetworkSpec("leaky_relu", 0.2, 0.1, "full", True, "sum")
    assert ok("").spec == NetworkSpec()
    assert error('[network]\nactivation = "elu"\n').startswith("a.toml: [network]: ")
    assert "activation" in error('[network]\nactivation = "elu"\n')


def test_spec_args():
    assert ok("").spec_args() == []
    assert ok('[network]\nactivation = "relu"\n').spec_args() == ["--activation", "relu", "--reduction", "mean"]
    assert ok('[network]\nactivation = "leaky_relu"\nalpha = 0.2\n').spec_args() == [
        "--activation", "leaky_relu", "--alpha", "0.2", "--reduction", "mean"]
    assert ok('[network]\nl2 = 0.001\nreduction = "sum"\n').spec_args() == [
        "--activation", "tanh", "--l2", "0.001", "--l2-form", "half", "--reduction", "sum"]
    assert ok('[network]\nl2 = 0.5\nl2_form = "full"\nl2_biases = true\n').spec_args() == [
        "--activation", "tanh", "--l2", "0.5", "--l2-form", "full", "--l2-biases", "--reduction", "mean"]


# --------------------------------------------------------------------------------------------
# [sweep]
# --------------------------------------------------------------------------------------------


def test_seeds_at_their_bounds():
    assert ok(f"[sweep]\nseeds = {list(range(MAX_SEEDS))}\n").tiers[0].seeds == tuple(range(MAX_SEEDS))
    assert error(f"[sweep]\nseeds = {list(range(MAX_SEEDS + 1))}\n") == "a.toml: [sweep] seeds: 101 seeds: at most 100"
    assert ok("[sweep]\nseeds = [0]\n").tiers[0].seeds == (0,)


@pytest.mark.parametrize("value, message", [
    ("[]", "expected a non-empty list of integers >= 0, got []"),
    ("3", "expected a non-empty list of integers >= 0, got 3"),
    ("[-1]", "-1: seeds are integers >= 0"), ("[true]", "True: seeds are integers >= 0"),
    ("[1.0]", "1.0: seeds are integers >= 0"), ('["1"]', "'1': seeds are integers >= 0"),
    ("[1, 2, 1]", "a seed is listed twice"),
])
def test_bad_seeds(value, message):
    assert error(f"[sweep]\nseeds = {value}\n") == f"a.toml: [sweep] seeds: {message}"


def test_shapes_by_name_by_string_and_by_array():
    a = ok('[sweep]\nshapes = ["small", "4,3,5,3", [2, 3, 4, 5], " 1, 2,3,4"]\n')
    assert a.tiers[0].shapes == ("small", "4,3,5,3", "2,3,4,5", "1,2,3,4")
    dims = {c.shape: c.dims for c in a.tiers[0].cases(a.spec)}
    assert dims["small"] == (4, 3, 5, 3) and (2, 3, 4, 5) in dims.values() and (1, 2, 3, 4) in dims.values()


@pytest.mark.parametrize("value, message", [
    ("[]", 'expected a non-empty list of shape names or "N,D,H,C" strings, got []'),
    ('"small"', "expected a non-empty list of shape names or \"N,D,H,C\" strings, got 'small'"),
    ("[3]", '3: expected a shape name or "N,D,H,C"'),
    ('["huge"]', "'huge' is a tier of its own (robustness: huge, float32: confident), set by [rubric], not a shape "
                 "of the ordinary sweep"),
    ('["confident"]', "'confident' is a tier of its own (robustness: huge, float32: confident), set by [rubric], "
                      "not a shape of the ordinary sweep"),
    ('["4,3,5"]', "'4,3,5': expected a name (seed, n1, h1, c1, small, square, tall, wide, c10, large) or four "
                  'positive integers "N,D,H,C"'),
    ('["4,3,0,3"]', "'4,3,0,3': expected a name (seed, n1, h1, c1, small, square, tall, wide, c10, large) or four "
                    'positive integers "N,D,H,C"'),
    ('["4,3,x,3"]', "'4,3,x,3': expected a name (seed, n1, h1, c1, small, square, tall, wide, c10, large) or four "
                    'positive integers "N,D,H,C"'),
    ('["4,3,-5,3"]', "'4,3,-5,3': expected a name (seed, n1, h1, c1, small, square, tall, wide, c10, large) or four "
                     'positive integers "N,D,H,C"'),
    ('["small", "small"]', "'small' listed twice"),
    ('["4,3,5,3", " 4,3,5,3"]', "'4,3,5,3' listed twice"),
])
def test_bad_shapes(value, message):
    assert error(f"[sweep]\nshapes = {value}\n") == f"a.toml: [sweep] shapes: {message}"


TOO_LARGE = f"too large (each of N, D, H, C at most {MAX_DIM}, and at most {MAX_ELEMENTS:,} elements per array)"


@pytest.mark.parametrize("dims", ["4097,1,1,1", "1,4097,1,1", "1,1,4097,1", "1,1,1,4097",
                                  "1000,2001,1,1", "1,1000,2001,1", "1000,1,2001,1", "1,1,1000,2001", "1000,1,1,2001"])
def test_shapes_too_large(dims):
    assert error(f'[sweep]\nshapes = ["{dims}"]\n') == f"a.toml: [sweep] shapes: '{dims}': {TOO_LARGE}"


@pytest.mark.parametrize("dims", ["4096,1,1,1", "1,1,1,4096", "1000,2000,1,1", "1,1,2000,1000"])
def test_shapes_at_the_bounds(dims):
    assert ok(f'[sweep]\nshapes = ["{dims}"]\n').tiers[0].shapes == (dims,)


@pytest.mark.parametrize("key, value, message", [
    ("dtypes", "[]", "expected a non-empty list of dtypes, got []"),
    ("dtypes", '["float16"]', "'float16' is not one of the dtypes: float64, float32"),
    ("dtypes", '["float64", "float64"]', "'float64' listed twice"),
    ("dtypes", "[64]", "64 is not one of the dtypes: float64, float32"),
    ("targets", '"labels"', "expected a non-empty list of target kinds, got 'labels'"),
    ("targets", '["hard"]', "'hard' is not one of the target kinds: labels, onehot, soft, unnormalized"),
])
def test_bad_names(key, value, message):
    assert error(f"[sweep]\n{key} = {value}\n") == f"a.toml: [sweep] {key}: {message}"


# --------------------------------------------------------------------------------------------
# [limits], [rubric], [gradescope]
# --------------------------------------------------------------------------------------------


def test_time_bounds():
    assert ok("[limits]\ntime = 0.1\n").time_limit == 0.1
    assert ok("[limits]\ntime = 86400\n").time_limit == 86400.0
    assert error("[limits]\ntime = 0.09\n") == "a.toml: [limits] time: 0.09: expected a number in [0.1, 86400]"
    assert error("[limits]\ntime = 86401\n") == "a.toml: [limits] time: 86401: expected a number in [0.1, 86400]"
    assert error("[limits]\ntime = true\n") == "a.toml: [limits] time: expected a number, got True"
    assert error("[limits]\ntime = inf\n") == "a.toml: [limits] time: expected a number, got inf"
    assert error('[limits]\ntime = "60"\n') == "a.toml: [limits] time: expected a number, got '60'"


def test_memory_bounds_and_no_limit():
    assert ok("[limits]\nmemory = 0\n").memory_mb is None
    assert ok("[limits]\nmemory = 256\n").memory_mb == 256
    assert ok("").memory_mb == 2048
    assert ok(f"[limits]\nmemory = {1 << 20}\n").memory_mb == 1 << 20
    assert error("[limits]\nmemory = 255\n") == "a.toml: [limits] memory: 255: expected a number in [256, 1.04858e+06]"
    assert error(f"[limits]\nmemory = {(1 << 20) + 1}\n").startswith("a.toml: [limits] memory: 1048577: expected")
    assert error("[limits]\nmemory = false\n") == "a.toml: [limits] memory: expected a number, got False"
    assert error("[limits]\nmemory = 0.0\n") == "a.toml: [limits] memory: 0.0: expected a number in [256, 1.04858e+06]"


def test_points():
    a = ok("[rubric.ordinary]\nloss = 2.5\ndz2 = 1\n[rubric.robustness]\n[rubric.float32]\n")
    assert [t.name for t in a.tiers] == ["ordinary"] and dict(a.tiers[0].points) == {"loss": 2.5, "dz2": 1.0}
    assert a.max_score == 3.5 and a.tier("robustness") is None and a.tier("ordinary") is a.tiers[0]
    assert error("[rubric]\nordinary = 3\n") == "a.toml: [rubric.ordinary]: expected a table of quantity = points, got 3"
    assert error("[rubric.ordinary]\nloss = -1\n") == "a.toml: [rubric.ordinary] loss: -1: expected a number in [0, 1e+06]"
    assert ok("[rubric.ordinary]\nloss = 1000000\n").tiers[0].points["loss"] == 1e6
    assert error("[rubric.ordinary]\n[rubric.robustness]\n[rubric.float32]\n") == (
        "a.toml: [rubric]: every tier earns 0 points: give some quantity points")
    zero = ok("[rubric.ordinary]\nloss = 0\n")
    assert [t.name for t in zero.tiers] == ["robustness", "float32"]
    assert ok("").max_score == 20.0


def test_scoring_and_visibility_choices():
    assert ok('[rubric]\nscoring = "fraction"\n').scoring == "fraction"
    assert error('[rubric]\nscoring = "some"\n') == "a.toml: [rubric] scoring: 'some': expected one of all, fraction"
    assert ok('[gradescope]\nvisibility = "hidden"\n').visibility == "hidden"
    assert error('[gradescope]\nvisibility = "never"\n') == (
        "a.toml: [gradescope] visibility: 'never': expected one of visible, hidden, after_due_date, after_published")


# --------------------------------------------------------------------------------------------
# The tiers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("targets, float32_targets", [
    ('["labels", "soft"]', ("labels",)), ('["soft", "onehot", "labels"]', ("onehot", "labels")),
    ('["soft", "unnormalized"]', ("labels",)),
])
def test_the_tiers_sweeps(targets, float32_targets):
    a = ok(f'[sweep]\nseeds = [3, 1]\nshapes = ["small"]\ndtypes = ["float32"]\ntargets = {targets}\n')
    ordinary, robust, f32 = a.tiers
    assert (ordinary.seeds, ordinary.shapes, ordinary.dtypes) == ((3, 1), ("small",), ("float32",))
    assert (robust.shapes, robust.dtypes, robust.targets) == (("huge",), ("float64",), ordinary.targets)
    assert (f32.shapes, f32.dtypes, f32.targets, f32.seeds) == (("confident",), ("float32",), float32_targets, (3, 1))
    assert f32.check_args() == ["--seeds", "3", "1", "--shapes", "confident", "--dtypes", "float32", "--targets",
                                *float32_targets]
    assert {c.shape for c in robust.cases(a.spec)} == {"huge"} and {c.shape for c in f32.cases(a.spec)} == {"confident"}


def test_load_assignment(tmp_path):
    assert load_assignment(None).text == DEFAULT_CONFIG and load_assignment().source == "(default)"
    p = tmp_path / "a.toml"
    p.write_bytes(b"\xef\xbb\xbf[sweep]\nseeds = [7]\n")
    a = load_assignment(p)
    assert a.tiers[0].seeds == (7,) and a.source == str(p) and a.text == "[sweep]\nseeds = [7]\n"
    with pytest.raises(ConfigError) as info:
        load_assignment(tmp_path / "missing.toml")
    assert str(info.value).startswith(f"{tmp_path / 'missing.toml'}: cannot read the config: ")
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_assignment(p)


def test_the_title_and_an_empty_entry_point():
    assert ok('[assignment]\ntitle = "HW3: backprop"\n').title == "HW3: backprop"
    assert error('[assignment]\nentry_point = ""\n') == "a.toml: [assignment] entry_point: expected a non-empty string, got ''"


def test_a_tiers_cases_carry_its_network_and_targets():
    a = ok('[network]\nactivation = "relu"\n[sweep]\nseeds = [0]\nshapes = ["small", "2,3,4,5"]\ndtypes = ["float64"]\n'
           'targets = ["soft"]\n')
    got = a.tiers[0].cases(a.spec)
    assert [(c.shape, c.dims, c.target, c.spec) for c in got] == [
        ("small", (4, 3, 5, 3), "soft", NetworkSpec("relu")), ("N2D3H4C5", (2, 3, 4, 5), "soft", NetworkSpec("relu"))]


def test_without_tomllib_or_tomli_the_config_names_what_to_install(monkeypatch):
    import sys

    from scratch.grading import config

    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigError) as info:
        config._toml_loads("")
    assert str(info.value) == ("reading an assignment config needs Python 3.11 (tomllib) or the tomli package: "
                               "pip install tomli")
