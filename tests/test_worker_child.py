"""The worker's child side, called in this process (issue 21): ``_load``, ``_call``, ``_raised``,
``_where``, ``_safe_str``.

These run inside the worker process in real use (tests/test_isolation.py drives them through
it), where a mutation-testing tool cannot see which test reaches them; here each is called
directly, with its messages pinned word for word, so a one-line bug in any of them fails a test
in this file.  Each import gets a fresh module name: ``_load`` registers the submission under
``_scratch_user_<stem>``, so every submission file here has its own stem.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scratch import worker as W
from scratch.cases import make_case
from scratch.network import Params, loss_and_grads

_count = itertools.count()


def submission(tmp_path: Path, body: str) -> Path:
    """A submission file with a stem no other test uses (``_load`` caches by stem)."""
    path = tmp_path / f"sub_{next(_count)}_{abs(hash(str(tmp_path))) % 10**8}.py"
    path.write_text(textwrap.dedent(body))
    return path


def load_file(path: Path, attr: str = "net", signature: str = "params"):
    return W._load({"kind": "file", "where": str(path), "attr": attr, "signature": signature})


def inputs(dtype=np.float64):
    c = make_case(0, (4, 3, 5, 3), np.dtype(dtype), "labels")
    return [*(a.copy() for a in c.params), c.x.copy(), c.y.copy()]


def raised_here(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001 - the exception itself is what is under test
        return e


# --------------------------------------------------------------------------------------------
# _safe_str, _raised, _where
# --------------------------------------------------------------------------------------------


def test_safe_str_cuts_long_text_and_survives_a_broken_str():
    class Broken(Exception):
        def __str__(self):
            raise ValueError("no")

    assert W._safe_str(ValueError("short")) == "short"
    assert W._safe_str(Broken()) == "<str() of the exception raised ValueError>"
    long = W._safe_str(ValueError("x" * (W.MAX_ERROR_CHARS + 500)))
    assert long == W._cut("x" * (W.MAX_ERROR_CHARS + 500)) and len(long) < W.MAX_ERROR_CHARS + 100


def test_raised_names_exits_interrupts_and_exceptions():
    assert W._raised(SystemExit(3), ()) == "called sys.exit(3): no result"
    assert W._raised(SystemExit("bye"), ()) == "called sys.exit('bye'): no result"
    assert W._raised(SystemExit(), ()) == "called sys.exit(None): no result"
    assert W._raised(KeyboardInterrupt(), ()) == "raised KeyboardInterrupt: no result"
    assert W._raised(ValueError("bad shape"), ()) == "raised ValueError: bad shape"
    assert W._raised(KeyError("W1"), ()) == "raised KeyError: 'W1'"


def test_where_is_the_innermost_frame_in_the_users_file(tmp_path):
    path = submission(tmp_path, """
        def inner():
            raise ValueError("deep")

        def net(params, x, y):
            return inner()
        """)
    fn, files, reply = load_file(path)
    assert reply == {} and files == (str(path),)
    exc = None
    try:
        fn(None, None, None)
    except ValueError as e:
        exc = e
    assert W._where(exc, files) == f" (at {path}:3)"
    assert W._raised(exc, files) == f"raised ValueError: deep (at {path}:3)"
    # without the user's files: the innermost frame outside the kit and the libraries (still the file)
    assert W._where(exc, ()) == f" (at {path}:3)"


def test_where_prefers_the_users_files_over_other_code(tmp_path):
    helper = submission(tmp_path, """
        def boom():
            raise RuntimeError("in a helper")
        """)
    main = submission(tmp_path, f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("helper_mod_{next(_count)}", {str(helper)!r})
        helper = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(helper)

        def net(params, x, y):
            return helper.boom()
        """)
    fn, files, _ = load_file(main)
    try:
        fn(None, None, None)
    except RuntimeError as e:
        exc = e
    assert W._where(exc, files) == f" (at {main}:8)"  # the user's own file, not the helper it called
    assert W._where(exc, ()) == f" (at {helper}:3)"  # no files named: the innermost non-kit frame
    assert W._where(exc, ("/nowhere.py",)) == f" (at {helper}:3)"  # none of them in it: all frames


def test_where_skips_the_kit_numpy_and_the_standard_library():
    exc = raised_here(ValueError("here"))  # raised in this test file: not the kit's
    assert W._where(exc, ()) == f" (at {__file__}:{exc.__traceback__.tb_lineno})"
    try:
        np.zeros(2).reshape(3)
    except ValueError as e:
        np_exc = e
    assert W._where(np_exc, ()).startswith(f" (at {__file__}:")  # numpy's own frames skipped
    try:
        W.parse_target("no colon")
    except Exception as e:  # noqa: BLE001
        kit_exc = e
    assert "scratch/worker.py" not in W._where(kit_exc, ()) and W._where(kit_exc, ()).startswith(f" (at {__file__}:")
    assert W._where(ValueError("never raised"), ()) == ""


def test_where_of_an_exception_whose_traceback_cannot_be_read():
    class Odd(Exception):
        @property
        def __traceback__(self):
            raise RuntimeError("no traceback")

    assert W._where(Odd(), ()) == ""


# --------------------------------------------------------------------------------------------
# _load
# --------------------------------------------------------------------------------------------


def test_load_a_file_registers_it_under_its_own_name(tmp_path):
    path = submission(tmp_path, "def net(params, x, y):\n    return 1.0, {}\n")
    fn, files, reply = load_file(path)
    assert reply == {} and callable(fn) and fn.__name__ == "net" and files == (str(path),)
    assert sys.modules[f"_scratch_user_{path.stem}"].net is fn


def test_load_a_module_by_name():
    fn, files, reply = W._load({"kind": "module", "where": "scratch.network", "attr": "loss_and_grads",
                                "signature": "params"})
    assert reply == {} and fn is loss_and_grads and files == (sys.modules["scratch.network"].__file__,)


def test_load_a_dotted_attribute(tmp_path):
    path = submission(tmp_path, """
        class Net:
            @staticmethod
            def grads(params, x, y):
                return 1.0, {}
        """)
    fn, _, reply = load_file(path, "Net.grads")
    assert reply == {} and fn.__qualname__ == "Net.grads"


def test_load_a_missing_module_is_unusable():
    fn, files, reply = W._load({"kind": "module", "where": "no_such_pkg_zz.sub", "attr": "f", "signature": "params"})
    assert (fn, files) == (None, ())
    assert reply == {"unusable": "'no_such_pkg_zz.sub:f': cannot import 'no_such_pkg_zz.sub': ModuleNotFoundError: "
                                 "No module named 'no_such_pkg_zz'"}


def test_a_module_missing_inside_the_submission_is_its_error(tmp_path):
    path = submission(tmp_path, "import no_such_dependency_zz\n")
    fn, files, reply = load_file(path)
    assert (fn, files) == (None, ())
    assert reply == {"error": "raised ModuleNotFoundError: No module named 'no_such_dependency_zz'"
                              f" (at {path}:1)"}


@pytest.mark.parametrize("body, error", [
    ("raise RuntimeError('at import')\n", "raised RuntimeError: at import (at {path}:1)"),
    ("import sys\nsys.exit(4)\n", "called sys.exit(4) (at {path}:2): no result"),
])
def test_an_import_that_raises_or_exits_is_its_error(tmp_path, body, error):
    path = submission(tmp_path, body)
    assert load_file(path) == (None, (), {"error": error.format(path=path)})


def test_a_missing_attribute_lists_the_public_callables(tmp_path):
    path = submission(tmp_path, """
        import numpy as np
        def forward(x): pass
        def backward(x): pass
        def _private(): pass
        VALUE = 3
        """)
    fn, files, reply = load_file(path, "net")
    assert (fn, files) == (None, ())
    assert reply == {"unusable": f"'{path}:net': '{path}' has no 'net'; its public callables: backward, forward"}
    empty = submission(tmp_path, "VALUE = 3\n")
    assert load_file(empty, "net")[2] == {"unusable": f"'{empty}:net': '{empty}' has no 'net'; its public "
                                                      "callables: (none)"}


def test_an_attribute_whose_lookup_raises_is_its_error(tmp_path):
    path = submission(tmp_path, """
        class Lazy:
            def __getattr__(self, name):
                raise RuntimeError("lookup " + name)
        thing = Lazy()
        """)
    fn, files, reply = load_file(path, "thing.net")
    assert (fn, files) == (None, ())
    assert reply["error"].startswith("raised RuntimeError: lookup net (at ")


def test_a_signature_that_cannot_be_called_is_unusable(tmp_path):
    path = submission(tmp_path, "def net(a, b):\n    return 1.0, {}\n")
    fn, files, reply = load_file(path)
    assert (fn, files) == (None, ())
    assert reply["unusable"].startswith(f"'{path}:net': net(a, b) cannot be called as fn(params, x, y)")


# --------------------------------------------------------------------------------------------
# _call
# --------------------------------------------------------------------------------------------


def scratch_net(params, x, y):
    return loss_and_grads(params, x, y)


def test_call_returns_the_names_and_arrays_in_order():
    arrays = inputs()
    header, out = W._call(scratch_net, "params", arrays, ())
    assert header == {"names": ["loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2"], "problems": [], "notes": []}
    L, g = loss_and_grads(Params(*arrays[:4]), arrays[4], arrays[5])
    assert np.array_equal(out[0], L) and all(np.array_equal(a, getattr(g, q)) for a, q in zip(out[1:], header["names"][1:]))


def test_call_leaves_out_quantities_not_returned_and_keeps_notes():
    def net(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {"W1": g.dW1, "b1": g.db1.reshape(1, -1), "W2": g.dW2, "b2": g.db2}

    header, out = W._call(net, "params", inputs(), ())
    assert header["names"] == ["loss", "dW1", "db1", "dW2", "db2"] and len(out) == 5
    assert len(header["notes"]) == 2 and header["problems"] == []


def test_call_names_every_input_modified_in_place():
    def net(params, x, y):
        params[0][0, 0] += 1.0
        x[0, 0] = 7.0
        return scratch_net(params, x, y)

    header, _ = W._call(net, "params", inputs(), ())
    assert header["problems"] == ["modified its input W1 in place", "modified its input x in place"]


def test_call_reports_what_the_function_raised_and_where(tmp_path):
    path = submission(tmp_path, "def net(params, x, y):\n    raise ZeroDivisionError('oops')\n")
    fn, files, _ = load_file(path)
    assert W._call(fn, "params", inputs(), files) == ({"error": f"raised ZeroDivisionError: oops (at {path}:2)"}, [])

    def exits(params, x, y):
        raise SystemExit(0)

    assert W._call(exits, "params", inputs(), ())[0]["error"].startswith("called sys.exit(0)")


def test_call_a_return_value_the_kit_cannot_read():
    def none(params, x, y):
        x[0, 0] = 1.5
        return None

    header, out = W._call(none, "params", inputs(), ())
    assert out == [] and header["problems"] == ["modified its input x in place"]
    assert header["error"] and "returned" in header["error"] and header["error"] == W._safe_str(
        _adapter_error(None)), header


def _adapter_error(ret):
    from scratch.adapter import ImplementationError, read_outputs

    try:
        read_outputs(ret)
    except ImplementationError as exc:
        return exc
    raise AssertionError("read_outputs accepted it")


def test_call_a_return_value_whose_reading_raises():
    class Weird(dict):
        def __getitem__(self, key):
            raise RuntimeError("no items")

        def get(self, key, default=None):
            raise RuntimeError("no items")

    def net(params, x, y):
        return 1.0, Weird(dW1=1)

    header, out = W._call(net, "params", inputs(), ())
    assert out == [] and header["problems"] == []
    assert header["error"].startswith("returned a value the kit cannot read: raised RuntimeError: no items")


def test_call_refuses_arrays_that_are_not_numbers():
    def net(params, x, y):
        L, g = loss_and_grads(params, x, y)
        return L, {"dW1": g.dW1, "db1": g.db1, "dW2": g.dW2, "db2": g.db2, "dz1": np.full(g.dz1.shape, "a")}

    header, out = W._call(net, "params", inputs(), ())
    assert (header, out) == ({"error": "dz1 is an array of dtype <U1 ('U'); expected floating-point numbers",
                              "problems": []}, [])


def test_call_with_the_arrays_signature():
    def net(W1, b1, W2, b2, x, y):
        return scratch_net(Params(W1, b1, W2, b2), x, y)

    header, out = W._call(net, "arrays", inputs(), ())
    assert header["names"][0] == "loss" and len(out) == 7


# --------------------------------------------------------------------------------------------
# The channel (the trust boundary: whatever the worker sends is read as data or refused)
# --------------------------------------------------------------------------------------------

import json  # noqa: E402
import struct  # noqa: E402


def body_of(message: bytes) -> bytes:
    (n,) = struct.unpack(">Q", message[:8])
    assert n == len(message) - 8
    return message[8:]


def test_pack_and_unpack_round_trip():
    arrays = [np.arange(6.0).reshape(2, 3), np.float32(2.5), np.arange(4, dtype=">i4"), np.asfortranarray(np.eye(3))]
    header, out = W._unpack(body_of(W._pack({"names": ["a", "b", "c", "d"], "x": 1}, arrays)))
    assert header["names"] == ["a", "b", "c", "d"] and header["x"] == 1
    assert header["arrays"] == [["<f8", [2, 3], 48], ["<f4", [], 4], [">i4", [4], 16], ["<f8", [3, 3], 72]]
    for a, b in zip(arrays, out):
        assert b.dtype == np.asarray(a).dtype and b.shape == np.shape(a) and np.array_equal(a, b)
        assert b.flags.writeable and b.flags.c_contiguous
    assert W._unpack(body_of(W._pack({}))) == ({"arrays": []}, [])


def raw(header, data=b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + data


@pytest.mark.parametrize("body, message", [
    (b"abc", "a message shorter than its header"),
    (struct.pack(">I", 10) + b"{}", "a header of 10 bytes"),
    (struct.pack(">I", (1 << 20) + 1) + b"x" * ((1 << 20) + 1), f"a header of {(1 << 20) + 1} bytes"),
    (struct.pack(">I", 3) + b"{{{", "a header that is not JSON (JSONDecodeError)"),
    (struct.pack(">I", 2) + b"[]", "a header that is not a JSON object with a list of arrays"),
    (raw({"arrays": {}}), "a header that is not a JSON object with a list of arrays"),
    (raw({"arrays": []}, b"x"), "array sizes that do not add up to the message"),
    (raw({"arrays": [["<f8", [2], 16]]}, b"\0" * 24), "array sizes that do not add up to the message"),
    (raw({"arrays": [["<f8", [2], 16]]}, b"\0" * 8), "an array declaring shape (2,) of float64 for 16 bytes"),
    (raw({"arrays": [["<f8", [2], 8]]}, b"\0" * 8), "an array declaring shape (2,) of float64 for 8 bytes"),
    (raw({"arrays": [["<f8", [2]]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [[8, [2], 16]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8" * 3, [2], 16]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8", [1] * 9, 8]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8", [-1], 8]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8", [2.0], 16]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8", [True], 8]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["<f8", [2], 16.0]]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": ["<f8"]}), "an array description that is not [dtype, shape, nbytes]"),
    (raw({"arrays": [["zz", [2], 16]]}), "an array of unknown dtype 'zz'"),
    (raw({"arrays": [["|O", [1], 8]]}), "an array of dtype |O"),
    (raw({"arrays": [["<M8[s]", [1], 8]]}), "an array of dtype <M8[s]"),
    (raw({"arrays": [["|V8", [1], 8]]}), "an array of dtype |V8"),
])
def test_malformed_messages_are_refused(body, message):
    with pytest.raises(ValueError) as info:
        W._unpack(body)
    assert str(info.value) == message


def test_the_limits_themselves_are_accepted():
    h = W._unpack(raw({"arrays": [["<f8", [1] * 8, 8]]}, b"\0" * 8))[1][0]
    assert h.shape == (1,) * 8
    assert W._unpack(raw({"arrays": [["|b1", [0], 0]]}))[1][0].shape == (0,)
    for kind in ("|b1", "<i8", "<u2", "<c16", "|S3", "<U2"):
        a = np.zeros(2, dtype=kind)
        assert W._unpack(raw({"arrays": [[a.dtype.str, [2], a.nbytes]]}, a.tobytes()))[1][0].dtype == a.dtype
    head = b"{" + b" " * ((1 << 20) - 2) + b"}"
    assert W._unpack(struct.pack(">I", len(head)) + head) == ({}, [])


def test_cut_and_describe_exit():
    assert W._cut("abc", 3) == "abc" and W._cut("abcd", 3) == "abc... [1 more characters cut]"
    assert W._describe_exit(None) == "an unknown status"
    assert W._describe_exit(3) == "exit status 3" and W._describe_exit(0) == "exit status 0"
    assert W._describe_exit(-11) == "signal SIGSEGV (segmentation fault)"
    assert W._describe_exit(-9) == "signal SIGKILL (killed: out of memory?)"
    assert W._describe_exit(-6) == "signal SIGABRT (aborted)"
    assert W._describe_exit(-25) == f"signal SIGXFSZ (wrote a file past {W.MAX_FILE_MB} MiB)"
    assert W._describe_exit(-7) == "signal SIGBUS (bus error)"
    assert W._describe_exit(-8) == "signal SIGFPE (floating-point exception)"
    assert W._describe_exit(-15) == "signal SIGTERM"
    assert W._describe_exit(-999) == "signal 999"


def test_parse_target(tmp_path):
    path = submission(tmp_path, "def net(params, x, y): pass\n")
    assert W.parse_target(f"{path}:net") == ("file", str(path.resolve()), "net")
    assert W.parse_target("pkg.mod:fn") == ("module", "pkg.mod", "fn")
    rel = path.name
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert W.parse_target(f"{rel}:net") == ("file", str(path.resolve()), "net")
    finally:
        os.chdir(cwd)
    for bad in ("nocolon", "a:b:c", ":fn", "mod:", 5, "a::b"):
        with pytest.raises(W.ImplementationUnusable) as info:
            W.parse_target(bad)
        assert str(info.value) == f"{bad!r}: expected module:function or path/to/file.py:function"
    for missing in ("nope.py:f", "dir/nope:f"):
        with pytest.raises(W.ImplementationUnusable) as info:
            W.parse_target(missing)
        assert str(info.value) == f"{missing!r}: no such file {missing.split(':')[0]!r}"


def test_write_all_writes_everything_through_short_writes():
    import os

    r, w = os.pipe()
    try:
        data = bytes(range(256)) * 1000  # larger than a pipe buffer's one write
        import threading

        got = []
        t = threading.Thread(target=lambda: got.append(b"".join(iter(lambda: os.read(r, 65536), b""))))
        t.start()
        W._write_all(w, data)
        os.close(w)
        w = -1
        t.join(10)
        assert got == [data]
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
