"""The conformance page (``python -m scratch check module:function --html FILE``).

Renders a :class:`scratch.testing.Report`: pass/fail per quantity and dtype, the failures, the
diagnosis (with the matching pitfall's BUG and RIGHT lines), and for every failing gradient a
heatmap of its elementwise relative error on its worst case (e.g. dW1 as D x H), so that an
error confined to one column, to each row's true class or to saturated units shows at a glance.
Nothing is compared here: the checks are the report's, the heatmaps plot
:func:`scratch.compare.relative_error_map` of the arrays the report kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...compare import QUANTITIES, relative_error_map
from .html import Html, Section, bug_right_marks, code, figure, join, note, num, page, para, status, table, tag

#: quantity -> (what its rows are, what its columns are).
AXES = {"dz2": ("sample n", "class c"), "dW2": ("hidden unit h", "class c"), "db2": ("", "class c"),
        "dz1": ("sample n", "hidden unit h"), "dW1": ("input d", "hidden unit h"), "db1": ("", "hidden unit h")}
#: At most this many failing cases are listed.
MAX_LISTED = 40


def worst_case(report: Any, q: str) -> Any | None:
    """The failing case result of quantity ``q`` with the largest relative error among those whose
    output has the reference's shape, the larger array on a tie (None when there is none)."""
    bad = [r for r in report.results if q in r.checks and not r.checks[q].passed
           and r.got.get(q) is not None and q in r.ref and np.shape(r.got[q]) == np.shape(r.ref[q])]
    return max(bad, key=lambda r: (r.checks[q].max_rel, np.size(r.ref[q])), default=None)  # ties: the larger picture


def class_marks(r: Any, q: str) -> list[tuple[int, int]]:
    """For dz2: each sample's true class (the label, or the largest target), to outline."""
    if q != "dz2":
        return []
    y = np.asarray(r.case.y)
    cls = y if y.ndim == 1 else y.argmax(axis=1)
    return [(n, int(c)) for n, c in enumerate(cls)]


def heatmap(report: Any, q: str) -> Html:
    """The figure of quantity ``q``'s elementwise relative error on its worst failing case, or a
    note saying why there is none (a wrong shape, or nothing returned)."""
    from .figures import heatmap_figure

    r = worst_case(report, q)
    if r is None:
        first = next(x for x in report.results if q in x.checks and not x.checks[q].passed)
        return note(join([tag("strong", q), f": no elementwise picture ({first.checks[q].problem})."]), "warn")
    err = relative_error_map(r.got[q], r.ref[q])
    rows, cols = AXES[q]
    c = r.checks[q]
    grid = np.atleast_2d(err)
    where = f"[{', '.join(map(str, c.worst_index))}]" if c.worst_index else ""
    n_bad = int(np.sum(~(err <= c.rtol)))
    caption = join([
        tag("strong", q), f" {tuple(np.shape(r.ref[q]))} on {r.case.describe()}: ",
        f"{n_bad} of {err.size} entries beyond the tolerance {num(c.rtol)} (the blue line on the colour bar); check: {c.problem}",
        (f"; worst element {q}{where}: got {c.worst_got:.6g}, expected {c.worst_ref:.6g}" if c.worst_got is not None
         else ""), ".",
        " Black: non-finite." if np.isnan(err).any() else "",
        " Outlined: each sample's true class." if q == "dz2" else "",
    ])
    uri = heatmap_figure(grid, title=f"{q}: elementwise |got - ref| / |ref|", row_label=rows or " ",
                         col_label=cols, rtol=c.rtol, marks=class_marks(r, q))
    return figure(uri, f"Heatmap of the elementwise relative error of {q}, {grid.shape[0]} x {grid.shape[1]}",
                  caption)


def summary_section(report: Any) -> Section:
    """Pass/fail per quantity and dtype."""
    rows, fails = [], []
    for s in report.summary_rows():
        passed = s["status"] == "pass"
        if not s["cases"]:
            rows.append([s["quantity"], s["dtype"], 0, "-", "-", "-", "-", tag("span", s["status"], class_="muted")])
            continue
        tol = num(s["rtol_min"]) if s["rtol_min"] == s["rtol_max"] else f"{num(s['rtol_min'])}..{num(s['rtol_max'])}"
        rows.append([s["quantity"], s["dtype"], s["cases"], float(s["max_rel"]), float(s["max_abs"]), tol,
                     f"{s['worst_ratio']:.3g}", status(passed, s["status"].upper() if passed else s["status"])])
        fails.append(not passed)
    body = table(["quantity", "dtype", "cases", "worst rel err", "worst abs err", "tolerance", "err/tol", "status"],
                 rows, numeric=(2, 3, 4, 5, 6),
                 caption="the relative error of the largest magnitude, max|got − ref| / max(max|got|, max|ref|), "
                         "after shape, dtype and finiteness")
    return Section("Pass or fail, per quantity and dtype", body, id="summary")


def failures_section(report: Any) -> Section:
    """Each failing quantity's first case and worst element; the failing cases, listed."""
    fails = report.failures()
    items = []
    errors = [r for r in fails if r.error]
    if errors:
        items.append(tag("li", f"no result on {len(errors)} case(s); first, {errors[0].case.describe()}: "
                               f"{errors[0].error}"))
    problems = [r for r in fails if r.problems]
    if problems:
        items.append(tag("li", f"on {len(problems)} case(s): {'; '.join(problems[0].problems)} "
                               f"(first: {problems[0].case.describe()})"))
    for q in QUANTITIES:
        bad = [r for r in fails if q in r.checks and not r.checks[q].passed]
        if bad:
            c = bad[0].checks[q]
            items.append(tag("li", join([tag("strong", q), f": failed on {len(bad)} of "
                                         f"{sum(q in r.checks for r in report.results)} case(s); first, "
                                         f"{bad[0].case.describe()}: {c.problem}"])))
    listed = table(["case", "failed", "first problem"],
                   [[r.case.id, ", ".join(r.failed()) or ("raised" if r.error else "-"),
                     r.error or (r.problems[0] if r.problems else r.checks[r.failed()[0]].problem)]
                    for r in fails[:MAX_LISTED]],
                   caption=f"failing cases ({len(fails)}{', the first ' + str(MAX_LISTED) if len(fails) > MAX_LISTED else ''})")
    return Section("Failures", join([tag("ul", join(items)), listed]), id="failures")


def diagnosis_section(report: Any) -> Section:
    """The diagnosis: each finding, with the matching pitfall's BUG and RIGHT lines."""
    from ...diagnosis import bug_lines

    parts = []
    for f in report.diagnosis:
        text = f.text
        if f.pitfall:
            bug, right = bug_lines(f.pitfall)
            # the terminal's text ends with the BUG and RIGHT lines: here they are shown highlighted below
            text = text.replace(f" {bug} -> {right}. See: python -m scratch pitfalls --show {f.pitfall}", "")
        block = [para(text)]
        if f.pitfall:
            src = f"{bug}\n# {right}"
            block.append(code(src, marks=bug_right_marks(src)))
            block.append(para(f"See `python -m scratch pitfalls --show {f.pitfall}` for the whole story."))
        parts.append(tag("div", join(block), class_=f"finding {f.kind}"))
    if not parts:
        parts.append(para("No diagnosis."))
    return Section("Diagnosis", join(parts), id="diagnosis")


def heatmaps_section(report: Any) -> Section:
    """One heatmap per failing gradient."""
    qs = [q for q in QUANTITIES if q != "loss" and any(q in r.checks and not r.checks[q].passed for r in report.results)]
    intro = para("Each failing gradient's elementwise relative error $|g - r| / |r|$ on the case where its check "
                 "failed worst, drawn in the gradient's own shape (log colour scale; the tolerance marked on the "
                 "bar as a blue line).  An error in one column, in each row's true class or in saturated units shows as a stripe "
                 "or a pattern; an error everywhere as an even colour.")
    return Section("Where the failing gradients are wrong", join([intro, tag("div", join(heatmap(report, q) for q in qs),
                                                                            class_="heatmaps")]), id="heatmaps")


def blind_spots_section(report: Any) -> Section:
    """The gallery's mistakes this sweep cannot reveal."""
    if not report.blind_spots:
        return Section("Blind spots", para("None: every mistake of the gallery would show on this sweep."),
                       id="blind-spots")
    items = join(tag("li", join([tag("code", b.pitfall), f" ({b.title})", f": {b.why}" if b.why else "",
                                 f"; it shows on {b.shows_on}"])) for b in report.blind_spots)
    return Section("Blind spots", join([
        para("This sweep could not reveal these known mistakes: a pass here says nothing about them.  Add the shapes, "
             "dtypes and targets named to the sweep to cover them."), tag("ul", items)]), id="blind-spots")


def render(report: Any, argv: list[str] | None = None) -> Html:
    """The conformance page of ``report`` (a :class:`scratch.testing.Report`)."""
    from .provenance import provenance

    n, nf = len(report.results), len(report.failures())
    sweep = "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in report.sweep.items())
    verdict = note(join([status(report.ok, "ALL PASS" if report.ok else "FAIL"),
                         f" {n - nf} of {n} case(s) passed" + ("" if report.ok else f", {nf} failed")]),
                   "pass" if report.ok else "fail")
    lead = join([
        tag("p", join(["Implementation ", tag("code", report.implementation), " (signature ", tag("code", report.signature),
                       ") against ", tag("code", report.reference), " on the same arrays."])),
        tag("p", f"Sweep: {sweep}."),
        *([tag("p", "Network: " + "; ".join(s.describe() for s in report.networks) + ".")]
          if getattr(report, "networks", None) else []),
        *([tag("p", "Identified: " + report.identification["sentence"] + ".")]
          if getattr(report, "identification", None) else []),
        *([tag("p", "Conventions accepted: " + "; ".join(report.notes) + ".")] if getattr(report, "notes", None) else []),
        verdict,
    ])
    sections = [summary_section(report)]
    if not report.ok:
        # what is wrong and where first; the list of failing cases after
        sections += [diagnosis_section(report), heatmaps_section(report), failures_section(report)]
    sections.append(blind_spots_section(report))
    info = provenance(argv)
    sections.append(Section("Provenance", tag("dl", join(join([tag("dt", k), tag("dd", v)]) for k, v in info.items()),
                                              class_="provenance"), id="provenance"))
    return page(f"Conformance report: {report.implementation}", lead, sections,
                footer="Generated by python -m scratch check --html; one self-contained file: no script, no network.")
