"""The two ways mlexpert writes: atomically (a sibling temp name renamed into place) and as
strict JSON (NaN and infinities as null, numpy values as plain numbers). Every writer uses these.

An interrupted write (an exception, Ctrl-C) leaves the old file or directory untouched and no
temp name behind; a reader never sees half of one. ``os.replace`` of a file is atomic on POSIX
and Windows; a directory replacing another goes through a second rename (see ``atomic_dir``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any


def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique name beside ``path`` (same directory, so the rename stays on one disk)."""
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_file(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces ``path`` (parents created), on any
    exception it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield an empty temp directory to fill; on success it becomes ``path`` (an existing
    ``path`` is renamed aside first and removed after), on any exception it is removed."""
    path = Path(path)
    parent = path.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(parent / path.name)
    try:
        tmp.mkdir()
        yield tmp
        if fsync:
            for p in tmp.rglob("*"):
                if p.is_file():
                    _fsync(p)
        if path.exists():
            old = temp_sibling(parent / path.name, "old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def jsonable(o: Any) -> Any:
    """``o`` as strict-JSON values: NaN and infinities become None, numpy scalars and arrays
    plain numbers and lists, dates ISO text, mapping keys text; other objects are kept (the
    encoder's ``default`` decides about them)."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [jsonable(v) for v in o]
    if o is None or isinstance(o, bool | str | int):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, datetime | date):  # pandas' Timestamp too
        return o.isoformat()
    if hasattr(o, "tolist") and hasattr(o, "dtype"):  # numpy scalar or array
        return jsonable(o.tolist())
    return o


def dumps(obj: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """Strict JSON text of ``obj`` (see ``jsonable``); objects JSON has no form for are written
    as their ``str``."""
    seps = (",", ":") if compact else None
    return json.dumps(jsonable(obj), indent=indent, separators=seps, default=str,
                      allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically."""
    return write_text(path, dumps(obj, indent=indent))
