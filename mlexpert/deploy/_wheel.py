"""The running mlexpert as a wheel: its package files and its installed metadata, zipped in the
wheel format (PEP 427), so a deployment folder installs the very code that wrote it. mlexpert is
not on PyPI, and the source tree of an installed copy may not exist: the package directory and
the distribution's metadata always do. No build backend runs; the same files give the same
bytes (entries sorted, one fixed date)."""
from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from mlexpert._version import __version__
from mlexpert.errors import BundleError

NAME = "mlexpert"
_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry holds: reproducible bytes
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def wheel_name(version: str = __version__) -> str:
    """The file name pip expects: ``mlexpert-<version>-py3-none-any.whl``."""
    return f"{NAME}-{version.replace('-', '_')}-py3-none-any.whl"


def _package_files() -> list[tuple[str, Path]]:
    """(name in the wheel, file) of every file of the mlexpert package, caches and hidden
    temp files left out."""
    import mlexpert

    root = Path(mlexpert.__file__).resolve().parent
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root.parent)
        if (path.is_file() and not _SKIP_DIRS.intersection(rel.parts)
                and not path.name.endswith(_SKIP_SUFFIXES)
                and not any(p.startswith(".") for p in rel.parts)):
            out.append((rel.as_posix(), path))
    return out


def _metadata() -> tuple[str, str]:
    """(METADATA, entry_points.txt) of the installed distribution, version from the running
    code (an editable install's metadata can lag behind it)."""
    try:
        dist = distribution(NAME)
    except PackageNotFoundError:
        raise BundleError("cannot package: mlexpert runs from a path but is not installed as a "
                          "distribution, so its dependencies are unknown. Install it (`pip "
                          "install -e .` in its source) and try again.") from None
    meta = dist.metadata
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {__version__}"]
    if meta.get("Summary"):
        lines.append(f"Summary: {meta['Summary']}")
    if meta.get("Requires-Python"):
        lines.append(f"Requires-Python: {meta['Requires-Python']}")
    lines += [f"Provides-Extra: {e}" for e in meta.get_all("Provides-Extra") or []]
    lines += [f"Requires-Dist: {r}" for r in dist.requires or []]
    entry_points = dist.read_text("entry_points.txt") or \
        "[console_scripts]\nmlexpert = mlexpert.cli:main\n"
    return "\n".join(lines) + "\n", entry_points


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path) -> Path:
    """Write the running mlexpert's wheel into ``folder``; return its path."""
    metadata, entry_points = _metadata()
    info = f"{NAME}-{__version__.replace('-', '_')}.dist-info"
    members = [(name, path.read_bytes()) for name, path in _package_files()]
    members += [(f"{info}/METADATA", metadata.encode()),
                (f"{info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: mlexpert {__version__}\n"
                                   "Root-Is-Purelib: true\nTag: py3-none-any\n").encode()),
                (f"{info}/entry_points.txt", entry_points.encode())]
    record = "\n".join([_record_line(n, d) for n, d in members] + [f"{info}/RECORD,,"]) + "\n"
    members.append((f"{info}/RECORD", record.encode()))
    path = folder / wheel_name()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            entry = zipfile.ZipInfo(name, date_time=_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, data)
    return path
