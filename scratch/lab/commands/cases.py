"""``python -m scratch cases export|check DIR``: check an implementation in any language through files.

``export`` writes a sweep's inputs and ``manifest.json`` (:func:`scratch.casefiles.export`); a
program in any language writes its outputs beside them; ``check`` compares and diagnoses them
as ``python -m scratch check`` does.  Format: ``docs/case-files.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ... import casefiles
from ...testing import REFERENCES, cases
from ..errors import UsageError
from ._options import (add_json_option, add_quiet_option, add_spec_options, add_sweep_options, input_folder,
                       output_folder, spec_from_args)
from .check import case_progress, finish, load_reference


def new_folder(text: str) -> Path:
    """An argparse ``type``: a folder to export into, new or empty (so that no outputs of an
    earlier export sit beside the new inputs)."""
    path = output_folder(text)
    if path.is_dir() and any(path.iterdir()):
        raise argparse.ArgumentTypeError(f"{text!r} is not empty; export writes into a new or empty folder "
                                         "(no stale outputs beside new inputs)")
    return path


def register(sub: Any) -> None:
    """Add the ``cases`` sub-command (``export`` and ``check``) to ``sub`` (argparse sub-parsers)."""
    p = sub.add_parser(
        "cases",
        help="check an implementation in ANY language through case files (export, then check)",
        description="Case files for implementations in any language: 'export' writes each case's inputs and a "
        "manifest.json; your program writes its outputs beside them; 'check' compares and diagnoses them as "
        "'python -m scratch check' does.  Format: docs/case-files.md.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="write the cases' inputs and manifest.json into DIR",
                           description="Write every case of the sweep (inputs W1 b1 W2 b2 x y) and DIR/manifest.json, "
                           "which names each case's input and output paths and the expected output shapes.")
    e.add_argument("folder", type=new_folder, metavar="DIR", help="a new or empty folder")
    add_sweep_options(e)
    add_spec_options(e)
    e.add_argument("--format", choices=casefiles.FORMATS, default="json",
                   help="json: DIR/<id>/inputs.json; npy: DIR/<id>/inputs/<name>.npy (default: json)")
    e.set_defaults(func=run_export)
    c = actions.add_parser("check", help="compare the outputs written in DIR with the reference; diagnose",
                           description="Read DIR/manifest.json and every case's inputs and outputs; compare loss and "
                           "gradients with the reference; diagnose what fails; list the blind spots.  Exit 0 all "
                           "pass, 1 any mismatch or missing outputs, 2 bad usage (no or a bad manifest, no outputs at all).")
    c.add_argument("folder", type=input_folder, metavar="DIR", help="a folder written by 'cases export'")
    c.add_argument("--reference", choices=REFERENCES, default="scratch", help="default: scratch")
    add_json_option(c)
    add_quiet_option(c)
    c.set_defaults(func=run_check)


def run_export(args: argparse.Namespace) -> int:
    """Run ``python -m scratch cases export``; return the exit status (0 written, 2 usage)."""
    spec = spec_from_args(args)
    try:
        case_list = cases(args.seeds, args.shapes, args.dtypes, args.targets, spec=spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not case_list:
        raise UsageError("the sweep is empty: give at least one seed, shape, dtype and target kind "
                         "(the 'confident' shape has labels and onehot targets only)")
    try:
        manifest = casefiles.export(args.folder, case_list, args.format)
    except OSError as exc:
        raise UsageError(f"cannot write {args.folder}: {exc}") from exc
    out = "<id>/outputs.json" if args.format == "json" else "<id>/outputs/<name>.npy"
    print(f"wrote {len(case_list)} case(s) ({args.format}) and {manifest}\n"
          f"next: your program writes {args.folder}/{out} for every case (docs/case-files.md), then\n"
          f"      python -m scratch cases check {args.folder}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Run ``python -m scratch cases check``; return the exit status (0 ok, 1 a mismatch, 2 usage)."""
    load_reference(args.reference)
    try:  # check() reads the manifest, every input and where the outputs are before comparing anything
        report = casefiles.check(args.folder, args.reference, progress=case_progress(args, "cases check"))
    except casefiles.CaseFileError as exc:
        raise UsageError(str(exc)) from exc
    return finish(report, args.json)
