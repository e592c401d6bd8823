#!/usr/bin/env python
"""Thin entry point: the same as ``python -m scratch compare [options]``."""

import sys

from scratch.lab.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
