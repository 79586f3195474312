"""Facts about the machine this process runs on, the same way on Linux, macOS and Windows."""
from __future__ import annotations

import os


def cpu_count() -> int:
    """Cores this process may use: its affinity mask where the OS has one (Linux), else the
    machine's logical cores (macOS, Windows: ``os.sched_getaffinity`` does not exist there)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)
