"""Timing one training step (loss and every gradient) of scratch, PyTorch eager and ``jax.jit``.

Each framework runs in its own subprocess (``python -m scratch.lab.bench --worker NAME ...``), so
that one framework's thread pools, allocator state and imported BLAS cannot slow another's.
A worker builds the same problem for every size (``scratch.cases.make_case(0, shape, dtype,
"labels")``), calls the step ``warmup`` times (JAX compiles here), then times ``repeats``
single calls with ``time.perf_counter`` and reports the median and quartiles.

Implementations (one training step = forward + backward, no parameter update):

``workspace``  ``scratch.loss_and_grads(params, x, y, workspace=ws)`` (validated public call;
               ``ws.tanh`` is what ``"auto"`` picked: NumPy's tanh or the polynomial)
``kernel``     ``ws.loss_and_grads(params, x, y, is_labels=True)`` (the same without validation)
``numba``      the public call with ``Workspace(..., tanh="numba")`` (only where numba is installed)
``plain``      ``scratch.loss_and_grads(params, x, y)`` (the fused route, fresh temporaries)
``torch``      eager autograd: ``F.cross_entropy(tanh(x W1 + b1) W2 + b2, y).backward()``
``jax``        ``jax.jit(jax.value_and_grad(loss))`` and ``block_until_ready``
``stream``     a bound, not an implementation (:func:`stream_step`): the two W1-sized GEMMs, the
               finiteness probe of ``x`` and two streaming passes over (N, H) arrays, nothing else

The GEMM-bound floor of a size is its matrix-multiply FLOPs, ``4 N D H + 6 N H C`` (two
products with W1's shape, three with W2's), at the rate NumPy's BLAS reaches on a square
product in the same worker (:func:`blas_rate`).  ``stream`` measures, in the same run, how far
above that floor the memory traffic alone puts any step (``stream/floor``): where it is close
to a goal on the floor, no implementation can meet the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from ..cases import DTYPES, make_case

#: The issue's sizes (N, D, H, C): the seed network, a small batch, a mid-sized and an
#: MNIST-sized network.
SIZES: tuple[tuple[int, int, int, int], ...] = ((1, 2, 500, 2), (200, 2, 500, 2), (1024, 64, 512, 10), (4096, 784, 1024, 10))

#: Implementation -> the worker (subprocess) that measures it.
IMPLEMENTATIONS = {"workspace": "scratch", "kernel": "scratch", "plain": "scratch", "numba": "scratch", "torch": "torch",
                   "jax": "jax", "stream": "scratch"}
#: Measured bounds among :data:`IMPLEMENTATIONS`: less work than a step, so never "the fastest
#: implementation" of a point and never compared with a goal.
BOUNDS = ("stream",)
#: The workers, in order of first appearance.
WORKERS = tuple(dict.fromkeys(IMPLEMENTATIONS.values()))

#: Environment variables that select OpenBLAS's kernel; reported with every run.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def gemm_flops(N: int, D: int, H: int, C: int) -> int:
    """Matrix-multiply FLOPs of one step: x W1 and x^T dz1 (2 N D H each); a1 W2, a1^T dz2 and
    dz2 W2^T (2 N H C each)."""
    return 4 * N * D * H + 6 * N * H * C


def median_time(step: Callable[[], Any], repeats: int, warmup: int) -> dict[str, float]:
    """Call ``step`` ``warmup`` times, then time ``repeats`` calls; seconds per call.

    Returns
    -------
    dict with ``median``, ``q1``, ``q3``, ``min`` (seconds), ``repeats`` and every sample, ``times``.
    """
    for _ in range(warmup):
        step()
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        step()
        times[i] = time.perf_counter() - t0
    return summarize(times)


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles and minimum of step times (seconds), with the samples."""
    t = np.asarray(times, dtype=np.float64)
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(t.min()), "repeats": int(t.size),
            "times": t.tolist()}


#: A point whose 90th-percentile step time exceeds its 10th percentile this many times was
#: measured on a disturbed machine (the command warns).
DISTURBED_SPREAD = 5.0
#: An implementation whose median step is this many times the fastest one's at the same point
#: was slowed uniformly (a thread pool fighting other work: torch at 92 ms for a 0.3 ms step),
#: which the spread cannot see (the command warns).
IMPLAUSIBLE_FACTOR = 20.0


def spread(times: Sequence[float]) -> float:
    """How much the step time varied between repeats: 90th over 10th percentile (1 = steady)."""
    p10, p90 = np.percentile(np.asarray(times, dtype=np.float64), [10, 90])
    return float(p90 / p10) if p10 > 0 else float("inf")


def blas_threads() -> int:
    """The threads of NumPy's BLAS in this process (threadpoolctl), else the usable CPUs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else os.cpu_count() or 1


def blas_rate(dtype: Any, n: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of NumPy's BLAS on an ``n x n x n`` product in ``dtype`` (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    best = min(median_time(lambda: np.matmul(a, b, out=out), 1, 1 if i == 0 else 0)["min"] for i in range(repeats))
    return 2.0 * n**3 / best


def stream_step(x: np.ndarray, W1: np.ndarray) -> Callable[[], np.ndarray]:
    """Less work than any implementation of the step: what one step's memory traffic costs.

    ``x`` (N, D), ``W1`` (D, H).  The step's two large products, ``z = x W1`` and ``x^T d``
    (D, H), at BLAS's rate, the finiteness probe of ``x`` that validation needs
    (:func:`scratch.checks.finite_probe`), and two passes over (N, H) arrays: ``g = z z`` (one
    read and one write, where the forward writes both a1 and tanh') and ``d = z g`` (two reads
    and a write: the least ``dz1 = da1 tanh'`` costs).  No tanh, no softmax, no C-sized product.
    The step returns its (D, H) product, ``x^T (x W1)^3``.
    """
    from ..checks import finite_probe

    N, H = x.shape[0], W1.shape[1]
    z, g, d = (np.zeros((N, H), W1.dtype) for _ in range(3))
    dW1 = np.zeros_like(W1)

    def step() -> np.ndarray:
        finite_probe(x)
        np.matmul(x, W1, out=z)  # (1) x W1
        np.multiply(z, z, out=g)  # a stand-in for (2): read z once, write one (N, H) array
        np.multiply(z, g, out=d)  # a stand-in for (2'): read two (N, H) arrays, write one
        return np.matmul(x.T, d, out=dW1)  # (1') x^T dz1

    return step


def _scratch_steps(shape: tuple[int, int, int, int], dtype: np.dtype) -> dict[str, Callable[[], Any]]:
    import scratch

    c = make_case(0, shape, dtype, "labels")
    ws = scratch.Workspace(*shape, dtype=dtype)
    steps = {
        "workspace": lambda: scratch.loss_and_grads(c.params, c.x, c.y, workspace=ws),
        "kernel": lambda: ws.loss_and_grads(c.params, c.x, c.y, is_labels=True),
        "plain": lambda: scratch.loss_and_grads(c.params, c.x, c.y),
        "stream": stream_step(c.x, c.params.W1),
    }
    try:
        ws_numba = scratch.Workspace(*shape, dtype=dtype, tanh="numba")
    except ImportError:  # numba missing (or unimportable): the row stays empty
        return steps
    steps["numba"] = lambda: scratch.loss_and_grads(c.params, c.x, c.y, workspace=ws_numba)
    return steps


def _torch_steps(shape: tuple[int, int, int, int], dtype: np.dtype) -> dict[str, Callable[[], Any]]:
    from oracles import require

    torch = require("torch", "torch")
    torch.set_num_threads(blas_threads())  # pinned: the same thread budget as NumPy's BLAS, not torch's own guess
    F = torch.nn.functional
    c = make_case(0, shape, dtype, "labels")
    leaves = [torch.tensor(np.array(p), requires_grad=True) for p in c.params]
    x, y = torch.tensor(c.x), torch.tensor(c.y.astype(np.int64))

    def step() -> Any:
        W1, b1, W2, b2 = leaves
        for p in leaves:
            p.grad = None
        L = F.cross_entropy(torch.tanh(x @ W1 + b1) @ W2 + b2, y)  # (1)-(7)
        L.backward()
        return L

    return {"torch": step}


def _jax_steps(shape: tuple[int, int, int, int], dtype: np.dtype) -> dict[str, Callable[[], Any]]:
    from oracles import require

    jax = require("jax", "jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def loss(params: Any, x: Any, y: Any) -> Any:
        W1, b1, W2, b2 = params
        l = jax.nn.log_softmax(jnp.tanh(x @ W1 + b1) @ W2 + b2, axis=1)  # (1)-(5)
        return -jnp.mean(jnp.take_along_axis(l, y[:, None], axis=1))  # (6)-(7)

    c = make_case(0, shape, dtype, "labels")
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    params = tuple(jnp.asarray(p) for p in c.params)
    x, y = jnp.asarray(c.x), jnp.asarray(c.y)
    return {"jax": lambda: jax.block_until_ready(value_and_grad(params, x, y))}


STEP_BUILDERS = {"scratch": _scratch_steps, "torch": _torch_steps, "jax": _jax_steps}


def environment(worker: str) -> dict[str, Any]:
    """Thread pools (threadpoolctl) and BLAS-selecting environment variables of this process."""
    info: dict[str, Any] = {"env": {k: os.environ.get(k) for k in BLAS_ENV}, "threadpools": []}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed (pip install 'scratch-backprop[cli]')"
    else:
        keys = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads", "threading_layer")
        info["threadpools"] = [{k: p.get(k) for k in keys if p.get(k) is not None} for p in threadpool_info()]
    if worker == "torch":
        import torch

        info["framework"] = (f"torch {torch.__version__}: BLAS {'MKL' if torch.backends.mkl.is_available() else 'other'}"
                             f" (inside libtorch), CPU capability {torch.backends.cpu.get_cpu_capability()}, "
                             f"intra-op threads {torch.get_num_threads()} (pinned to NumPy's BLAS threads)")
    elif worker == "jax":
        import jax
        import jaxlib

        info["framework"] = f"jax {jax.__version__} (jaxlib {jaxlib.__version__}): XLA:CPU, its own GEMM (Eigen/oneDNN)"
    else:
        from ..fast_tanh import default_method
        from ..workspace import POLY_MIN_ELEMENTS

        picked = {d: default_method(d) for d in ("float64", "float32")}
        info["framework"] = (f"numpy {np.__version__}; Workspace(tanh='auto') picks {picked['float64']!r} (float64), "
                             f"{picked['float32']!r} (float32) at N H >= {POLY_MIN_ELEMENTS}, 'numpy' below")
    return info


def run_worker(worker: str, sizes: Sequence[tuple[int, int, int, int]], dtypes: Sequence[str], repeats: int, warmup: int,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every implementation of ``worker`` at every size and dtype (in this process);
    ``progress(label)`` is called after each size and dtype.

    Returns
    -------
    dict with ``results`` (one dict per implementation, size and dtype: ``impl``, ``shape``,
    ``dtype``, ``median`` ... in seconds), ``blas_rate`` (FLOP/s per dtype, scratch worker
    only) and ``environment``.
    """
    if worker not in STEP_BUILDERS:
        raise ValueError(f"worker must be one of {WORKERS}, got {worker!r}")
    results = []
    for dtype_name in dtypes:
        for shape in sizes:
            for impl, step in STEP_BUILDERS[worker](tuple(shape), DTYPES[dtype_name]).items():
                t = median_time(step, repeats, warmup)
                results.append({"impl": impl, "shape": list(shape), "dtype": dtype_name, **t})
            if progress is not None:
                progress(f"{worker} {dtype_name} {'x'.join(map(str, shape))}")
    rates = {d: blas_rate(DTYPES[d]) for d in dtypes} if worker == "scratch" else {}
    return {"worker": worker, "results": results, "blas_rate": rates, "environment": environment(worker)}


class WorkerFailed(RuntimeError):
    """A worker subprocess failed; ``missing`` is set when its framework is not installed."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing


#: The line a worker writes on stderr after each size and dtype (read by :func:`spawn_worker`).
PROGRESS_MARK = "scratch-bench-progress: "


def spawn_worker(worker: str, sizes: Sequence[tuple[int, int, int, int]], dtypes: Sequence[str], repeats: int, warmup: int,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run :func:`run_worker` in a fresh ``python -m scratch.lab.bench`` subprocess (same
    environment); ``progress(label)`` is called as the worker finishes each size and dtype."""
    import threading

    cmd = [sys.executable, "-m", "scratch.lab.bench", "--worker", worker, "--repeats", str(repeats), "--warmup", str(warmup),
           "--dtypes", *dtypes, "--sizes", *(",".join(map(str, s)) for s in sizes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []

    def read_stderr() -> None:  # a thread: stdout (the JSON) and stderr are drained at the same time
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(PROGRESS_MARK):
                if progress is not None:
                    progress(line[len(PROGRESS_MARK):].strip())
            else:
                errors.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait()
    reader.join()
    stderr = "".join(errors)
    if proc.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise WorkerFailed(f"{worker} worker failed: {last[0]}", missing="MissingFramework" in stderr)
    return json.loads(stdout.strip().splitlines()[-1])


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scratch.lab.bench", description="one benchmark worker; prints JSON")
    p.add_argument("--worker", choices=WORKERS, required=True)
    p.add_argument("--sizes", nargs="+", required=True, help="N,D,H,C ...")
    p.add_argument("--dtypes", nargs="+", choices=list(DTYPES), required=True)
    p.add_argument("--repeats", type=int, required=True)
    p.add_argument("--warmup", type=int, required=True)
    a = p.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split(",")) for s in a.sizes]
    def tell(label: str) -> None:
        print(PROGRESS_MARK + label, file=sys.stderr, flush=True)

    print(json.dumps(run_worker(a.worker, sizes, a.dtypes, a.repeats, a.warmup, progress=tell)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
