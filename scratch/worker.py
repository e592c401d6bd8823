"""Run a user's implementation in its own worker process: the inputs go in, the outputs come back.

The conformance kit's normal input is code nobody has read.  :class:`Isolated` runs it in a
separate worker process and keeps everything that decides the verdict in ours: the worker
receives only one case's inputs (``W1 b1 W2 b2 x y``) and sends back only what the function
returned (``loss dW1 db1 dW2 db2 [dz1 dz2]``) or the text of what it raised, with the user's
``file:line``.  The reference, the comparison, the diagnosis, the report files and the exit
status never leave the parent, so the user's code can neither import, patch nor read them.

How the worker is started, and why
----------------------------------
``subprocess.Popen([sys.executable, "-I", "-B", "-c", BOOT, ...], start_new_session=True)``: a
*fresh* interpreter, not a ``fork`` of ours, so it inherits none of our modules, our patched or
unpatched functions, our open files or our floating-point and warning settings, and nothing it
does to its own copies (``scratch.compare.relative_error = ...``, ``np.max = ...``,
``np.seterr(all="raise")``, ``os.chdir``, ``sys.stdout.close()``) reaches us.  (``-B``: no ``__pycache__`` written into a submission's folder.)  ``-I`` ignores
``PYTHON*`` variables, the user site and the script folder; the bootstrap puts the kit's own
folder first, imports NumPy and the kit, and only *then* prepends the submission's folder (a
file target) or the current folder (a module target), followed by our ``sys.path``: a
submission's ``numpy.py``, ``scratch.py`` or ``oracles.py`` can shadow nothing the worker has
already imported, and the parent never looks at that folder at all.  ``start_new_session``
puts the worker in its own process group, so a time-out kills it *and its children*, and a
Ctrl-C at the terminal reaches only the parent, which then stops the worker itself.  A
*lifeline* pipe, whose only write end the parent holds, ends the worker and its group when the
parent dies without stopping it (a SIGKILL: ``grade``'s limit, the OOM killer): a watchdog thread
in the worker waits for its end-of-file.

The channel is a pair of pipes (not the worker's stdin/stdout): messages are length-prefixed,
a small JSON header describing each array (``[dtype.str, shape, nbytes]``) followed by the raw
bytes.  Like ``np.load(allow_pickle=False)`` it never unpickles, and it is cheaper: parsing an
``.npy`` header (``ast.literal_eval``) cost ~50 us an array, most of the isolation's per-call
cost.  The parent caps every message's size from the case's shapes before reading it, accepts
only plain numeric or text dtypes whose declared shape matches the bytes (nothing is allocated
beyond the message), and treats anything it cannot read as "not a result".  The worker's
stdout and stderr go to a log file (the user's prints and warnings; never into the report).

Every way a worker can end is a failing verdict for the case in flight (:class:`Outcome`
``error``), never a pass: an exit (its status named; ``sys.exit(0)``, ``os._exit(0)``, an
``atexit`` handler: the worker never runs a normal shutdown), a signal (``SIGSEGV`` named), the
per-call time-out (:data:`DEFAULT_TIMEOUT`), the address-space limit (:data:`DEFAULT_MEMORY_MB`,
``RLIMIT_AS``), a ``KeyboardInterrupt`` raised by the user's code, or output that is not a
result.  After a crash the next case runs in a fresh worker; after :data:`MAX_CRASHES` crashes
the remaining cases are failed with the reason, without running.

What this is not: a sandbox.  The worker runs with the checker's user id and can read and write
every file that user can, open network connections and start processes (killed with its group
at a time-out, unless they leave it).  Against a determined attacker, run the checker in a
container without network (see the README).

Example
-------
>>> from scratch.worker import Isolated                      # doctest: +SKIP
>>> with Isolated("student/hw.py:loss_and_grads", timeout=5) as impl:   # doctest: +SKIP
...     outcome = impl.run(case.params, case.x, case.y)
...     outcome.outputs["dW1"], outcome.error
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT", "Isolated", "Outcome", "MAX_CRASHES", "parse_target"]

#: Seconds one call of the user's function may take (every shape of the default sweep runs in
#: milliseconds; 10 s leaves room for a slow machine and a slow but honest implementation).
DEFAULT_TIMEOUT = 10.0
#: Seconds the import of the submission may take (a framework import, e.g. torch, takes seconds).
LOAD_TIMEOUT = 120.0
#: The worker's address-space limit in MiB (``RLIMIT_AS``: virtual memory, which frameworks
#: reserve far beyond what they use; NumPy alone needs ~0.5 GiB of it, torch ~2 GiB).
DEFAULT_MEMORY_MB = 8192
#: The largest file the worker may write, its log included (``RLIMIT_FSIZE``; past it, SIGXFSZ).
MAX_FILE_MB = 256
#: Crashes (exits, signals, time-outs, garbage) after which the remaining cases are not run.
MAX_CRASHES = 3
#: User exception text kept per case (characters).
MAX_ERROR_CHARS = 1000
#: The quantities a worker may send back.
NAMES = ("loss", "dW1", "db1", "dW2", "db2", "dz1", "dz2")
_INPUTS = ("W1", "b1", "W2", "b2", "x", "y")
_HEADER_MAX = 1 << 20  # bytes of JSON header: far more than any honest reply

#: Seconds the parent waits for a worker that closed its channel to exit, before it names it as still running.
EXIT_WAIT = 2.0
#: How the worker starts: the kit's folder first, our imports, then the serving loop.
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import scratch.worker as w; w._serve(sys.argv[2:])"
_KIT_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass
class Outcome:
    """What one call of the user's function gave.

    ``outputs``: quantity -> array (None for an optional quantity not returned), or None when
    there is no result; ``error``: why there is no result (what the function raised, with its
    ``file:line``, or how the worker ended); ``problems``: failures beside the values (the
    function modified its inputs in place).
    """

    outputs: dict[str, np.ndarray | None] | None
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    #: How the worker ended, when it did: ``"timeout"``, ``"exit"``, ``"signal"``, ``"garbage"``
    #: (output that is not a result), ``"import"`` (the submission could not be imported) or
    #: ``"not run"`` (after :data:`MAX_CRASHES`); None when the function returned or raised.
    ended: str | None = None


class ImplementationUnusable(Exception):
    """Raised by :meth:`Isolated.start` when the target cannot be used at all: no such
    module, file or function, or a signature that cannot take the arguments (a usage error;
    its ``str`` names what is missing)."""


def parse_target(target: str) -> tuple[str, str, str]:
    """Split ``target`` into ``(kind, where, attr)`` without running any of the user's code.

    ``kind`` is ``"file"`` (``path/to/file.py:function``; the file must exist) or ``"module"``
    (``package.module:function``).

    Raises
    ------
    ImplementationUnusable
        A target that is not ``module:function`` / ``file.py:function``, or a missing file.
    """
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise ImplementationUnusable(f"{target!r}: expected module:function or path/to/file.py:function")
    where, attr = target.split(":")
    if where.endswith(".py") or os.sep in where or "/" in where:
        if not Path(where).is_file():
            raise ImplementationUnusable(f"{target!r}: no such file {where!r}")
        return "file", str(Path(where).resolve()), attr
    return "module", where, attr


def _describe_exit(returncode: int | None) -> str:
    """``exit status 3`` / ``signal SIGSEGV (segmentation fault)``."""
    if returncode is None:
        return "an unknown status"
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            what = {signal.SIGSEGV: " (segmentation fault)", signal.SIGKILL: " (killed: out of memory?)",
                    signal.SIGABRT: " (aborted)", signal.SIGXFSZ: f" (wrote a file past {MAX_FILE_MB} MiB)",
                    signal.SIGBUS: " (bus error)", signal.SIGFPE: " (floating-point exception)"}.get(sig, "")
            return f"signal {sig.name}{what}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters cut]"


# --------------------------------------------------------------------------------------------
# The channel: [8-byte length][4-byte header length][JSON header][raw array bytes]...
# --------------------------------------------------------------------------------------------


def _pack(header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> bytes:
    """One message: ``header`` plus ``arrays`` as raw C-order bytes, each described in the
    header by ``[dtype.str, shape, nbytes]``."""
    arrays = [np.ascontiguousarray(a) if np.ndim(a) else np.asarray(a) for a in arrays]
    described = [[a.dtype.str, list(a.shape), a.nbytes] for a in arrays]
    head = json.dumps({**header, "arrays": described}).encode()
    body = struct.pack(">I", len(head)) + head + b"".join(a.tobytes() for a in arrays)
    return struct.pack(">Q", len(body)) + body


def _unpack(body: bytes) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Header and arrays of a message; ValueError for anything malformed (nothing is ever
    unpickled, and nothing is allocated beyond the message's own bytes)."""
    if len(body) < 4:
        raise ValueError("a message shorter than its header")
    (n,) = struct.unpack(">I", body[:4])
    if n > _HEADER_MAX or 4 + n > len(body):
        raise ValueError(f"a header of {n} bytes")
    try:
        header = json.loads(body[4:4 + n])
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"a header that is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise ValueError("a header that is not a JSON object with a list of arrays")
    arrays, at = [], 4 + n
    for described in header.get("arrays", []):
        a = _array(described, body, at)
        arrays.append(a)
        at += a.nbytes
    if at != len(body):
        raise ValueError("array sizes that do not add up to the message")
    return header, arrays


def _array(described: Any, body: bytes, at: int) -> np.ndarray:
    """The array ``[dtype.str, shape, nbytes]`` at offset ``at`` of ``body``: a plain numeric or
    text dtype, at most 8 dimensions, exactly ``nbytes`` bytes, all inside the message."""
    if not (isinstance(described, list) and len(described) == 3 and isinstance(described[0], str)
            and len(described[0]) <= 8 and isinstance(described[1], list) and len(described[1]) <= 8
            and all(type(d) is int and d >= 0 for d in described[1]) and type(described[2]) is int):
        raise ValueError("an array description that is not [dtype, shape, nbytes]")
    try:
        dtype = np.dtype(described[0])
    except Exception:
        raise ValueError(f"an array of unknown dtype {described[0][:8]!r}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biufcSU":
        raise ValueError(f"an array of dtype {dtype.str}")
    shape, nbytes = tuple(described[1]), described[2]
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize != nbytes or at + nbytes > len(body):
        raise ValueError(f"an array declaring shape {shape} of {dtype} for {nbytes} bytes")
    return np.frombuffer(body, dtype=dtype, count=count, offset=at).reshape(shape).copy()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --------------------------------------------------------------------------------------------
# The parent's side
# --------------------------------------------------------------------------------------------


class _Ended(Exception):
    """The worker ended, hung or sent garbage; ``str`` says which (the case's verdict), ``kind``
    is :attr:`Outcome.ended`."""

    def __init__(self, message: str, kind: str = "garbage") -> None:
        super().__init__(message)
        self.kind = kind


class Isolated:
    """The user's function ``target`` (``package.module:function`` or ``path/file.py:function``),
    run in a worker process; a context manager.

    Parameters
    ----------
    target : str
        What to import in the worker.
    signature : ``"params"`` (``fn(params, x, y)``) or ``"arrays"`` (``fn(W1, b1, W2, b2, x, y)``).
    timeout : float
        Seconds per call (default :data:`DEFAULT_TIMEOUT`); past it the worker and its process
        group are killed and the call fails.
    memory : int
        The worker's address-space limit in MiB (default :data:`DEFAULT_MEMORY_MB`); None: no limit.
    log : path or None
        Where the user's prints and warnings go (appended across restarts); None: a temporary
        file, removed by :meth:`close` (read it before with :meth:`log_head`).
    cwd : path or None
        The worker's working folder (default ours).
    load_timeout : float
        Seconds the import of the submission may take (default :data:`LOAD_TIMEOUT`).

    Use :meth:`start` (raises :class:`ImplementationUnusable` for a target that cannot be
    used), :meth:`run` per case, :meth:`close` (or ``with``).  ``load_error`` holds why the
    submission could not be imported (its code raised or crashed at import); every
    :meth:`run` then fails with it.
    """

    def __init__(self, target: str, signature: str = "params", *, timeout: float = DEFAULT_TIMEOUT,
                 memory: int | None = DEFAULT_MEMORY_MB, log: str | os.PathLike | None = None,
                 cwd: str | os.PathLike | None = None, load_timeout: float = LOAD_TIMEOUT) -> None:
        from .adapter import SIGNATURES

        if signature not in SIGNATURES:
            raise ValueError(f"signature must be one of {', '.join(SIGNATURES)}, got {signature!r}")
        if not (isinstance(timeout, (int, float)) and 0 < timeout <= 24 * 3600):
            raise ValueError(f"timeout must be a number of seconds in (0, 86400], got {timeout!r}")
        if memory is not None and not (isinstance(memory, int) and 64 <= memory <= 1 << 30):
            raise ValueError(f"memory must be None or a number of MiB >= 64, got {memory!r}")
        if not (isinstance(load_timeout, (int, float)) and 0 < load_timeout <= 24 * 3600):
            raise ValueError(f"load_timeout must be a number of seconds in (0, 86400], got {load_timeout!r}")
        self.kind, self.where, self.attr = parse_target(target)
        self.target, self.signature, self.timeout, self.memory = target, signature, float(timeout), memory
        self.load_timeout = float(load_timeout)
        self.cwd = str(Path(cwd or os.getcwd()).resolve())
        self._own_log = log is None
        if log is None:
            fd, name = tempfile.mkstemp(prefix="scratch-worker-", suffix=".log")
            os.close(fd)
            log = name
        self.log_path = Path(log).resolve()
        self.log_path.write_bytes(b"")
        self.load_error: str | None = None
        #: One ``(kind, message)`` per time the worker ended during a call (see :attr:`Outcome.ended`).
        self.crashes: list[tuple[str, str]] = []
        self.calls = 0
        #: The :class:`Outcome` of the last :meth:`run`.
        self.last: Outcome | None = None
        self._queue: collections.deque = collections.deque()  # calls announced by expect(), not yet run
        self._sent_ahead = False  # a feeder thread sent every queued call to the current worker
        self._proc: subprocess.Popen | None = None
        self._to_worker = self._from_worker = -1
        self._lifeline = -1  # the write end of the worker's lifeline: never written, closed when we die

    # -- lifetime -------------------------------------------------------------------------

    def __enter__(self) -> "Isolated":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Start a worker and import the submission in it (also after a crash, by :meth:`run`).

        Raises
        ------
        ImplementationUnusable
            No such module / function, not callable, or a signature that cannot be called.
        """
        if self._proc is not None or self.load_error is not None:
            return
        p2w_r, p2w_w = os.pipe()
        w2p_r, w2p_w = os.pipe()
        life_r, life_w = os.pipe()  # EOF on life_r: we are gone (even by SIGKILL), the worker ends its group
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(k, "1")  # one BLAS thread per worker: parallel workers do not oversubscribe
        try:
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-B", "-c", BOOT, _KIT_ROOT, str(life_r), str(p2w_r), str(w2p_w)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(p2w_r, w2p_w, life_r),
                    cwd=self.cwd, env=env, start_new_session=True)
        except BaseException:
            for fd in (p2w_w, w2p_r, life_w):
                os.close(fd)
            raise
        finally:
            os.close(p2w_r)
            os.close(w2p_w)
            os.close(life_r)
        self._to_worker, self._from_worker, self._lifeline = p2w_w, w2p_r, life_w
        user_path = [str(Path(self.where).parent)] if self.kind == "file" else [self.cwd]
        message = {"op": "load", "kind": self.kind, "where": self.where, "attr": self.attr,
                   "signature": self.signature, "path": user_path + [p for p in sys.path if p],
                   "memory": self.memory, "fsize": MAX_FILE_MB}
        try:
            header, _ = self._ask(_pack(message), self.load_timeout, 1 << 16, during="the import")
        except _Ended as exc:
            self.load_error = f"{exc} (while importing {self.target})"
            self._kill()
            return
        if header.get("unusable"):
            self._kill()
            raise ImplementationUnusable(_cut(str(header["unusable"])))
        if header.get("error"):
            self.load_error = f"importing {self.target} {_cut(str(header['error']))}"
            self._kill()

    def close(self) -> None:
        """Stop the worker (and its process group); remove the log when it was a temporary file."""
        self._kill()
        if self._own_log:
            try:
                self.log_path.unlink()
            except OSError:
                pass

    def _kill(self) -> None:
        for fd in (self._to_worker, self._from_worker, self._lifeline):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_worker = self._from_worker = self._lifeline = -1
        self._sent_ahead = False
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and whatever it started in its group
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass

    # -- one call -------------------------------------------------------------------------

    def expect(self, calls: Sequence[tuple[Sequence[np.ndarray], np.ndarray, np.ndarray]]) -> None:
        """Announce the calls :meth:`run` will be asked for next, in order, as ``(params, x, y)``
        with the very array objects it will be given.  A feeder thread sends them ahead, so the
        worker computes the next case while the parent compares this one (no round trip per
        call).  A :meth:`run` on inputs that were not announced drops the announced calls before
        it (the worker is restarted when they were already sent).  Each call's time-out counts
        from when :meth:`run` starts waiting for it, so a call never gets less than ``timeout``."""
        if self._queue and self._sent_ahead:
            self._kill()
        self._queue = collections.deque(calls)
        self._sent_ahead = False  # a new sweep: its calls are fed afresh (a second sweep on one worker)

    def _feed(self) -> None:
        """Send every queued call to the current worker from a daemon thread (its own copy of the
        pipe's end: a later worker's pipe is never written by an old feeder)."""
        fd = os.dup(self._to_worker)
        # packed here, so that the thread only writes (and holds no GIL while the pipe is full)
        messages = [_pack({"op": "call"}, (*(np.asarray(a) for a in params), np.asarray(x), np.asarray(y)))
                    for params, x, y in self._queue]

        def feeder() -> None:
            try:
                for message in messages:
                    _write_all(fd, message)
            except OSError:  # the worker ended: run() reports it, and a new worker gets a new feeder
                pass
            finally:
                os.close(fd)

        threading.Thread(target=feeder, name="scratch-worker-feeder", daemon=True).start()
        self._sent_ahead = True

    def _announced(self, params: Sequence[np.ndarray], x: np.ndarray) -> bool:
        """Whether this call was announced by :meth:`expect` (and is now sent or being sent)."""
        at = next((i for i, (p, xx, _) in enumerate(self._queue) if xx is x and p is params), None)
        if at is None or at > 0:
            if self._sent_ahead and self._queue:
                self._kill()  # calls were sent that will not be asked for: their replies would come first
                self.start()
                if self.load_error is not None:  # the restart's import failed: no worker to feed
                    self._queue.clear()
                    return False
            if at is None:
                self._queue.clear()
                return False
            for _ in range(at):
                self._queue.popleft()
        if not self._sent_ahead:
            self._feed()
        self._queue.popleft()
        return True

    def run(self, params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
            max_bytes: int | None = None) -> Outcome:
        """See :meth:`_run_once`; the outcome is also kept in :attr:`last`."""
        self.last = self._run_once(params, x, y, max_bytes)
        return self.last

    def _run_once(self, params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                  max_bytes: int | None = None) -> Outcome:
        """Call the user's function on ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)),
        ``x`` (N, D), ``y`` (N,) or (N, C), in the worker.

        ``max_bytes`` caps the reply (default: 16 times the bytes of every quantity at the
        case's shapes in complex128, plus 1 MiB); a longer reply is not read.

        Returns
        -------
        Outcome
            A failing one (``outputs`` None, ``error`` set) for anything but a result.
        """
        if len(self.crashes) >= MAX_CRASHES:
            return Outcome(None, f"not run: the worker ended {len(self.crashes)} times on earlier cases "
                                 f"(last: {self.crashes[-1][1]})", ended="not run")
        self.start()
        if self.load_error is not None:
            return Outcome(None, self.load_error, ended="import")
        announced = self._announced(params, x)
        if self.load_error is not None:  # the restart above found an import that fails
            return Outcome(None, self.load_error, ended="import")
        W1, b1, W2, b2 = (np.asarray(a) for a in params)
        x, y = np.asarray(x), np.asarray(y)
        if max_bytes is None:
            (N, D), H, C = x.shape, b1.shape[0], b2.shape[0]
            max_bytes = 16 * 16 * (1 + N * C + H * C + C + N * H + D * H + H) + (1 << 20)
        self.calls += 1
        try:
            message = None if announced else _pack({"op": "call"}, (W1, b1, W2, b2, x, y))
            header, arrays = self._ask(message, self.timeout, max_bytes, during="the call")
            return self._outcome(header, arrays)
        except _Ended as exc:
            self.crashes.append((exc.kind, str(exc)))
            self._kill()
            return Outcome(None, str(exc), ended=exc.kind)

    def _outcome(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Outcome:
        problems = header.get("problems", [])
        if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
            raise _Ended("the worker sent something that is not a result (problems that are not text)")
        problems = [_cut(p, 300) for p in problems[:10]]
        if "error" in header:
            return Outcome(None, _cut(str(header["error"])), problems)
        names = header.get("names")
        if not isinstance(names, list) or len(names) != len(arrays) or len(set(map(str, names))) != len(names) \
                or not set(map(str, names)) <= set(NAMES) or not {"loss", "dW1", "db1", "dW2", "db2"} <= set(names):
            raise _Ended("the worker sent something that is not a result (unknown or missing quantity names)")
        from .adapter import NOTES, Outputs

        notes = header.get("notes", [])
        # the worker is untrusted: only the adapter's own notes are taken, by value
        notes = tuple(n for n in NOTES if isinstance(notes, list) and n in notes)
        outputs: dict[str, np.ndarray | None] = Outputs({q: None for q in NAMES}, notes=notes)
        outputs.update(zip(names, arrays))
        return Outcome(outputs, None, problems)

    def _ask(self, message: bytes | None, timeout: float, max_bytes: int, *, during: str) -> tuple[dict, list]:
        """Send ``message`` (None: the feeder sent it), wait at most ``timeout`` s for the reply;
        :class:`_Ended` otherwise."""
        deadline = time.monotonic() + timeout
        if message is not None:
            try:
                _write_all(self._to_worker, message)
            except (BrokenPipeError, OSError):
                raise self._ended(during) from None
        head = self._read(8, deadline, during)
        (n,) = struct.unpack(">Q", head)
        if n > max_bytes:
            allows = "an import's reply needs" if during == "the import" else "the case's shapes allow"
            raise _Ended(f"the worker sent something that is not a result (a reply of {n} bytes, more than "
                         f"the {max_bytes} {allows})")
        try:
            return _unpack(self._read(n, deadline, during))
        except ValueError as exc:
            raise _Ended(f"the worker sent something that is not a result ({exc})") from None

    def _read(self, n: int, deadline: float, during: str) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_worker], [], [], left)[0]:
                if during == "the import":  # the import has its own limit: --timeout is per call
                    limit, why = self.load_timeout, ("code at a module's top level runs at import: a "
                                                     "training loop belongs under if __name__ == '__main__'")
                else:
                    limit, why = self.timeout, "--timeout sets the limit"
                raise _Ended(f"timed out after {limit:g} s during {during} (the worker and its "
                             f"children were killed; {why})", "timeout")
            chunk = os.read(self._from_worker, min(n - got, 1 << 20))
            if not chunk:
                raise self._ended(during)
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _ended(self, during: str) -> _Ended:
        """The worker closed the channel: wait briefly for its status and name it."""
        proc = self._proc
        status = None
        if proc is not None:
            try:
                status = proc.wait(timeout=EXIT_WAIT)
            except subprocess.TimeoutExpired:
                status = None
        if status is None:  # it closed (or lost) its end of the channel and did not exit
            return _Ended(f"the worker process closed its channel during {during} and still ran "
                          f"{EXIT_WAIT:g} s later (it was killed): no result", "exit")
        how = _describe_exit(status)
        hint = ""
        if status == 0:
            hint = " (os._exit, or an exit the kit could not catch)"
        elif status == -signal.SIGKILL and self.memory:
            hint = f" (the address-space limit is {self.memory} MiB; --memory sets it)"
        kind = "signal" if status < 0 else "exit"
        return _Ended(f"the worker process ended during {during} with {how}{hint}: no result", kind)

    # -- the log --------------------------------------------------------------------------

    def log_head(self, lines: int = 10, width: int = 200) -> list[str]:
        """The first ``lines`` lines the user's code printed (each cut to ``width`` characters)."""
        try:
            with open(self.log_path, "rb") as f:
                head = f.read(lines * (width + 1) * 4)
        except OSError:
            return []
        text = head.decode("utf-8", "replace").splitlines()[:lines]
        return [_cut(t, width) for t in text]


# --------------------------------------------------------------------------------------------
# The worker's side (runs in the fresh interpreter)
# --------------------------------------------------------------------------------------------


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException as inner:  # an exception whose __str__ raises
        text = f"<str() of the exception raised {type(inner).__name__}>"
    return _cut(text)


def _where(exc: BaseException, user_files: tuple[str, ...]) -> str:
    """`` (at file.py:12)``: the innermost frame of the traceback in the user's own code."""
    import traceback

    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except BaseException:
        return ""
    kit = (_KIT_ROOT + os.sep + "scratch" + os.sep, os.path.dirname(np.__file__), os.path.dirname(os.__file__))
    mine = [f for f in frames if not f.filename.startswith(kit) and not f.filename.startswith("<")]
    if user_files:
        mine = [f for f in mine if f.filename in user_files] or mine
    return f" (at {mine[-1].filename}:{mine[-1].lineno})" if mine else ""


def _raised(exc: BaseException, user_files: tuple[str, ...]) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}){_where(exc, user_files)}: no result"
    if isinstance(exc, KeyboardInterrupt):
        return f"raised KeyboardInterrupt{_where(exc, user_files)}: no result"
    return f"raised {type(exc).__name__}: {_safe_str(exc)}{_where(exc, user_files)}"


def _load(msg: dict[str, Any]) -> tuple[Any, tuple[str, ...], dict[str, Any]]:
    """Import the submission: ``(fn, user_files, reply)``; reply says unusable/error when it failed."""
    import importlib
    import importlib.util

    where, attr = msg["where"], msg["attr"]
    target = f"{where}:{attr}"
    try:
        if msg["kind"] == "file":
            name = f"_scratch_user_{Path(where).stem}"
            spec = importlib.util.spec_from_file_location(name, where)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[name] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name and (where == exc.name or where.startswith(exc.name + ".")):
            return None, (), {"unusable": f"{target!r}: cannot import {where!r}: {type(exc).__name__}: {_safe_str(exc)}"}
        return None, (), {"error": _raised(exc, ())}
    except BaseException as exc:  # the submission's own code raised (or exited) at import
        return None, (), {"error": _raised(exc, ())}
    user_files = tuple(f for f in (getattr(module, "__file__", None),) if f)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            return None, (), {"unusable": f"{target!r}: {where!r} has no {attr!r}; its public callables: "
                                          f"{', '.join(public) or '(none)'}"}
        except BaseException as exc:
            return None, (), {"error": _raised(exc, user_files)}
    from .adapter import ImplementationError, check_signature

    try:
        check_signature(obj, msg["signature"])
    except ImplementationError as exc:
        return None, (), {"unusable": f"{target!r}: {exc}"}
    return obj, user_files, {}


def _call(fn: Any, signature: str, arrays: list[np.ndarray], user_files: tuple[str, ...]) -> tuple[dict, list]:
    """One call: the reply header and arrays."""
    from .adapter import ImplementationError, call, read_outputs
    from .network import Params

    W1, b1, W2, b2, x, y = arrays
    before = [a.copy() for a in arrays]
    try:
        with np.errstate(all="ignore"):
            ret = call(fn, signature, Params(W1, b1, W2, b2), x, y)
    except BaseException as exc:
        return {"error": _raised(exc, user_files)}, []
    try:
        problems = [f"modified its input {n} in place" for n, a, b in zip(_INPUTS, before, arrays)
                    if not np.array_equal(a, b)]
    except BaseException:
        problems = []
    try:
        outputs = read_outputs(ret)
    except ImplementationError as exc:
        return {"error": _safe_str(exc), "problems": problems}, []
    except BaseException as exc:
        return {"error": f"returned a value the kit cannot read: {_raised(exc, user_files)}",
                "problems": problems}, []
    names, out = [], []
    for q, a in outputs.items():
        if a is None:
            continue
        if a.dtype.kind not in "biufc":
            return {"error": f"{q} is an array of dtype {a.dtype} ({a.dtype.kind!r}); expected floating-point "
                             "numbers", "problems": problems}, []
        names.append(q)
        out.append(a)
    return {"names": names, "problems": problems, "notes": list(getattr(outputs, "notes", ()))}, out


def _die_with_parent(lifeline: int) -> None:  # pragma: no cover - runs in the worker process
    """The worker's watchdog thread: block on the lifeline until its only writer, the parent,
    is gone, then SIGKILL the worker's whole process group (the worker and what it started).

    The parent is ``check`` (or any program of ours), which kills its worker itself on every
    way it ends but one: a SIGKILL of its own (``grade``'s limit after the grace period, the
    OOM killer, a supervisor).  The worker lives in a process group of its own, out of reach of
    a kill of the parent's group, and its main thread may be deep in the user's code
    (``time.sleep(600)``): without this thread it and its children would run on, orphaned.
    Nobody writes to the lifeline; the kernel closes its write end when the parent dies.
    """
    try:
        os.read(lifeline, 1)  # b"" at EOF; an error (the user closed the fd) ends the worker too
    finally:
        os.killpg(0, signal.SIGKILL)


def _serve(argv: Sequence[str]) -> None:  # pragma: no cover - runs in the worker process
    """The worker's loop: read a message, answer it; end with ``os._exit`` (no atexit, no
    non-daemon thread can keep it alive) when the parent closes the channel."""
    import importlib.util  # noqa: F401  (everything the worker uses, imported before the user's folder
    import resource  # comes first on sys.path: a submission's traceback.py or numpy.py shadows none of it)
    import traceback  # noqa: F401

    import scratch.adapter  # noqa: F401
    import scratch.network  # noqa: F401

    lifeline, rfd, wfd = (int(a) for a in argv)
    threading.Thread(target=_die_with_parent, args=(lifeline,), daemon=True).start()
    for stream in (sys.stdout, sys.stderr):  # the log gets every line as it is printed
        stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    fn, user_files, signature = None, (), "params"

    def read_exact(n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(rfd, n - got)
            if not chunk:
                os._exit(0)
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    while True:
        (n,) = struct.unpack(">Q", read_exact(8))
        header, arrays = _unpack(read_exact(n))
        if header.get("op") == "load":
            for which, mib in ((resource.RLIMIT_AS, header.get("memory")), (resource.RLIMIT_FSIZE, header.get("fsize"))):
                if mib:
                    hard = resource.getrlimit(which)[1]  # never above a limit set from outside (a container's)
                    limit = int(mib) << 20 if hard == resource.RLIM_INFINITY else min(int(mib) << 20, hard)
                    resource.setrlimit(which, (limit, limit))
            sys.path[:0] = [p for p in header["path"] if p not in sys.path[:1]]
            signature = header["signature"]
            fn, user_files, reply = _load(header)
            _write_all(wfd, _pack(reply))
        else:
            reply, out = _call(fn, signature, arrays, user_files)
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                try:
                    stream.flush()  # type: ignore[union-attr]
                except BaseException:
                    pass
            try:
                data = _pack(reply, out)
            except BaseException as exc:
                data = _pack({"error": f"returned arrays the kit cannot send: {_safe_str(exc)}"})
            _write_all(wfd, data)
