r"""``python -m scratch curvature``: the spectrum of the Hessian H and of the Gauss-Newton
matrix G, by Lanczos on the hand-derived products :func:`scratch.hvp` / :func:`scratch.gnvp`.

SciPy's ``eigsh`` (implicitly restarted Lanczos, ARPACK) sees each matrix only through a
``LinearOperator`` whose ``matvec`` is one product: no P x P matrix is formed.  First the
Lanczos eigenvalues are checked against the dense spectrum (``numpy.linalg.eigvalsh`` of the
matrix assembled from P products) on a small shape; then the top eigenvalues of H and G (and
the most negative of H) on the chosen network (default: the seed network (1, 2, 500, 2)) and on
a moons network trained by ``scratch.lab.train`` (SGD, the ``train`` command's defaults).  Also the
cost of one H v against one gradient.  Exit 0 ok, 1 Lanczos disagrees with the dense spectrum,
2 bad usage (or SciPy / matplotlib missing, named).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np

from ...argtypes import parse_shape, seed
from ...cases import SHAPES, SPECIAL_SHAPES, TARGETS, make_case
from ...curvature import dense, flatten, gnvp, hvp, random_direction, unflatten
from ..curvature_pitfalls import ORACLES
from ...network import Params, loss_and_grads
from ..plots import new_figure, require_matplotlib
from ..report import print_table, write_json
from ...tolerances import LANCZOS_RTOL
from ..errors import UsageError
from ..extras import load_installed
from ._options import add_json_option, add_oracles_option, add_plot_option, positive_int_upto

#: The trained network: the ``train`` command's defaults (moons, H = 16, 200 full-batch SGD steps).
MOONS = {"hidden": 16, "steps": 200, "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-3}


def require_scipy() -> None:
    """Import scipy.sparse.linalg or raise :class:`UsageError` naming the ``curvature`` extra."""
    try:
        import scipy.sparse.linalg  # noqa: F401
    except ImportError as exc:
        raise UsageError("the curvature command needs SciPy (Lanczos: scipy.sparse.linalg.eigsh), which is not "
                         "installed: pip install 'scratch-backprop[curvature]'") from exc


def operator(product: Callable[..., Params], params: Params, x: np.ndarray, y: np.ndarray) -> Any:
    """``product`` (hvp or gnvp) at ``(params, x, y)`` as a symmetric (P, P) scipy ``LinearOperator``."""
    from scipy.sparse.linalg import LinearOperator

    P = sum(p.size for p in params)
    return LinearOperator((P, P), matvec=lambda u: flatten(product(params, x, y, unflatten(np.ravel(u), params))),
                          dtype=params.W1.dtype)


def lanczos(product: Callable[..., Params], params: Params, x: np.ndarray, y: np.ndarray, k: int,
            which: str = "LA") -> np.ndarray:
    """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) eigenvalues of ``product``'s
    matrix by ``scipy.sparse.linalg.eigsh`` to machine precision, in descending (LA) or
    ascending (SA) order; ``k`` is capped at P - 1.  Deterministic (fixed start vector)."""
    from scipy.sparse.linalg import eigsh

    P = sum(p.size for p in params)
    k = min(k, P - 1)
    if params.W2.shape[1] == 1:
        # C = 1: softmax of one logit is 1, the loss is constant and H = G = 0 exactly
        # (test_one_class_has_no_curvature); ARPACK refuses a zero operator ("starting vector is zero").
        return np.zeros(k, dtype=params.W1.dtype)
    v0 = np.random.default_rng(0).standard_normal(P)
    lam = eigsh(operator(product, params, x, y), k=k, which=which, tol=0, v0=v0, return_eigenvectors=False)
    return np.sort(lam)[::-1] if which == "LA" else np.sort(lam)


def dense_check(shape: tuple[int, int, int, int], k: int, seed_: int, target: str) -> dict[str, Any]:
    """Lanczos against the dense spectrum on ``shape`` (float64): top ``k`` of H and G, bottom
    ``k`` of H, relative to the largest |eigenvalue|; ``passed`` at :data:`LANCZOS_RTOL`."""
    c = make_case(seed_, shape, np.float64, target)
    out: dict[str, Any] = {"shape": list(shape), "P": sum(p.size for p in c.params), "tolerance": LANCZOS_RTOL}
    worst = 0.0
    for name, product in (("H", hvp), ("G", gnvp)):
        full = np.linalg.eigvalsh(dense(product, *c[:3]))  # ascending
        scale = float(np.max(np.abs(full))) or 1.0  # C = 1: both spectra are exactly 0
        top = lanczos(product, *c[:3], k)
        errs = [float(np.max(np.abs(top - full[::-1][: len(top)]))) / scale]
        if name == "H":
            bottom = lanczos(product, *c[:3], k, which="SA")
            errs.append(float(np.max(np.abs(bottom - full[: len(bottom)]))) / scale)
        out[name] = {"dense": full, "lanczos_top": top, "error": max(errs)}
        worst = max(worst, max(errs))
    out["error"], out["passed"] = worst, worst <= LANCZOS_RTOL
    return out


def spectrum(label: str, params: Params, x: np.ndarray, y: np.ndarray, k: int, dense_limit: int = 400) -> dict[str, Any]:
    """Top ``k`` eigenvalues of H and G, the ``k`` most negative of H, by Lanczos; the full dense
    spectra when P <= ``dense_limit``; the loss, the gradient norm and the cost of one H v
    against one gradient (median wall time of repeated calls)."""
    P = sum(p.size for p in params)
    L, g = loss_and_grads(params, x, y)
    # + 0.0 turns -0.0 (C = 1: the mean of -log 1) into 0.0, which prints as "0"
    out: dict[str, Any] = {"label": label, "N": x.shape[0], "dims": list(params.dims), "P": P, "loss": float(L) + 0.0,
                           "grad_norm": float(np.linalg.norm(flatten(g.params_grads())))}
    out["H_top"] = lanczos(hvp, params, x, y, k)
    out["H_bottom"] = lanczos(hvp, params, x, y, k, which="SA")
    out["G_top"] = lanczos(gnvp, params, x, y, k)
    if P <= dense_limit:
        out["H_dense"] = np.linalg.eigvalsh(dense(hvp, params, x, y))
        out["G_dense"] = np.linalg.eigvalsh(dense(gnvp, params, x, y))
    out["cost"] = cost(params, x, y)
    return out


def cost(params: Params, x: np.ndarray, y: np.ndarray, repeats: int = 51) -> dict[str, float]:
    """Median seconds of one :func:`scratch.loss_and_grads`, one :func:`scratch.hvp` and one
    :func:`scratch.gnvp` (interleaved, ``repeats`` each), and the ratios to the gradient."""
    v = random_direction(params, 1)
    fns = {"gradient": lambda: loss_and_grads(params, x, y), "hvp": lambda: hvp(params, x, y, v),
           "gnvp": lambda: gnvp(params, x, y, v)}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    med = {k: float(np.median(t)) for k, t in times.items()}
    return {**{f"{k}_s": t for k, t in med.items()}, "hvp_ratio": med["hvp"] / med["gradient"],
            "gnvp_ratio": med["gnvp"] / med["gradient"]}


def trained_moons(seed_: int) -> tuple[Params, np.ndarray, np.ndarray, str]:
    """A moons network trained with :func:`scratch.lab.train.train` (the ``train`` command's defaults)."""
    from ..data import make_dataset
    from ...network import init_params
    from ..train import SGDConfig, accuracy, train

    data = make_dataset("moons", seed=seed_)
    params = init_params(2, MOONS["hidden"], 2, rng=np.random.default_rng([seed_, 1]))
    config = SGDConfig(lr=MOONS["lr"], steps=MOONS["steps"], momentum=MOONS["momentum"],
                       weight_decay=MOONS["weight_decay"], seed=seed_)
    p = train(params, data.x, data.y, config).params
    acc = accuracy(p, data.x, data.y)
    return p, data.x, data.y, (f"moons trained (N={data.x.shape[0]}, H={MOONS['hidden']}, {MOONS['steps']} SGD steps, "
                               f"accuracy {acc:.1%})")


#: Upper bound of ``--k`` (exit 2 above it, before any work).
MAX_K = 100


def plot(path: Any, results: list[dict[str, Any]]) -> None:
    """One panel per network: eigenvalues of H and G (symlog scale), the dense spectra where
    computed, the Lanczos ones marked."""
    fig = new_figure((5.2 * len(results), 4.4))
    for ax, r in zip(np.atleast_1d(fig.subplots(1, len(results))), results):
        if "H_dense" in r:
            ax.plot(np.arange(r["P"]), np.sort(r["H_dense"])[::-1], ".", ms=4, color="C0", label="H, dense")
            ax.plot(np.arange(r["P"]), np.sort(r["G_dense"])[::-1], ".", ms=4, color="C1", label="G, dense")
        k = len(r["H_top"])
        ax.plot(np.arange(k), r["H_top"], "o", mfc="none", ms=8, color="C0", label="H, Lanczos (top)")
        ax.plot(np.arange(r["P"] - len(r["H_bottom"]), r["P"])[::-1], r["H_bottom"], "s", mfc="none", ms=8,
                color="C0", label="H, Lanczos (bottom)")
        ax.plot(np.arange(len(r["G_top"])), r["G_top"], "^", mfc="none", ms=8, color="C1", label="G, Lanczos (top)")
        small = max(1e-12, 1e-6 * float(np.max(np.abs(r["H_top"]))))
        ax.set_yscale("symlog", linthresh=small)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="eigenvalue index (descending)", ylabel="eigenvalue",
               title=f"{r['label']}\nP = {r['P']}, loss {r['loss']:.3g}, |grad| {r['grad_norm']:.2g}")
        ax.title.set_fontsize(9)
        ax.legend(fontsize="small")
    fig.suptitle("Spectra of the Hessian H and the Gauss-Newton matrix G (Lanczos on hvp / gnvp)")
    fig.savefig(path, dpi=110)


def register(sub: Any) -> None:
    """Add the ``curvature`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "curvature",
        help="top eigenvalues of the Hessian and the Gauss-Newton matrix, by Lanczos on hvp / gnvp",
        description="Lanczos (scipy eigsh) on the hand-derived Hessian- and Gauss-Newton-vector products: checked "
        "against the dense spectrum on a small shape, then the top eigenvalues of H and G on a network (default "
        "the seed network 1,2,500,2) and on a trained moons network; and the cost of one H v against one gradient.",
    )
    p.add_argument("--shape", type=parse_shape, default=("seed", SHAPES["seed"]), metavar="SHAPE",
                   help=f"a name ({', '.join(SHAPES)}) or N,D,H,C; default: seed (1,2,500,2)")
    p.add_argument("--seed", type=seed, default=0, help="case and training seed (default 0)")
    p.add_argument("--target", choices=TARGETS, default="labels", help="target kind (default labels)")
    p.add_argument("--k", type=positive_int_upto(MAX_K), default=5, help=f"eigenvalues at each end, at most {MAX_K} (default 5)")
    p.add_argument("--check-shape", type=parse_shape, default=("small", SHAPES["small"]), metavar="SHAPE",
                   help="the small shape of the dense check (default small; P <= 2000)")
    p.add_argument("--no-moons", action="store_true", help="skip the trained moons network")
    p.add_argument("--pitfalls", action="store_true", help="print the second-order pitfalls gallery instead")
    add_oracles_option(p, ORACLES, ORACLES)
    add_json_option(p)
    add_plot_option(p, "the spectra")
    p.set_defaults(func=run)


def run_pitfalls(args: argparse.Namespace) -> int:
    """Print the second-order pitfalls, each against each curvature oracle; exit 1 if one slips past."""
    import oracles.curvature as oc

    from ..curvature_pitfalls import gallery

    names = load_installed(args.oracles, ORACLES, lambda n: oc.get(n, "hvp"), hint="the numeric oracle needs nothing")
    rows = gallery(list(names))
    oracles = list(rows[0]["oracles"])
    print_table("second-order pitfalls: each faulty H v vs each curvature oracle (max relative error over W1, b1, W2, b2)",
                ["pitfall", "fields hit", "run on", *oracles, "caught by"],
                [[r["name"], " ".join(h.split(".")[1] for h in r["hits"]), r["setting"],
                  *(r["oracles"][o]["max_rel"] for o in oracles), ", ".join(r["caught_by"]) or "NOT CAUGHT"] for r in rows])
    for r in rows:
        if "blind_on" in r:
            print(f"{r['name']}: invisible on {r['blind_on']} ({r['why_blind']})")
    missed = [r["name"] for r in rows if len(r["caught_by"]) < len(oracles)]
    if args.json:
        write_json(args.json, {"passed": not missed, "missed": missed, "pitfalls": rows})
    return 1 if missed else 0


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch curvature``; return the exit status (0 ok, 1 a check failed)."""
    if args.pitfalls:
        return run_pitfalls(args)
    for option, (name, _) in (("--shape", args.shape), ("--check-shape", args.check_shape)):
        if name in SPECIAL_SHAPES:
            raise UsageError(f"{option} {name}: takes a name of {', '.join(SHAPES)} or N,D,H,C "
                             "(the sweep-only shapes confident and huge have no place here)")
    check_name, check_shape = args.check_shape
    P_check = check_shape[1] * check_shape[2] + check_shape[2] + check_shape[2] * check_shape[3] + check_shape[3]
    if P_check > 2000:
        raise UsageError(f"--check-shape {check_name}: P = {P_check} parameters; the dense check needs P <= 2000")
    if P_check <= args.k + 1:
        raise UsageError(f"--k {args.k}: needs k < P - 1 = {P_check - 1} on --check-shape {check_name}")
    require_scipy()
    if args.plot:
        require_matplotlib(UsageError)
    check = dense_check(check_shape, args.k, args.seed, args.target)
    print_table(f"Lanczos vs dense spectrum on {check_name} {tuple(check_shape)} (P = {check['P']}): "
                f"max error / max|eigenvalue| = {check['error']:.1e} (tolerance {LANCZOS_RTOL:.0e}): "
                f"{'PASS' if check['passed'] else 'FAIL'}",
                ["matrix", "Lanczos top", "dense top", "dense bottom", "error"],
                [[m, " ".join(f"{v:.4g}" for v in check[m]["lanczos_top"]),
                  " ".join(f"{v:.4g}" for v in check[m]["dense"][::-1][: args.k]),
                  " ".join(f"{v:.4g}" for v in check[m]["dense"][: args.k]), check[m]["error"]] for m in ("H", "G")])
    shape_name, shape = args.shape
    case = make_case(args.seed, shape, np.float64, args.target, bias_scale=0.0)
    nets = [spectrum(f"{shape_name} network {tuple(shape)}, {args.target}, at initialisation", *case[:3], args.k)]
    if not args.no_moons:
        p, x, y, label = trained_moons(args.seed)
        nets.append(spectrum(label, p, x, y, args.k))
    for r in nets:
        print_table(f"{r['label']}: P = {r['P']}, loss {r['loss']:.4g}, |grad| {r['grad_norm']:.3g}; "
                    f"one H v = {r['cost']['hvp_ratio']:.2f} gradients, one G v = {r['cost']['gnvp_ratio']:.2f} "
                    f"(gradient {r['cost']['gradient_s'] * 1e6:.0f} us)",
                    ["", *(f"#{i + 1}" for i in range(len(r["H_top"])))],
                    [["H top", *r["H_top"]], ["G top", *r["G_top"]], ["H bottom", *r["H_bottom"]]])
    if args.plot:
        plot(args.plot, nets)
        print(f"wrote {args.plot}")
    if args.json:
        write_json(args.json, {"dense_check": check, "networks": nets, "passed": check["passed"]})
    return 0 if check["passed"] else 1
