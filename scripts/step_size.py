#!/usr/bin/env python
"""Thin entry point: the same as ``python -m scratch stepsize [options]``
(e.g. ``scripts/step_size.py --plot /tmp/step_size.png --json /tmp/step_size.json``)."""

import sys

from scratch.lab.cli import main

if __name__ == "__main__":
    sys.exit(main(["stepsize", *sys.argv[1:]]))
