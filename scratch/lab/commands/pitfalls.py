"""``python -m scratch pitfalls``: the gradient-pitfalls gallery, each entry caught (or not) by each oracle."""

from __future__ import annotations

import argparse
from typing import Any

from ...pitfalls import ORACLES, PITFALLS, SETTINGS, gallery, oracle
from ..comparison import member_label
from ..errors import UsageError
from ..extras import load_installed
from ..pitfall_rows import caught_by, hits, missed_pitfalls, row_name
from ..progress import progress_bar
from ..report import print_table, write_json
from ._options import add_json_option, add_oracles_option, add_quiet_option, add_spec_options, did_you_mean, show_progress
from .compare import add_activations_option, members_from_args


def register(sub: Any) -> None:
    """Add the ``pitfalls`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "pitfalls",
        help="the gallery of usual gradient mistakes, and which oracle catches each",
        description="Run every faulty implementation of scratch.pitfalls through scratch.compare against "
        "torch, JAX and the numeric oracle (complex step); print pitfall, quantities hit, max relative error "
        "per oracle and caught by.  Exit 1 if any gradient pitfall slips past an oracle.",
    )
    p.add_argument("--show", metavar="NAME", help=f"print one entry with its code and story; one of: {', '.join(PITFALLS)}")
    add_oracles_option(p, ORACLES, ORACLES)
    add_spec_options(p)
    add_activations_option(p)
    add_json_option(p, "the gallery")
    add_quiet_option(p)
    p.set_defaults(func=run)


def show(name: str) -> None:
    """Print one pitfall: title, story, the faulty code, the right code, where it shows and where not."""
    if name not in PITFALLS:
        raise UsageError(f"--show {name!r}: unknown pitfall{did_you_mean(name, PITFALLS)} "
                         f"(expected one of {', '.join(PITFALLS)})")
    p = PITFALLS[name]
    print(f"{p.name}: {p.title}\n\n{p.story}\n")
    if p.is_gradient:
        print(f"hits: {', '.join(p.hits)}; caught on: {SETTINGS[p.caught_on].describe()}")
        if p.blind_on:
            print(f"invisible on: {SETTINGS[p.blind_on].describe()} ({p.why_blind})")
    print("\n--- faulty (scratch/pitfalls.py) ---\n" + p.source())
    print(f"--- right ({p.right.__module__}.{p.right.__qualname__}) ---\n" + p.right_source())


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch pitfalls``; return the exit status (0 ok, 1 a check failed)."""
    if args.show is not None:  # --show "" is an unknown name, not the whole gallery
        show(args.show)
        return 0
    members = members_from_args(args)  # bad usage exits 2 here, before any work
    names = list(load_installed(args.oracles, ORACLES, oracle))
    family = len(members) > 1 or not members[0].is_seed
    total = sum(sum(p.is_gradient and p.applies(m) for p in PITFALLS.values()) for m in members) if family else len(PITFALLS)
    with progress_bar("pitfalls", total, show_progress(args), unit="pitfall") as bar:
        def step(name: str) -> None:
            if bar is not None:
                bar.set_postfix_str(name)
                bar.update(1)

        if family:  # each member's own gallery: the pitfalls that are mistakes of it, made in it
            rows = [{"network": member_label(m), **r} for m in members for r in gallery(names, spec=m, progress=step)]
        else:
            rows = gallery(names, progress=step)
    print_table(
        "gradient pitfalls: each faulty implementation vs each oracle through scratch.compare "
        "(max relative error over loss and gradients; inf = non-finite or wrong shape)"
        + (f", in {len(members)} networks of the family" if len(members) > 1 else f", in {members[0].describe()}" if family else ""),
        ["network"] * family + ["pitfall", "quantities hit", "run on", *names, "caught by"],
        [([r["network"]] if family else []) + [r["name"], hits(r["hits"]), r.get("setting", "demo"),
          *(r["oracles"][o]["max_rel"] if o in r["oracles"] else "-" for o in names), caught_by(r)] for r in rows],
    )
    print("run on: " + "; ".join(f"{k} = {SETTINGS[k].describe()}" for k in sorted({r["setting"] for r in rows if "setting" in r}))
          + ("; each in its row's network" if family else ""))
    if family:
        print("networks: " + "; ".join(f"{member_label(m)} = {m.describe()}" for m in members))
    for r in rows:
        if "blind_on" in r:
            print(f"{row_name(r)}: invisible on {r['blind_on']} ({r['why_blind']})")
        if "weak_on" in r:
            print(f"{row_name(r)}: present but missed by the oracle check on {r['weak_on']}; "
                  "the elementwise error of `python -m scratch accuracy` sees it")
    missed = missed_pitfalls(rows)
    absent = [o for o in ORACLES if o not in names] if args.oracles is None else []  # skipped above, with the hint
    for r in rows:
        if "skipped" in r:
            said = any(f"the {o!r} oracle" in r["skipped"] for o in absent)
            print(f"skipped {row_name(r)}: " + ("its framework is not installed (see above)" if said else r["skipped"]))
    if args.json:
        extra = {"networks": [member_label(m) for m in members], "specs": [m.as_dict() for m in members]} if family else {}
        write_json(args.json, {"passed": not missed, "missed": missed, "oracles": names, **extra, "pitfalls": rows})
    for name in missed:
        print(f"MISSED {name}: a check is too weak")
    return 1 if missed else 0
