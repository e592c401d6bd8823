"""Sub-commands of ``python -m scratch``; one module each, discovered automatically.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func``.  A
command holds the command line alone (options, printing, exit codes); what it computes lives
in the lab modules around it (:mod:`scratch.lab.comparison`, :mod:`scratch.lab.parity`, ...).
"""
