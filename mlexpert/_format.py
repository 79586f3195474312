"""The bundle directory's format: its file names and versions, the checks made before anything in
it is read, the rule for where a bundle may be written, and the libraries a bundle records with
the pinned requirements that install them again. Below the bundle and everything that
writes or inspects one (fit, distill, the CLI, the registry), so none of them imports ``Model``
for these."""
from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlexpert._version import __version__
from mlexpert.errors import BundleError

FORMAT = "mlexpert-bundle"
FORMAT_VERSION = 2  # 2: members in members.pkl.gz, classes found by name (mlexpert.ensemble)
SUPPORTED_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
PAYLOADS = {1: "members.joblib", 2: "members.pkl.gz"}  # the members' file of each version
REFERENCE = "reference.parquet"  # bounded sample of the training rows, for drift checks
COMPILED = "compiled.onnx"  # the compiled one-row path's ONNX graph, when it runs on onnxruntime
COMPILED_NUMPY = "compiled.pkl"  # the compiled path's numpy form, when it runs on that and
# pickles without scikit-learn (``runtime.FastPath.portable``); not compressed, read for speed


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# (distribution, key in the manifest's ``libraries``) of each library whose objects a bundle holds
LIBRARIES = (("numpy", "numpy"), ("pandas", "pandas"), ("scikit-learn", "scikit-learn"),
             ("lightgbm", "lightgbm"), ("xgboost-cpu", "xgboost"), ("catboost", "catboost"),
             ("joblib", "joblib"))


def library_versions(*extra: str) -> dict[str, str]:
    """Versions of the libraries whose objects a bundle holds: each from the distribution we
    depend on, else from the one named like the module (``xgboost`` where a user installed the
    full build rather than ``xgboost-cpu``: the same objects); and of the ``extra``
    distributions this model needs besides (the text embeddings' torch and model)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist, name in (*LIBRARIES, *((d, d) for d in extra)):
        for candidate in dict.fromkeys((dist, name)):
            try:
                out[name] = version(candidate)
                break
            except PackageNotFoundError:
                continue
    return out


def pinned_requirements(libraries: Mapping[str, str], mlexpert_version: str, *,
                        installed: Iterable[str] = ()) -> list[str]:
    """pip requirement lines that rebuild a bundle's environment: each library the manifest
    records (``libraries``, Python left out) pinned to its recorded version under its
    distribution's name, then each distribution of ``installed`` pinned to the version installed
    here (left out when it is not installed), then mlexpert at ``mlexpert_version`` (unpinned
    when empty). What the MLflow pyfunc model and ``mlexpert package`` both install."""
    from importlib.metadata import PackageNotFoundError, version

    dists = {name: dist for dist, name in LIBRARIES}
    reqs = [f"{dists.get(k, k)}=={v}" for k, v in sorted(libraries.items()) if k != "python"]
    pinned = {r.split("==")[0] for r in reqs}
    for dist in (d for d in installed if d not in pinned):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pass
    reqs.append(f"mlexpert=={mlexpert_version}".rstrip("="))
    return reqs


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is a directory holding an mlexpert manifest."""
    try:
        return json.loads((path / MANIFEST).read_text())["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_writable(path: Path, *, overwrite: bool) -> None:
    """Raise BundleError unless a bundle may be written at ``path``: it is absent, an empty
    directory, or (with ``overwrite``) a bundle. Anything else is never replaced."""
    if not path.exists():
        return
    if not path.is_dir():
        raise BundleError(f"{str(path)!r} exists and is a file; choose another output path.")
    if is_bundle(path):
        if not overwrite:
            raise BundleError(f"{str(path)!r} already holds a model bundle; pass "
                              "overwrite=True (CLI: --force) to replace it.")
    elif any(path.iterdir()):
        raise BundleError(f"{str(path)!r} is a non-empty directory that is not a model "
                          "bundle; refusing to overwrite it. Choose another output path.")


def verified_manifest(path: Path) -> tuple[dict[str, Any], str]:
    """(the manifest, the name of its members' file) of the bundle at ``path``, once its format
    version is one this mlexpert reads and every file it lists matches its SHA-256: nothing in
    the bundle is unpickled before this passes."""
    manifest, payload, _ = verified_contents(path, keep=())
    return manifest, payload


def verified_contents(path: Path, keep: Iterable[str] | None = None,
                      ) -> tuple[dict[str, Any], str, dict[str, bytes]]:
    """``verified_manifest`` and the bytes of the files in ``keep`` (default: the members'
    file, the reference sample and the stored compiled path), each read once and checked in memory:
    what ``load`` parses later, on first use, is what was checked, even if the directory
    changes or goes away."""
    name = str(path)
    if not path.is_dir():
        raise BundleError(f"{name!r} is not a directory; pass the directory `mlexpert fit --out` wrote.")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"{name!r} is not an mlexpert bundle: it has no {MANIFEST}.") from None
    except (ValueError, UnicodeDecodeError):
        raise BundleError(f"{name!r}: {MANIFEST} is not valid JSON; the bundle is corrupt. "
                          "Fit the model again or restore the bundle from a copy.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{name!r} is not an mlexpert bundle ({MANIFEST} has no mlexpert format).")
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise BundleError(f"{name!r} has bundle format version {version!r}; this mlexpert "
                          f"({__version__}) reads versions {list(SUPPORTED_VERSIONS)}. "
                          "Upgrade mlexpert or fit the model again.")
    files = manifest.get("files") or {}
    payload = PAYLOADS[version]
    if payload not in files:
        raise BundleError(f"{name!r}: the manifest lists no {payload}; the bundle is corrupt.")
    keep = {payload, REFERENCE, COMPILED, COMPILED_NUMPY} if keep is None else set(keep)
    contents: dict[str, bytes] = {}
    for fname, digest in files.items():
        fpath = path / fname
        if not fpath.is_file():
            raise BundleError(f"{name!r} is missing {fname}; the bundle is incomplete.")
        if fname in keep:
            contents[fname] = fpath.read_bytes()
        if (hashlib.sha256(contents[fname]).hexdigest() if fname in contents
                else sha256(fpath)) != digest:
            raise BundleError(f"{name!r}: {fname} does not match the SHA-256 in {MANIFEST} "
                              "(modified or corrupt); refusing to load it. Fit the model again "
                              "or restore the bundle from a copy.")
    manifest["files"] = files
    return manifest, payload, contents
