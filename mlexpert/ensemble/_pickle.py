"""The members' payload file: how it is written, and the one unpickler that reads it.

Format 2 (``members.pkl.gz``) is a gzip-compressed pickle (protocol 5). Format 1
(``members.joblib``) was a joblib pickle (zlib, level 3); it is read by the same name resolution.

Names, not module paths, make a class part of the format: an mlexpert class is found by its
module path while it lives there and otherwise through ``MOVED`` (the old path of every class a
bundle pickles that has since moved), so refactoring never breaks a saved bundle. Outside
mlexpert only the libraries a bundle holds are resolved (numpy, pandas, scipy, scikit-learn,
LightGBM, XGBoost, CatBoost and a few standard modules); anything else is refused with a
BundleError naming it. This is a name check that turns a stale or foreign bundle into a clear
error, not a sandbox: the SHA-256 check before loading is what guards against tampering.
"""
from __future__ import annotations

import contextlib
import gzip
import importlib
import inspect
import io
import os
import pickle
from pathlib import Path
from typing import Any

from mlexpert.errors import BundleError

PAYLOAD = "members.pkl.gz"  # format 2
PAYLOAD_V1 = "members.joblib"  # format 1
GZIP_MAGIC = b"\x1f\x8b"
COMPRESS_LEVEL = 3  # gzip level: ~as small as joblib's zlib 3, and as fast to read

# old module path -> current one, for every class a bundle pickles that has moved (never remove
# an entry: bundles written before the move name the old path)
MOVED: dict[tuple[str, str], str] = {
    ("mlexpert.search._scheduler", "Member"): "mlexpert.ensemble._member",
}
_LIBRARIES = ("numpy", "pandas", "scipy", "sklearn", "lightgbm", "xgboost", "catboost")
# functools.partial: scikit-learn's HistGradientBoosting with categorical columns holds
# ``partial(check_array, ...)``; a partial only binds a callable the unpickler itself allowed
_STANDARD = {"copyreg": None, "collections": None, "_codecs": {"encode"}, "functools": {"partial"},
             "builtins": {"list", "dict", "set", "frozenset", "tuple", "slice", "bytearray",
                          "bytes", "complex", "float", "int", "str", "bool", "object", "range"}}


def _resolve(module: str, name: str) -> Any:
    """The object ``module.name`` names, where a bundle may name it; BundleError otherwise."""
    root = module.split(".")[0]
    if root == "mlexpert":
        module = MOVED.get((module, name), module)
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            found = None
        if not inspect.isclass(found):
            raise BundleError(f"the bundle's members name {module}.{name}, which this mlexpert "
                              "does not have; fit the model again with this version.")
        return found
    standard = root in _STANDARD and (_STANDARD[root] is None or name in _STANDARD[root])
    if root in _LIBRARIES or standard:
        return getattr(importlib.import_module(module), name)
    raise BundleError(f"the bundle's members name {module}.{name}, which a model bundle never "
                      "holds; refusing to load it. Fit the model again.")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _resolve(module, name)


def write_payload(obj: Any, path: str | os.PathLike | io.BytesIO, compress: bool = True) -> None:
    """Pickle ``obj`` to ``path`` (format 2), streaming through gzip unless ``compress`` is
    False (a file read for speed: 130 MB of arrays gunzip in ~0.5 s, read plain in ~0.05)."""
    if not compress:
        with open(path, "wb") if not isinstance(path, io.BytesIO) else \
                contextlib.nullcontext(path) as fh:
            pickle.dump(obj, fh, protocol=5)
        return
    with gzip.open(path, "wb", compresslevel=COMPRESS_LEVEL) as fh:
        pickle.dump(obj, fh, protocol=5)


def read_payload(path: str | os.PathLike, data: bytes | None = None) -> Any:
    """The object ``write_payload`` wrote (format 2) or a format-1 ``members.joblib``, read from
    ``path`` or from ``data``, that file's bytes (already checked against the manifest)."""
    path = Path(path)
    source = io.BytesIO(data) if data is not None else path
    if path.name == PAYLOAD_V1:
        return _read_joblib(path, source)
    if data is not None and not data.startswith(GZIP_MAGIC):  # written with compress=False
        return _Unpickler(io.BytesIO(data)).load()
    with gzip.open(source, "rb") as fh:
        return _Unpickler(fh).load()


def _read_joblib(path: Path, source: Path | io.BytesIO) -> Any:
    """A joblib pickle (zlib-compressed, arrays stored after their wrappers) through joblib's
    own unpickler, with this module's name resolution."""
    from joblib.numpy_pickle import BinaryZlibFile, NumpyUnpickler

    class _JoblibUnpickler(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "joblib.numpy_pickle" and name == "NumpyArrayWrapper":
                return super().find_class(module, name)  # joblib's own array records
            return _resolve(module, name)

    with BinaryZlibFile(source if isinstance(source, io.BytesIO) else str(source), "rb") as fh:
        return _JoblibUnpickler(str(path), fh, ensure_native_byte_order=True).load()
