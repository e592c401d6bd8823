#!/usr/bin/env python
"""Thin entry point: grade a generated class of 300 submissions (right, buggy, crashing, hanging)
with ``python -m scratch grade --jobs 2`` and report the time (see :mod:`scratch.lab.grade_bench`),
e.g. ``nice scripts/bench_grade.py --json /tmp/bench_grade.json``."""

import sys

from scratch.lab.grade_bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
