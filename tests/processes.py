"""One helper the process tests share: whether a process has ended."""

from __future__ import annotations

import time


def gone(pid: int, within: float = 10.0) -> bool:
    """Whether ``pid`` has ended within ``within`` seconds.  A zombie nobody reaps yet counts as
    ended (in a container, init may never reap it); a SIGKILL sent to a group is delivered
    asynchronously, later on a loaded machine, hence the wait."""
    deadline = time.monotonic() + within
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
