"""The lab's usage error: what the command line reports with exit status 2 and no traceback."""


class UsageError(Exception):
    """Bad options found after parsing, or a missing optional framework: exit status 2."""
