"""Facts about the machine this process runs on, the same way on Linux, macOS and Windows."""
from __future__ import annotations

import functools
import os
from typing import Any


def cpu_count() -> int:
    """Cores this process may use: its affinity mask where the OS has one (Linux), else the
    machine's logical cores (macOS, Windows: ``os.sched_getaffinity`` does not exist there)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def switched_off(variable: str) -> bool:
    """Whether the environment variable ``variable`` says 0 / off / false / no (the switches
    that turn a part of the search or fit off, e.g. ``MLEXPERT_TEXT_EMBEDDINGS=0``)."""
    return os.environ.get(variable, "").strip().lower() in ("0", "off", "false", "no")


def release_freed_memory() -> bool:
    """Hand the C heap's free pages back to the OS where the C library can (glibc's
    ``malloc_trim``: freed model arrays otherwise stay in the process's resident memory);
    elsewhere (macOS, Windows, musl) nothing. Whether it ran."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` among this process's own symbols, looked up once; None where
    there is none (Windows; macOS and musl have no such function)."""
    import ctypes

    if os.name != "posix":
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
