"""``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` and ``runs:/RUN_ID[/model]`` to a bundle.

The bundle is downloaded once into ``<work folder>/cache/`` (atomically: temp dir + rename) and
loaded with ``mlexpert.bundle.load``, which checks its format and SHA-256 hashes each time; a
cached copy that fails the check is downloaded again. Aliases are resolved on every call (they
move), versions and runs are immutable and cached by identity.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from mlexpert._io import temp_sibling
from mlexpert.errors import BundleError, TrackingError, bad_option
from mlexpert.tracking._store import _first_line, resolve_store, session, work_folder

_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>[^?#]*))?$")


def is_model_uri(value: Any) -> bool:
    """Whether ``value`` is a ``models:/`` or ``runs:/`` URI rather than a path (a Path made
    from one, as a CLI argument becomes, counts too)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return isinstance(value, str) and value.startswith(("models:/", "runs:/"))


def _download(client: Any, uri: str, target: Path) -> Path:
    """Download the artifacts at ``uri`` into ``target`` atomically; return ``target``."""
    import mlflow

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    tmp.mkdir()
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp)))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(local, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _bundle_in(folder: Path) -> Path:
    """The bundle directory inside a downloaded pyfunc model, or the folder itself."""
    inside = sorted((folder / "artifacts").glob("*/manifest.json")) if \
        (folder / "artifacts").is_dir() else []
    for candidate in (*(m.parent for m in inside), folder / "bundle", folder):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BundleError(f"{str(folder)!r} holds no mlexpert bundle: the model was not logged by "
                      "mlexpert.")


def load_uri(uri: str, *, tracking_uri: str | None = None) -> Any:
    """The Model behind a ``models:/`` or ``runs:/`` URI (see the module docstring)."""
    from mlexpert.bundle import load

    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str):
        raise bad_option("model URI", uri, "models:/NAME@ALIAS, models:/NAME/VERSION or runs:/ID")
    uri = uri.strip()
    m, r = _MODELS.match(uri), _RUNS.match(uri)
    if not (m or r):
        raise bad_option("model URI", uri, "models:/NAME@ALIAS, models:/NAME/VERSION or "
                         "runs:/RUN_ID[/model]")
    store = resolve_store(tracking_uri)
    cache = work_folder() / "cache"
    with session(store) as client:
        from mlflow.exceptions import MlflowException

        if m:
            from mlexpert.tracking._registry import _registered, _version

            name = m["name"]
            try:
                if m["alias"]:
                    _registered(client, name)
                    version = client.get_model_version_by_alias(name, m["alias"]).version
                else:
                    version = _version(client, name, m["version"]).version
            except MlflowException:
                raise TrackingError(f"registered model {name!r} has no version with alias "
                                    f"{m['alias']!r}; `mlexpert registry show {name}` lists "
                                    "its stages.") from None
            key = cache / "models" / _safe(store.uri) / name / str(version)
            source = f"models:/{name}/{version}"
            origin = {"name": name, "version": str(version), "uri": uri}
        else:
            from mlexpert.tracking._runs import get_run

            run = get_run(client, store.uri, r["run"])
            path = (r["path"] or "").strip("/")
            model_id = run.data.tags.get("mlexpert.model_id")
            if path == "model" and model_id:  # MLflow 3 keeps logged models outside the run
                source = f"models:/{model_id}"
            else:
                source = f"runs:/{r['run']}/{path}" if path else f"runs:/{r['run']}/bundle"
            key = cache / "runs" / _safe(store.uri) / r["run"] / (path or "bundle")
            origin = {"run_id": r["run"], "uri": uri}
        for attempt in (0, 1):
            if attempt or not key.is_dir():
                try:
                    _download(client, source, key)
                except MlflowException as exc:
                    raise TrackingError(f"cannot download {uri!r} from {store.uri!r}: "
                                        f"{_first_line(exc)}") from None
            try:
                # in memory only: where it came from, e.g. for the service's name and version
                return load(_bundle_in(key), registry=origin)
            except BundleError:
                if attempt:
                    raise
    raise AssertionError("unreachable")  # pragma: no cover


def _safe(text: str) -> str:
    """A folder name for a store URI."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[-80:]
