"""Machine facts the same way on every OS."""
import os
import sys

import pytest

from mlexpert import _system


def test_cpu_count_uses_the_affinity_mask_where_the_os_has_one(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert _system.cpu_count() == 3


def test_cpu_count_falls_back_to_the_logical_cores_on_macos_and_windows(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert _system.cpu_count() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _system.cpu_count() == 1


@pytest.mark.parametrize("value, off", [("0", True), ("off", True), (" False ", True), ("NO", True),
                                        ("1", False), ("", False), ("on", False), (None, False)])
def test_switched_off_reads_the_usual_spellings(monkeypatch, value, off):
    from mlexpert._system import switched_off

    if value is None:
        monkeypatch.delenv("MLEXPERT_SOME_SWITCH", raising=False)
    else:
        monkeypatch.setenv("MLEXPERT_SOME_SWITCH", value)
    assert switched_off("MLEXPERT_SOME_SWITCH") is off


def test_freed_memory_goes_back_where_the_c_library_can_and_nothing_breaks_elsewhere(monkeypatch):
    import ctypes

    class NoTrim:  # a C library without malloc_trim (macOS, musl)
        pass

    def unloadable(name):
        raise OSError("no such library")

    _system._malloc_trim.cache_clear()
    try:
        assert _system.release_freed_memory() == sys.platform.startswith("linux")  # glibc here
        for cdll in (lambda name: NoTrim(), unloadable):
            _system._malloc_trim.cache_clear()
            monkeypatch.setattr(ctypes, "CDLL", cdll)
            assert _system.release_freed_memory() is False
        _system._malloc_trim.cache_clear()
        monkeypatch.setattr(os, "name", "nt")  # Windows: not even looked up
        assert _system.release_freed_memory() is False
    finally:
        monkeypatch.undo()
        _system._malloc_trim.cache_clear()
