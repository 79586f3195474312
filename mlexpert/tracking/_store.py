"""Where runs go: the work folder, the tracking URI, and a session on the MLflow store.

The embedded default needs no setup: ``<work folder>/mlflow.db`` (SQLite) and
``<work folder>/artifacts/``, created on first use. The work folder is ``$MLEXPERT_HOME`` or
``./.mlexpert`` in the current directory. ``MLFLOW_TRACKING_URI`` (or an explicit URI) points at a
server instead. MLflow is imported here only inside functions.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlexpert.errors import MlexpertError, TrackingError, bad_option, tracking_unreachable

DEFAULT_EXPERIMENT = "mlexpert"
HOME_ENV = "MLEXPERT_HOME"
TRACK_ENV = "MLEXPERT_TRACK"
LOCK_WAIT = 120.0  # seconds to wait for another process's session on the same SQLite store
HEALTH_TIMEOUT = 3.0  # seconds to wait for a server's /health before calling it unreachable
_SCHEMES = ("http", "https", "sqlite", "file", "postgresql", "mysql", "mssql", "databricks")
# bounded retries while talking to a server, so a dead one costs seconds, not minutes
_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
             # no usage telemetry leaves the machine on mlexpert's behalf
             "MLFLOW_DISABLE_TELEMETRY": "true",
             "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
             "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def work_folder() -> Path:
    """The folder holding the embedded store, pending runs and downloaded models."""
    return Path(os.environ.get(HOME_ENV) or ".mlexpert").absolute()


def track_by_default(default: bool) -> bool:
    """``$MLEXPERT_TRACK`` (1/0, true/false, on/off) when set, else ``default``."""
    value = os.environ.get(TRACK_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


@dataclass(frozen=True)
class Store:
    """A resolved tracking store: its URI and, for the embedded one, its artifact folder."""

    uri: str
    artifact_root: Path | None = None  # set for the embedded store only

    @property
    def is_http(self) -> bool:
        return urlparse(self.uri).scheme in ("http", "https")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.uri.startswith("sqlite:///"):
            return None
        return Path(self.uri[len("sqlite:///"):])

    def describe(self) -> str:
        return self.uri


def resolve_store(uri: str | None = None) -> Store:
    """An explicit URI, else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store."""
    if uri is not None and not isinstance(uri, str):
        raise bad_option("tracking_uri", uri, "a URI string such as http://127.0.0.1:5000")
    uri = (uri or os.environ.get("MLFLOW_TRACKING_URI") or "").strip()
    if not uri:
        home = work_folder()
        return Store(f"sqlite:///{home / 'mlflow.db'}", home / "artifacts")
    scheme = urlparse(uri).scheme
    if scheme not in _SCHEMES:
        if "://" not in uri and scheme == "":  # a bare folder: MLflow's file store
            return Store(uri)
        raise bad_option("--tracking-uri", uri, "an MLflow tracking URI (http://host:port, "
                         "sqlite:///path/to/mlflow.db, or a folder)")
    if scheme == "sqlite":
        return Store(uri, Path(uri[len("sqlite:///"):]).absolute().parent / "artifacts")
    return Store(uri)


def check_reachable(store: Store) -> None:
    """Raise TrackingError within HEALTH_TIMEOUT s when an HTTP server does not answer /health."""
    if not store.is_http:
        return
    import httpx

    try:
        r = httpx.get(store.uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT)
    except httpx.HTTPError as exc:
        raise tracking_unreachable(store.uri, type(exc).__name__) from None
    if r.status_code != 200:
        raise tracking_unreachable(store.uri, f"/health answered HTTP {r.status_code}")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed): one writer per SQLite store at a time.

    MLflow's SQLite store is not safe for concurrent writers (two first uses both run the
    migrations; busy writers fail with "database is locked"), so every session on an embedded
    store holds this lock. Where fcntl is missing (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux
        yield
        return
    import time

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        end = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise TrackingError(f"the tracking store next to {str(path)!r} has been busy "
                                        f"for {LOCK_WAIT:.0f} s (another mlexpert process is "
                                        "writing to it); try again when it is done.") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _environment_kept(*names: str) -> Iterator[None]:
    """These environment variables exactly as found once the block ends, whatever it set or
    removed (MLflow unsets MLFLOW_TRACKING_URI when it restores an unset global URI)."""
    saved = {k: os.environ.get(k) for k in names}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _bounded_http() -> Iterator[None]:
    """Bounded retries for MLflow's HTTP client while in this block (user settings win)."""
    with _environment_kept(*_HTTP_ENV):
        for k, v in _HTTP_ENV.items():
            os.environ.setdefault(k, v)
        yield


@contextlib.contextmanager
def session(store: Store) -> Iterator[Any]:
    """An MlflowClient on ``store``, with MLflow's fluent calls pointed at it for the block.

    Fails with a one-line TrackingError when a server does not answer; holds the store's lock
    for an embedded (SQLite) store. MLflow's global tracking URI and the MLFLOW_* URI variables
    are left as found."""
    check_reachable(store)
    path = store.sqlite_path
    lock = _file_lock(path.with_name(path.name + ".lock")) if path else contextlib.nullcontext()
    # stdout belongs to the caller (`--json`): anything MLflow prints goes to stderr
    with lock, _bounded_http(), _quiet(), contextlib.redirect_stdout(sys.stderr), \
            _environment_kept("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        import mlflow
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            client = mlflow.MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds for a bad URI
            raise TrackingError(f"cannot open the tracking store {store.uri!r}: "
                                f"{_first_line(exc)}") from None
        with _use_tracking_uri(store.uri):
            try:
                yield client
            except MlexpertError:
                raise
            except Exception as exc:  # noqa: BLE001 - a store error becomes one clear line
                raise TrackingError(f"the tracking store {store.uri!r} failed: "
                                    f"{_first_line(exc)}") from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO chatter (creating tables, registering) off while mlexpert drives it."""
    import logging

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def experiment_id(client: Any, store: Store, name: str, *, create: bool) -> str | None:
    """The id of experiment ``name``; created (artifacts under the store's folder) if asked."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise TrackingError(f"experiment {name!r} is deleted in {store.uri!r}; restore it "
                                "(mlflow experiments restore) or pass another --experiment.")
        return exp.experiment_id
    if not create:
        return None
    location = None
    if store.artifact_root is not None:  # never MLflow's default ./mlruns in the current dir
        location = (store.artifact_root / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def check_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise bad_option("experiment", name, "a non-empty experiment name")
    return name.strip()

