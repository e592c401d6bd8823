#!/usr/bin/env python
"""Thin entry point: the same as ``python -m scratch bench [options]``
(e.g. ``scripts/bench.py --json /tmp/bench.json --plot /tmp/bench.png``)."""

import sys

from scratch.lab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
