"""Where a page's numbers come from: versions, BLAS, machine, date, command line."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def blas() -> str:
    """NumPy's BLAS: library, version, kernel and threads (threadpoolctl), or NumPy's build config."""
    try:
        from threadpoolctl import threadpool_info

        import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            return (f"{i.get('internal_api', '?')} {i.get('version', '?')} "
                    f"({i.get('architecture', '?')}, {i.get('num_threads', '?')} threads)")
    except ImportError:
        pass
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def cpu() -> str:
    """The processor's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the source tree the page was built from (None outside a git checkout)."""
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """Versions (scratch, Python, NumPy, PyTorch, JAX, matplotlib), the BLAS, the machine, the date
    (UTC, ISO 8601) and the command line, as an ordered mapping of labels to strings."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    info = {
        "date": now.isoformat().replace("+00:00", "Z"),
        "command": " ".join(["python -m scratch", *(argv if argv is not None else sys.argv[1:])]),
        "scratch": _version("scratch-backprop") + (f" (git {c})" if (c := git_commit()) else ""),
        "Python": platform.python_version(),
        "NumPy": _version("numpy"),
        "BLAS": blas(),
        "PyTorch": _version("torch"),
        "JAX": f"{_version('jax')} (jaxlib {_version('jaxlib')})",
        "matplotlib": _version("matplotlib"),
        "mpmath": _version("mpmath"),
        "latex2mathml": _version("latex2mathml"),
        "Pygments": _version("pygments"),
        "machine": f"{cpu()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()} "
                   f"({platform.machine()})",
    }
    return info
