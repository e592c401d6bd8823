"""Finding the submissions, pinned against one-line bugs (issue 21).

``entry_file`` (the named file at the top or the one copy below, the only .py file, and each
way there is none, word for word), the search's depth and folder bounds, hidden folders and
links, ``forbidden_import`` (which imports, where, relative imports, files too large or not
Python), ``one_submission``, ``find_submissions`` and ``shard``.
"""

from __future__ import annotations

import pytest

from scratch.grading import submissions as S


def touch(path, text="def loss_and_grads(params, x, y):\n    return 0.0, {}\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# entry_file and the search below
# --------------------------------------------------------------------------------------------


def test_the_only_py_file_or_why_not(tmp_path):
    assert S.entry_file(tmp_path, None) == (None, "no entry point file: the folder holds no .py file")
    one = touch(tmp_path / "net.py")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.py").mkdir()  # a folder named .py is not a file
    assert S.entry_file(tmp_path, None) == (one, None)
    for i in range(7):
        touch(tmp_path / f"m{i}.py")
    path, why = S.entry_file(tmp_path, None)
    assert path is None and why == ("no entry point file: the folder holds 8 .py files (m0.py, m1.py, m2.py, m3.py, "
                                    "m4.py, m5.py); the assignment must name one ([assignment] file)")


def test_the_named_file_at_the_top_first(tmp_path):
    top = touch(tmp_path / "hw.py")
    touch(tmp_path / "a" / "hw.py")
    assert S.entry_file(tmp_path, "hw.py") == (top, None)


def test_the_named_file_below(tmp_path):
    assert S.entry_file(tmp_path, "hw.py") == (None, "no entry point file: the folder holds no hw.py")
    below = touch(tmp_path / "a" / "b" / "hw.py")
    assert S.entry_file(tmp_path, "hw.py") == (below, None)
    for i in range(6):
        touch(tmp_path / f"c{i}" / "hw.py")
    path, why = S.entry_file(tmp_path, "hw.py")
    assert path is None and why == ("no entry point file: hw.py is not at the top of the folder, and 7 copies lie "
                                    "below it (a/b/hw.py, c0/hw.py, c1/hw.py, c2/hw.py, c3/hw.py)")


def test_the_search_depth(tmp_path):
    touch(tmp_path / "1" / "2" / "3" / "hw.py")  # three folders below: found
    assert S.entry_file(tmp_path, "hw.py")[0] == tmp_path / "1" / "2" / "3" / "hw.py"
    deep = tmp_path / "d"
    touch(deep / "1" / "2" / "3" / "4" / "hw.py")  # four below: not looked at
    assert S._below(deep, "hw.py") == []
    assert S._below(tmp_path, "hw.py") == [tmp_path / "1" / "2" / "3" / "hw.py"]


def test_the_search_skips_hidden_cache_and_linked_folders_and_non_files(tmp_path):
    touch(tmp_path / ".git" / "hw.py")
    touch(tmp_path / "__pycache__" / "hw.py")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "hw.py").mkdir()  # a folder called hw.py
    outside = touch(tmp_path.parent / f"{tmp_path.name}-outside" / "hw.py")
    (tmp_path / "link").symlink_to(outside.parent, target_is_directory=True)
    assert S._below(tmp_path, "hw.py") == []
    real = touch(tmp_path / "src" / "hw.py")
    assert S._below(tmp_path, "hw.py") == [real]


def test_the_search_looks_at_a_bounded_number_of_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "SEARCH_FOLDERS", 3)
    for name in ("a", "b", "c", "d"):
        touch(tmp_path / name / "hw.py")
    found = S._below(tmp_path, "hw.py")
    assert found == [tmp_path / "a" / "hw.py", tmp_path / "b" / "hw.py"]  # the top, a, b: three folders


def test_a_file_at_the_top_is_not_below(tmp_path):
    touch(tmp_path / "hw.py")
    assert S._below(tmp_path, "hw.py") == []


# --------------------------------------------------------------------------------------------
# forbidden_import
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, hit", [
    ("import scratch\n", "scratch"), ("import numpy, scratch.network\n", "scratch"),
    ("from scratch.network import loss_and_grads\n", "scratch"), ("from oracles import torch_oracle\n", "oracles"),
    ("x = 1\nimport os\nimport oracles.jax_oracle as j\n", "oracles"),
])
def test_forbidden_imports_are_found_with_their_line(tmp_path, source, hit):
    p = touch(tmp_path / "hw.py", source)
    line = next(i for i, ln in enumerate(source.splitlines(), 1) if hit in ln)
    assert S.forbidden_import(p) == f"hw.py:{line} imports {hit}"


@pytest.mark.parametrize("source", ["import scratchpad\n", "from . import scratch\n", "from .scratch import x\n",
                                    "import numpy as scratch\n", "x = 'import scratch'\n", "from __future__ import annotations\n"])
def test_other_imports_are_allowed(tmp_path, source):
    assert S.forbidden_import(touch(tmp_path / "hw.py", source)) is None


def test_forbidden_imports_in_a_folder(tmp_path):
    touch(tmp_path / "a.py", "import numpy\n")
    touch(tmp_path / "pkg" / "b.py", "\n\nfrom scratch import testing\n")
    assert S.forbidden_import(tmp_path) == "pkg/b.py:3 imports scratch"


def test_unreadable_large_and_linked_files_are_not_read(tmp_path):
    touch(tmp_path / "bad.py", "def (:\n")
    touch(tmp_path / "big.py", "import scratch\n" + "#" * (1 << 20))
    outside = touch(tmp_path.parent / f"{tmp_path.name}-o.py", "import scratch\n")
    (tmp_path / "link.py").symlink_to(outside)
    (tmp_path / "bytes.py").write_bytes(b"import scratch\x00\n")
    assert S.forbidden_import(tmp_path) is None
    just = touch(tmp_path / "z" / "ok.py", "import scratch\n" + "#" * ((1 << 20) - 15))
    assert just.stat().st_size == 1 << 20
    assert S.forbidden_import(tmp_path) == "z/ok.py:1 imports scratch"


def test_at_most_so_many_files_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_SCANNED_FILES", 2)
    touch(tmp_path / "a.py", "x = 1\n")
    touch(tmp_path / "b.py", "x = 1\n")
    touch(tmp_path / "c.py", "import scratch\n")
    assert S.forbidden_import(tmp_path) is None
    monkeypatch.setattr(S, "MAX_SCANNED_FILES", 3)
    assert S.forbidden_import(tmp_path) == "c.py:1 imports scratch"


# --------------------------------------------------------------------------------------------
# one_submission, find_submissions, shard
# --------------------------------------------------------------------------------------------


def test_one_submission(tmp_path):
    f = touch(tmp_path / "alice.py")
    assert S.one_submission(f, None) == S.Submission("alice.py", f, f, None)
    folder = tmp_path / "bob"
    g = touch(folder / "hw.py")
    assert S.one_submission(folder, None) == S.Submission("bob", folder, g, None)
    touch(folder / "helpers.py")
    assert S.one_submission(str(folder), "hw.py").entry_file == g  # named: found among two .py files
    txt = tmp_path / "carol.txt"
    txt.write_text("x")
    assert S.one_submission(txt, None) == S.Submission("carol.txt", txt, None, "not a .py file or a folder")
    empty = tmp_path / "dave"
    empty.mkdir()
    assert S.one_submission(empty, None).problem == "no entry point file: the folder holds no .py file"


def test_a_submission_importing_the_reference(tmp_path):
    f = touch(tmp_path / "eve.py", "from scratch.network import loss_and_grads\n")
    sub = S.one_submission(f, None)
    assert sub.entry_file == f and sub.problem == (
        "imports the reference: eve.py:1 imports scratch (a submission computes the loss and gradients itself; "
        "scratch, oracles may not be imported)")
    folder = tmp_path / "frank"
    touch(folder / "hw.py", "import oracles\n")
    assert S.one_submission(folder, None).problem.startswith("imports the reference: hw.py:1 imports oracles")


def test_find_submissions(tmp_path):
    for name in ("b.py", "a.py"):
        touch(tmp_path / name)
    touch(tmp_path / "c" / "hw.py")
    touch(tmp_path / ".hidden.py")
    touch(tmp_path / "__pycache__" / "x.py")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "d.py").mkdir()
    touch(tmp_path / "d.py" / "inner.py")
    subs, ignored = S.find_submissions(tmp_path)
    assert [s.name for s in subs] == ["a.py", "b.py", "c", "d.py"] and ignored == ["notes.txt"]
    assert subs[3].entry_file == tmp_path / "d.py" / "inner.py"
    touch(tmp_path / "c" / "util.py")
    subs, _ = S.find_submissions(tmp_path, "hw.py")
    assert subs[2].entry_file == tmp_path / "c" / "hw.py" and subs[2].problem is None


def test_shard():
    subs = list(range(7))
    assert S.shard(subs, 1, 3) == [0, 3, 6] and S.shard(subs, 3, 3) == [2, 5] and S.shard(subs, 1, 1) == subs
    for k, n in ((0, 3), (4, 3), (1, 0)):
        with pytest.raises(ValueError) as info:
            S.shard(subs, k, n)
        assert str(info.value) == f"shard {k}/{n}: expected 1 <= K <= N"
