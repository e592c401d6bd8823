"""``python -m scratch compare``: sweep seeds x shapes x dtypes x targets against the oracles."""

from __future__ import annotations

import argparse
from typing import Any

from ...spec import SEED, NetworkSpec
from ..comparison import DEFAULT_ORACLES, compare_family, compare_sweep, load_oracles, member_label, summary_table
from ..errors import UsageError
from ..progress import progress_bar
from ..report import print_table, write_json
from ._options import (
    add_flat_names_option,
    add_json_option,
    add_oracles_option,
    add_quiet_option,
    add_spec_options,
    add_sweep_options,
    show_progress,
    spec_from_args,
)

#: Oracles ``--oracles`` accepts (those run by default, when installed:
#: :data:`scratch.lab.comparison.DEFAULT_ORACLES`).
ORACLE_CHOICES = ("torch", "jax", "numeric")


def register(sub: Any) -> None:
    """Add the ``compare`` sub-command to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "compare",
        help="check loss and every gradient against the autograd oracles",
        description="Run scratch.loss_and_grads and each oracle on the same arrays over a sweep; "
        "print one table per quantity and dtype; exit 1 on any mismatch.",
    )
    add_sweep_options(p)
    add_oracles_option(p, ORACLE_CHOICES, DEFAULT_ORACLES)
    add_spec_options(p)
    add_activations_option(p)
    add_json_option(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def add_activations_option(p: Any) -> None:
    """``--activations NAME ...``: run over several members of the family, one per hidden
    activation, each with the other network options (``--l2 --l2-form --l2-biases --reduction``;
    ``--alpha`` applies to ``leaky_relu``).  Left out: the single ``--activation``."""
    from ...activations import ACTIVATIONS

    add_flat_names_option(p, "--activations", ACTIVATIONS, metavar="ACTIVATION",
                          help=f"some of {' '.join(ACTIVATIONS)} (space- or comma-separated): one member of the "
                               "family per activation, each with the other network options; default: --activation")


def members_from_args(args: argparse.Namespace) -> list[NetworkSpec]:
    """The members of the family a command runs over: one per ``--activations`` name with the
    other options of :func:`scratch.lab.commands._options.add_spec_options` applied to each, or
    the single member of those options.  A combination the spec refuses (``--alpha`` with no
    ``leaky_relu`` in the list, ``--activation`` and ``--activations`` both given) raises
    :class:`UsageError` before any work."""
    names = getattr(args, "activations", None)
    if names is None:
        return [spec_from_args(args)]
    if args.activation != "tanh":
        raise UsageError(f"--activation {args.activation} and --activations {','.join(names)}: give one of them")
    if args.alpha is not None and "leaky_relu" not in names:
        raise UsageError(f"--alpha {args.alpha:g}: the slope belongs to leaky_relu, which is not in "
                         f"--activations {','.join(names)}")
    members = []
    for name in names:
        one = argparse.Namespace(**{**vars(args), "activation": name,
                                    "alpha": args.alpha if name == "leaky_relu" else None})
        members.append(spec_from_args(one))
    return members


def run(args: argparse.Namespace) -> int:
    """Run ``python -m scratch compare``; return the exit status (0 ok, 1 a check failed)."""
    members = members_from_args(args)  # bad usage exits 2 here, before any work
    refs = load_oracles(args.oracles)
    total = len(members) * len(args.dtypes) * len(args.shapes) * len(args.targets) * len(args.seeds)
    family = len(members) > 1 or members[0].canonical() != SEED
    with progress_bar("compare", total, show_progress(args), unit="case") as bar:
        step = None if bar is None else (lambda: bar.update(1))
        if family:
            result = compare_family(refs, members, args.seeds, args.shapes, args.dtypes, args.targets, progress=step)
        else:
            result = compare_sweep(refs, args.seeds, args.shapes, args.dtypes, args.targets, progress=step)
    cases, n_fail = result["cases"], result["n_failed"]
    note = " (float32 is compared with the oracle in float64 on the same rounded inputs)" if "float32" in args.dtypes else ""
    over = f" over {len(members)} networks" if len(members) > 1 else f" on {members[0].describe()}" if family else ""
    print_table(
        f"scratch vs {', '.join(refs)}{over}: {len(cases)} case-oracle pairs, {n_fail} failed{note}",
        *summary_table(result, by_network=family),
    )
    if family:
        print("networks: " + "; ".join(f"{member_label(m)} = {m.describe()}" for m in members))
    for c in [c for c in cases if not c["passed"]][:20]:
        bad = "; ".join(f"{k['quantity']}: {k['problem']}" for k in c["checks"] if not k["passed"])
        print(f"FAIL {c['oracle']} {c['case']}: {bad}")
    if args.json:
        write_json(args.json, {k: v for k, v in result.items() if k != "by_oracle"})
    return 1 if n_fail else 0
