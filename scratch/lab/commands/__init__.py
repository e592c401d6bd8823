"""Sub-commands of ``python -m scratch``; one module each, discovered automatically.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func``.
"""


class UsageError(Exception):
    """Bad options found after parsing, or a missing optional framework: exit status 2."""
