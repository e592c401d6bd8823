"""The report page (``python -m scratch report``): the question, the answer, the derivation, and a
fresh run of the comparison, the pitfalls gallery, the float32 accuracy, the step-size study,
training parity and saturation, with the run's provenance.

:func:`collect` runs the lab's data functions (nothing is compared here), :func:`render`
turns what they returned into one HTML document.  :data:`QUICK` and :data:`FULL` size the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...compare import QUANTITIES
from . import content
from .html import Html, Section, bug_right_marks, code, figure, join, math, note, num, page, para, prose, status, table, tag
from .html import test_ref as _test_ref


@dataclass(frozen=True)
class Plan:
    """How much to run for each section."""

    name: str
    compare: dict[str, Any]
    pitfall_oracles: tuple[str, ...]
    accuracy_seeds: tuple[int, ...]
    stepsize: dict[str, Any]
    train: tuple[dict[str, Any], ...]
    saturation_scales: tuple[float, ...]
    #: The family section's sweep: every activation, float64, scratch vs these oracles.
    family: dict[str, Any] = field(default_factory=lambda: {
        "seeds": [0], "shapes": ["small"], "targets": ["labels", "soft"], "oracles": ["torch", "jax"]})


_SCALES = tuple(float(s) for s in np.logspace(-2, 2, 17))

#: Seconds, not minutes: a few cases of each kind (the page's browser tests build this one).
QUICK = Plan(
    name="quick",
    compare={"seeds": [0], "shapes": ["seed", "small", "c10"], "dtypes": ["float64", "float32"],
             "targets": ["labels", "unnormalized"], "oracles": ["torch", "jax"]},
    pitfall_oracles=("torch", "jax", "numeric"),
    accuracy_seeds=(0,),
    stepsize={"shape": "small", "per_decade": 2},
    train=({"dataset": "moons", "hidden": 8, "steps": 60, "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-3,
            "batch_size": None},),
    saturation_scales=_SCALES[::2],
)

#: The commands' default sweeps.
FULL = Plan(
    name="full",
    compare={"seeds": [0, 1, 2, 3, 4], "shapes": None, "dtypes": ["float64", "float32"], "targets": None,
             "oracles": ["torch", "jax"]},
    pitfall_oracles=("torch", "jax", "numeric"),
    accuracy_seeds=tuple(range(10)),
    stepsize={"shape": "seed", "per_decade": 4},
    train=({"dataset": "moons", "hidden": 16, "steps": 200, "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-3,
            "batch_size": None},
           {"dataset": "spirals", "hidden": 32, "steps": 200, "lr": 0.3, "momentum": 0.9, "weight_decay": 1e-3,
            "batch_size": 60}),
    saturation_scales=_SCALES,
    family={"seeds": [0, 1, 2], "shapes": ["small", "c10", "n1"], "targets": None, "oracles": ["torch", "jax"]},
)


@dataclass
class Run:
    """What :func:`collect` gathered: per section the data functions' results, and timings."""

    plan: Plan
    data: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """One line per check of the run that failed (empty when everything held)."""
        from ..accuracy import verdict
        from ..pitfall_rows import missed_pitfalls

        out = []
        if "compare" in self.data and not self.data["compare"]["passed"]:
            out.append(f"compare: {self.data['compare']['n_failed']} case-oracle pair(s) failed")
        if "family" in self.data and not self.data["family"]["passed"]:
            out.append(f"family: {self.data['family']['n_failed']} case-oracle pair(s) failed")
        if "pitfalls" in self.data:
            out += [f"pitfalls: {n} slipped past a check" for n in missed_pitfalls(self.data["pitfalls"])]
        if "accuracy" in self.data:
            out += [f"accuracy: {line}" for line in verdict(self.data["accuracy"])]
        for t in self.data.get("train", []):
            out += [f"train {t['label']}: {pair} differ beyond {t['parity']['tolerance']:.1e}"
                    for pair in t["parity"]["failed"]]
        return out

    def as_json(self) -> dict[str, Any]:
        """The run's numbers, JSON-ready (arrays as lists; no parameters or activations)."""
        d = self.data
        out: dict[str, Any] = {"plan": self.plan.name, "passed": not self.failures(), "failures": self.failures(),
                               "provenance": self.provenance, "seconds": self.seconds}
        if "compare" in d:
            out["compare"] = {k: v for k, v in d["compare"].items() if k != "cases"}
        if "family" in d:
            out["family"] = {k: v for k, v in d["family"].items() if k != "cases"}
        if "pitfalls" in d:
            out["pitfalls"] = d["pitfalls"]
        if "accuracy" in d:
            out["accuracy"] = d["accuracy"]
        if "stepsize" in d:
            out["stepsize"] = {k: v for k, v in d["stepsize"].items() if k != "case"}
        if "train" in d:
            out["train"] = [{"label": t["label"], "config": t["config"], "tolerance": t["parity"]["tolerance"],
                             "one_ulp_sensitivity": t["parity"]["one_ulp_sensitivity"],
                             "final_loss": t["parity"]["final_loss"], "final_accuracy": t["parity"]["final_accuracy"],
                             "pairs": t["parity"]["pairs"], "failed": t["parity"]["failed"],
                             "loss": {n: r.loss for n, r in t["parity"]["results"].items()}} for t in d["train"]]
        if "saturation" in d:
            out["saturation"] = {k: v for k, v in d["saturation"].items() if k != "a1"}
        return out


# --------------------------------------------------------------------------------------------
# Collecting: the lab's data functions
# --------------------------------------------------------------------------------------------


def _compare(plan: Plan) -> dict[str, Any]:
    from ...cases import SHAPES, TARGETS
    from ...argtypes import parse_shape
    from ..comparison import compare_sweep, load_oracles

    c = plan.compare
    shapes = [parse_shape(s) for s in (c["shapes"] or list(SHAPES))]
    return compare_sweep(load_oracles(c["oracles"]), c["seeds"], shapes, c["dtypes"], c["targets"] or list(TARGETS))


def _family(plan: Plan) -> dict[str, Any]:
    """Every activation of the family (the other options as the seed network's), float64, scratch
    vs ``plan.family["oracles"]``: :func:`scratch.lab.comparison.compare_family`."""
    from ...activations import ACTIVATIONS
    from ...argtypes import parse_shape
    from ...cases import TARGETS
    from ...spec import NetworkSpec
    from ..comparison import compare_family, load_oracles

    c = plan.family
    return compare_family(load_oracles(c["oracles"]), [NetworkSpec(activation=a) for a in ACTIVATIONS], c["seeds"],
                          [parse_shape(s) for s in c["shapes"]], ["float64"], c["targets"] or list(TARGETS))


def _pitfalls(plan: Plan) -> list[dict[str, Any]]:
    from ...pitfalls import gallery

    return gallery(plan.pitfall_oracles)


def _accuracy(plan: Plan) -> list[dict[str, Any]]:
    from ..accuracy import measure

    return measure(list(plan.accuracy_seeds))


def _stepsize(plan: Plan) -> dict[str, Any]:
    from ...cases import SHAPES, make_case
    from ..stepsize import best_steps, step_grid, step_size_errors

    case = make_case(0, SHAPES[plan.stepsize["shape"]], np.float64, "labels")
    steps = step_grid(per_decade=plan.stepsize["per_decade"])
    errors = step_size_errors(case.params, case.x, case.y, steps)
    return {"case": case, "name": case.name, "shape": plan.stepsize["shape"], "steps": steps, "errors": errors,
            "best": best_steps(steps, errors), "n_params": int(sum(p.size for p in case.params))}


def _train(plan: Plan) -> list[dict[str, Any]]:
    from ..data import make_dataset
    from ..parity import TRAINERS, parity
    from ...network import init_params
    from ..train import SGDConfig

    out = []
    for t in plan.train:
        data = make_dataset(t["dataset"], seed=0)
        _, D, C = data.dims
        params = init_params(D, t["hidden"], C, rng=np.random.default_rng([0, 1]))
        config = SGDConfig(lr=t["lr"], steps=t["steps"], momentum=t["momentum"], weight_decay=t["weight_decay"],
                           batch_size=t["batch_size"], seed=0)
        label = (f"{t['dataset']}, H = {t['hidden']}, {t['steps']} steps, lr {t['lr']:g}, momentum {t['momentum']:g}, "
                 f"weight decay {t['weight_decay']:g}, batch {t['batch_size'] or 'full'}, float64")
        out.append({"label": label, "config": t, "data": data,
                    "parity": parity(data, params, config, list(TRAINERS))})
    return out


def _saturation(plan: Plan) -> dict[str, Any]:
    from ..saturation import saturation_sweep

    return saturation_sweep(sorted(set(plan.saturation_scales) | {1.0, 10.0}))


#: Section key -> (progress label, collector).
COLLECTORS: dict[str, tuple[str, Callable[[Plan], Any]]] = {
    "compare": ("comparison with torch and JAX", _compare),
    "family": ("the family, every activation", _family),
    "pitfalls": ("pitfalls gallery", _pitfalls),
    "accuracy": ("float32 accuracy (mpmath truth)", _accuracy),
    "stepsize": ("step-size study", _stepsize),
    "train": ("training parity", _train),
    "saturation": ("saturation", _saturation),
}


def collect(plan: Plan, *, progress: Any = None, argv: list[str] | None = None,
            only: tuple[str, ...] | None = None) -> Run:
    """Run every section's data function (or those in ``only``).  ``progress``: a tqdm-like
    factory called as ``progress(total=..., desc=...)`` (None: silent)."""
    from .provenance import provenance

    run = Run(plan, provenance=provenance(argv))
    keys = [k for k in COLLECTORS if only is None or k in only]
    bar = progress(total=len(keys), desc="report", unit="section") if progress else None
    for key in keys:
        label, fn = COLLECTORS[key]
        if bar is not None:
            bar.set_postfix_str(label)
        t0 = time.perf_counter()
        run.data[key] = fn(plan)
        run.seconds[key] = round(time.perf_counter() - t0, 2)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return run


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _claim(c: content.Claim) -> Html:
    parts = [tag("h4", c.title)]
    for block in c.body:
        parts.append(math(block.latex, display=True) if isinstance(block, content.Eq) else para(block))
    if c.tests:
        parts.append(tag("p", join([tag("span", "checked by", class_="label"),
                                    *(_test_ref(t) for t in c.tests)]), class_="tests"))
    return tag("div", join(parts), class_="claim")


def question_section() -> Section:
    """Eqs. (1)-(7), the backward steps with shapes, the answer, the derivation with its tests."""
    eqs = tag("div", join(join([tag("span", f"({no})", class_="no"), tag("span", math(eq)),
                                tag("span", math(shape), class_="shape")])
                          for no, eq, shape in content.FORWARD), class_="eqs")
    backward = table(["step", "gradient", "shape"],
                     [[f"({no})", math(r"\displaystyle " + eq), shape] for no, eq, shape in content.BACKWARD],
                     caption="Going backwards: every gradient has the shape of what it differentiates.")
    return Section("The question and the answer", para(content.QUESTION), children=[
        Section("The network", join([eqs, backward]), id="network"),
        Section("The answer", join(para(t) for t in content.ANSWER), id="answer"),
        Section("The derivation, point by point",
                join([para("Each claim names the tests that check it (in `tests/`, run in CI)."),
                      *(_claim(c) for c in content.CLAIMS)]), id="derivation"),
    ], id="question")


def comparison_section(cmp: dict[str, Any], plan: Plan) -> Section:
    """The table of ``compare`` and the worst error per quantity and oracle against the tolerance."""
    from ..comparison import summary_table
    from .figures import comparison_figure

    headers, rows = summary_table(cmp)
    rows = [[*r[:-1], status(r[-1] == "PASS", r[-1])] for r in rows]
    c = plan.compare
    sweep = (f"seeds {' '.join(map(str, c['seeds']))}; shapes {', '.join(c['shapes']) if c['shapes'] else 'all ten'}; "
             f"{' and '.join(c['dtypes'])}; targets {', '.join(c['targets']) if c['targets'] else 'all four kinds'}")
    body = join([
        para(f"`scratch.loss_and_grads` and each oracle ({', '.join(cmp['oracles'])}) run on the same arrays; "
             "`scratch.compare` checks per quantity shape, dtype, finiteness, then the relative error of the largest "
             "magnitude $\\max|a-b| / \\max(\\max|a|, \\max|b|)$ against the tolerance.  float64: 1e-10 on identical "
             "arrays.  float32: ours in float32 against the oracle in float64 on the same float32-rounded inputs (the "
             "truth), at $8\\,\\varepsilon_{32}(\\sqrt N + \\sqrt D + \\sqrt H + \\sqrt C)$."),
        note(join([status(cmp["passed"], "ALL PASS" if cmp["passed"] else "MISMATCH"),
                   f" {cmp['n_pairs']} case-oracle pairs, {cmp['n_failed']} failed ({sweep})."]),
             "pass" if cmp["passed"] else "fail"),
        figure(comparison_figure(cmp["by_oracle"], QUANTITIES),
               "Worst relative error per quantity and oracle, log scale, with the tolerance",
               "Worst relative error over the sweep, per quantity and oracle (log scale; an exact 0 is drawn at "
               "1e-18), against the tolerance (dashed; shaded: its range over the shapes)."),
        table(headers, rows, numeric=(2, 3, 4, 5, 6), caption="python -m scratch compare: worst case per quantity "
              "and dtype over every oracle"),
    ])
    bad = [x for x in cmp["cases"] if not x["passed"]][:20]
    if bad:
        body = join([body, tag("ul", join(
            tag("li", f"{x['oracle']} {x['case']}: " + "; ".join(f"{k['quantity']}: {k['problem']}"
                                                                 for k in x["checks"] if not k["passed"]))
            for x in bad))])
    return Section("The comparison with PyTorch and JAX", body, id="comparison")


def family_worst(fam: dict[str, Any]) -> list[dict[str, Any]]:
    """Per member of :func:`_family`'s result (``network``) and oracle: the worst relative error over
    every quantity and case in float64, its tolerance and whether every case passed."""
    out = []
    for net in fam["networks"]:
        for o in fam["oracles"]:
            rows = [r for r in fam["by_oracle"] if r["network"] == net and r["oracle"] == o and r["dtype"] == "float64"]
            out.append({"network": net, "oracle": o, "max_rel": max(r["max_rel"] for r in rows),
                        "rtol": max(r["rtol_max"] for r in rows), "cases": max(r["cases"] for r in rows),
                        "passed": all(r["failed"] == 0 for r in rows)})
    return out


def family_section(fam: dict[str, Any], plan: Plan) -> Section:
    """The family: what each member changes in (2)/(2'), (7') and (8)/(8'), and the worst float64
    error of every activation against each oracle, measured for this page."""
    def cell(latex: str) -> Any:  # "a, \; b": the equation and its derivative, one line each
        if latex in ("", "none"):
            return latex or "unchanged"
        return join([math(part) for part in latex.split(r", \; ")], sep=Html("<br>"))

    members = table(["member", "(2) / (2') hidden layer", "(7') reduction", "(8) / (8') L2"],
                    [[name, cell(a), cell(r), cell(l2)] for name, a, r, l2 in content.FAMILY],
                    caption="What each member of the family changes; every other step is the seed network's.")
    worst = family_worst(fam)
    by_net = {n: {w["oracle"]: w for w in worst if w["network"] == n} for n in fam["networks"]}
    c = plan.family
    sweep = (f"seeds {' '.join(map(str, c['seeds']))}; shapes {', '.join(c['shapes'])}; float64; "
             f"targets {', '.join(c['targets']) if c['targets'] else 'all four kinds'}")
    measured = table(
        ["activation", *(f"worst rel err vs {o}" for o in fam["oracles"]), "tolerance", "status"],
        [[n, *(by_net[n][o]["max_rel"] for o in fam["oracles"]), max(w["rtol"] for w in by_net[n].values()),
          status(all(w["passed"] for w in by_net[n].values()))] for n in fam["networks"]],
        numeric=tuple(range(1, len(fam["oracles"]) + 2)),
        caption=f"scratch vs each oracle, worst relative error over loss and every gradient ({sweep}; "
                f"{fam['n_pairs']} case-oracle pairs, {fam['n_failed']} failed), measured for this page.")
    return Section("The family", join([para(content.FAMILY_TEXT), members, measured]), id="family")


def _pitfall_card(row: dict[str, Any]) -> Html:
    from ..pitfall_rows import caught_by
    from ...pitfalls import PITFALLS

    p = PITFALLS[row["name"]]
    src = p.source()
    terms: list[tuple[str, Any]] = []
    if p.is_gradient:
        terms.append(("hits", ", ".join(row["hits"])))
        terms.append(("shows on", row["caught_on"]))
        per = "; ".join(f"{o}: relative error {num(v['max_rel'])}" + ("" if v["failed"] else " (NOT caught)")
                        for o, v in row["oracles"].items())
        terms.append(("caught by", join([status(bool(row["caught_by"]) and len(row["caught_by"]) == len(row["oracles"]),
                                                caught_by(row)), f" — {per}"])))
        if "blind_on" in row:
            terms.append(("invisible on", f"{row['blind_on']}: {row['why_blind']}"))
        if "weak_on" in row:
            terms.append(("weak on", f"{row['weak_on']}: present, but the largest-magnitude check misses it; the "
                                     "elementwise error of the accuracy study sees it"))
    else:
        terms.append(("what it showed", tag("ul", join(
            tag("li", join([tag("code", k), ": ", num(v) if isinstance(v, float) else str(v)]))
            for k, v in row["demo"].items()), class_="plain")))
        terms.append(("caught by", join([status(bool(row["caught_by"]), caught_by(row))])))
    dl = tag("dl", join(join([tag("dt", k), tag("dd", v)]) for k, v in terms))
    label = "faulty code (scratch/pitfalls.py), the BUG line shaded red and the RIGHT line green" if p.is_gradient \
        else "the demonstration (scratch/pitfalls.py)"
    return tag("article", join([
        tag("h3", join([tag("code", p.name), " — ", p.title]), id=f"pitfall-{p.name}"),
        para(p.story), dl, tag("p", label, class_="code-label"), code(src, marks=bug_right_marks(src)),
    ]), class_="pitfall")


def pitfalls_section(rows: list[dict[str, Any]]) -> Section:
    """The gallery: an overview table, then each entry with its story and its BUG/RIGHT lines."""
    from ..pitfall_rows import caught_by, hits, missed_pitfalls

    oracles = list(dict.fromkeys(o for r in rows for o in r["oracles"]))
    overview = table(
        ["pitfall", "quantities hit", "run on", *oracles, "caught by"],
        [[tag("a", r["name"], href=f"#pitfall-{r['name']}"), hits(r["hits"]), r.get("setting", "demo"),
          *(num(r["oracles"][o]["max_rel"]) if o in r["oracles"] else "-" for o in oracles), caught_by(r)]
         for r in rows],
        numeric=tuple(range(3, 3 + len(oracles))),
        caption="python -m scratch pitfalls: max relative error over loss and gradients per oracle "
                "(inf = non-finite or wrong shape)")
    missed = missed_pitfalls(rows)
    body = join([
        para("Each mistake is a complete, runnable `loss_and_grads` built from the pieces of `scratch/network.py` "
             "with one piece swapped (marked `# BUG`, the right line beneath as `# RIGHT`), run through the one "
             "comparison against each oracle at the tolerance every check uses."),
        note(join([status(not missed, "ALL CAUGHT" if not missed else "MISSED"),
                   " every entry caught by every oracle" if not missed else f" missed: {', '.join(missed)}"]),
             "pass" if not missed else "fail"),
        overview,
        *(_pitfall_card(r) for r in rows),
    ])
    return Section("The pitfalls gallery", body, id="pitfalls")


def accuracy_section(rows: list[dict[str, Any]], plan: Plan) -> Section:
    """float32 against the 60-digit truth: scratch vs torch vs JAX, table and bars."""
    from ..accuracy import ACCURACY_SHAPE, COLUMNS, TRUTH_DIGITS, verdict
    from ...tolerances import ACCURACY_DZ1_GOAL, ACCURACY_DZ2_GOAL
    from .figures import accuracy_figure

    bad = verdict(rows)
    N, D, H, C = ACCURACY_SHAPE
    tbl = table(["implementation", "dtype", *COLUMNS.values(), "max κ (3'')"],
                [[r["implementation"], r["dtype"], *(float(r[k]) for k in COLUMNS), float(r["max_kappa"])]
                 for r in rows], numeric=tuple(range(2, 3 + len(COLUMNS))),
                caption=f"max elementwise relative error against the exact gradients ({TRUTH_DIGITS} digits, mpmath), "
                        f"{len(plan.accuracy_seeds)} seed(s), N={N} D={D} H={H} C={C}")
    body = join([
        para("Confident predictions (logit gaps near 20) and saturated tanh units (|z1| of 10 to 21) are where "
             "float32 formulas lose digits: $1 - \\hat y_c$ and $1 - a_1^2$ cancel.  The exact gradients of the "
             "float32-rounded inputs come from mpmath; each implementation runs in float32 and float64.  "
             "(E): error relative to $\\max(|\\mathrm{truth}|, \\text{size of the summed terms})$."),
        note(join([status(not bad, "GOAL MET" if not bad else "FAILED"),
                   f" scratch's float32 dz2 ≤ {ACCURACY_DZ2_GOAL:.0e}, dz1 ≤ {ACCURACY_DZ1_GOAL:.0e}, and the frameworks "
                   "measurably worse" if not bad else " " + "; ".join(bad)]), "pass" if not bad else "fail"),
        figure(accuracy_figure(rows, ["loss", "dz2", "dW2", "dz1", "dW1"],
                               {"dz2": ACCURACY_DZ2_GOAL, "dz1": ACCURACY_DZ1_GOAL}),
               "float32 error per quantity and implementation, log scale",
               "float32 rows of the table below (log scale); the dashed lines are scratch's goals."),
        tbl,
    ])
    return Section("Accuracy in float32", body, id="accuracy")


def stepsize_section(st: dict[str, Any]) -> Section:
    """The V-curve of forward and central differences, and the flat complex step."""
    from ..plots import plot_errors
    from ..stepsize import STUDY_METHODS
    from .figures import saved_uri

    steps, errors = st["steps"], st["errors"]
    decade = np.isclose(np.log10(steps), np.round(np.log10(steps)))
    uri = saved_uri(lambda path: plot_errors(path, steps, [(f"step-size study, {st['name']}", errors)]))
    body = join([
        para("The relative error of the whole parameter gradient by forward differences, central differences and "
             "the complex step, against the hand-derived one, as the step h shrinks.  Truncation error falls like h "
             "(forward) or $h^2$ (central, complex) until round-off $\\varepsilon |L| / h$ takes over the finite "
             "differences; the complex step subtracts nothing and stays flat."),
        figure(uri, "Relative error against step size h, log-log, for forward, central and complex step",
               f"python -m scratch stepsize on {st['name']} ({st['n_params']} parameters)."),
        table(["method", "best h", "error there"], [[m, b["h"], b["error"]] for m, b in st["best"].items()],
              numeric=(1, 2), caption="best step per method"),
        table(["h", *STUDY_METHODS], [[float(h), *(float(errors[m][k]) for m in STUDY_METHODS)]
                                      for k, h in enumerate(steps) if decade[k]],
              numeric=(0, 1, 2, 3), caption="every decade (inf: the step rounded away, 0/0)"),
    ])
    return Section("The step-size V-curve", body, id="stepsize")


def training_section(runs: list[dict[str, Any]]) -> Section:
    """The same SGD in NumPy, PyTorch and JAX: loss curves, decision regions, differences."""
    from ..plots import training_figure
    from .figures import saved_uri

    parts = [para("`scratch.lab.train` trains with SGD on the hand-derived gradients; `oracles/torch_train.py` "
                  "(`torch.optim.SGD`) and `oracles/jax_train.py` (optax) start from copies of the same initial "
                  "arrays and take the same mini-batches.  The three loss curves are drawn on top of each other.")]
    for t in runs:
        par = t["parity"]
        res = par["results"]
        uri = saved_uri(lambda path, t=t, par=par: training_figure(
            path, t["data"], par["results"], par["final_accuracy"], title=f"train: {t['label']}",
            tolerance=par["tolerance"]))
        ok = not par["failed"]
        parts += [
            tag("h3", t["label"]),
            note(join([status(ok, "PARITY" if ok else "DIFFER"),
                       f" largest relative parameter difference {num(max((v[0] for v in par['pairs'].values()), default=0.0))}"
                       f" (tolerance {par['tolerance']:.1e}); a 1-ulp change of θ₀ moves NumPy's end point by "
                       f"{num(par['one_ulp_sensitivity'])}"]), "pass" if ok else "fail"),
            figure(uri, f"Loss curves and decision regions of numpy, torch and jax on {t['config']['dataset']}",
                   "Top: loss per step (overlaid) and the per-step difference from NumPy with the tolerance. "
                   "Bottom: each framework's decision regions."),
            table(["framework", "final loss", "accuracy", "wall time (s)"],
                  [[n, par["final_loss"][n], f"{par['final_accuracy'][n]:.3f}", f"{r.wall_time:.3f}"]
                   for n, r in res.items()], numeric=(1, 2, 3)),
            table(["pair", "parameters", "loss (any step)", "status"],
                  [[k, dp, dl, status(k not in par["failed"])] for k, (dp, dl) in par["pairs"].items()],
                  numeric=(1, 2), caption="largest relative difference after the run"),
        ]
    return Section("Training parity", join(parts), id="training")


def saturation_section(sw: dict[str, Any]) -> Section:
    """Vanishing gradients from saturated tanh units."""
    from ..plots import saturation_figure
    from .figures import saved_uri

    hists = [(s, sw["a1"][s]) for s in (1.0, 10.0)]
    uri = saved_uri(lambda path: saturation_figure(path, sw, hists))
    keep = [i for i, s in enumerate(sw["scale"]) if np.isclose(np.log10(s), np.round(np.log10(s) * 2) / 2)]
    body = join([
        para("$W_1 \\sim N(0, s^2/D)$ on $x \\sim N(0, I)$: the fraction of units with $|a_1| > 0.99$ follows "
             "$\\operatorname{erfc}(\\operatorname{atanh}(0.99)/(s\\sqrt 2))$, and by (2') "
             "$dz_1 = da_1 \\circ (1 - a_1^2)$ saturated units pass nothing back: $dW_1$ vanishes although nothing "
             "is wrong with the code."),
        figure(uri, "Saturated fraction and gradient norms against the initial weight scale, and histograms of a1",
               "python -m scratch saturation: left, the saturated fraction against the prediction; middle, gradient "
               "norms; right, a1 at s = 1 and s = 10."),
        table(["W1 scale", "saturated", "predicted", "‖dW1‖", "‖dW1‖/‖W1‖", "‖dW2‖"],
              [[f"{sw['scale'][i]:.3g}", f"{sw['saturated'][i]:.3f}", f"{sw['predicted'][i]:.3f}", sw["dW1_norm"][i],
                sw["dW1_relative"][i], sw["dW2_norm"][i]] for i in keep], numeric=(0, 1, 2, 3, 4, 5),
              caption=f"tanh saturation at initialisation, N, D, H, C = {tuple(sw['shape'])} (every half decade)"),
    ])
    return Section("Saturation and vanishing gradients", body, id="saturation")


def provenance_section(run: Run) -> Section:
    """Versions, BLAS, machine, date, command, and how long each section took."""
    info = dict(run.provenance)
    info["run"] = f"{run.plan.name} ({'; '.join(f'{k} {v:.1f} s' for k, v in run.seconds.items())})"
    dl = tag("dl", join(join([tag("dt", k), tag("dd", v)]) for k, v in info.items()), class_="provenance")
    return Section("Provenance", join([para("Every number on this page comes from a fresh run on this machine:"), dl]),
                   id="provenance")


def render(run: Run) -> Html:
    """The page for ``run`` (sections for what was collected)."""
    d = run.data
    sections = [question_section()]
    if "compare" in d:
        sections.append(comparison_section(d["compare"], run.plan))
    if "family" in d:
        sections.append(family_section(d["family"], run.plan))
    if "pitfalls" in d:
        sections.append(pitfalls_section(d["pitfalls"]))
    if "accuracy" in d:
        sections.append(accuracy_section(d["accuracy"], run.plan))
    if "stepsize" in d:
        sections.append(stepsize_section(d["stepsize"]))
    if "train" in d:
        sections.append(training_section(d["train"]))
    if "saturation" in d:
        sections.append(saturation_section(d["saturation"]))
    sections.append(provenance_section(run))
    fails = run.failures()
    verdict = note(join([status(not fails, "EVERY CHECK HELD" if not fails else "SOME CHECKS FAILED"),
                         " " + ("; ".join(fails) if fails else
                                "ours = torch = JAX on every case, every pitfall caught, float32 goals met, the "
                                "three trainings agree.")]), "pass" if not fails else "fail")
    lead = join([
        para("A two-layer tanh/softmax network in plain NumPy with every derivative written by hand, proven against "
             "PyTorch, JAX and numerical differentiation on the same arrays."),
        tag("p", join(["Built ", run.provenance.get("date", ""), " by ", tag("code", run.provenance.get("command", "")),
                       f" ({run.plan.name} run; see ", tag("a", "Provenance", href="#provenance"), ")."])),
        verdict,
    ])
    return page("scratch: backprop derived by hand, proven against PyTorch and JAX", lead, sections,
                footer=prose("Generated by `python -m scratch report`; one self-contained file: no script, no "
                             "network, figures embedded as SVG, mathematics as MathML."))


__all__ = ["FULL", "QUICK", "Plan", "Run", "collect", "render"]
