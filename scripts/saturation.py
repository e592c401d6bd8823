#!/usr/bin/env python
"""Thin entry point: the same as ``python -m scratch saturation [options]``."""

import sys

from scratch.lab.cli import main

if __name__ == "__main__":
    sys.exit(main(["saturation", *sys.argv[1:]]))
