"""Real MLflow stores for the tracking tests: an embedded SQLite store and a real
`mlflow server --workers 1` on 127.0.0.1 (started once per session, stopped by its PID)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SERVER_START_S = 90  # an idle machine needs ~11 s; a loaded 2-core one several times that


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, limit: float) -> None:
    import httpx

    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mlflow server at {url} not healthy within {limit} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM by PID (its process group: the server and its worker), SIGKILL after 5 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def launch_server(folder: Path) -> tuple[str, subprocess.Popen]:
    """A real MLflow server process on a free loopback port, not yet waited for."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
           "--artifacts-destination", str(folder / "artifacts")]
    log = open(folder / "server.log", "wb")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                            start_new_session=True, env=env)
    return f"http://127.0.0.1:{port}", proc


def start_server(folder: Path) -> tuple[str, subprocess.Popen]:
    """A real MLflow server, once it answers /health."""
    url, proc = launch_server(folder)
    try:
        wait_healthy(url, proc, SERVER_START_S)
    except BaseException:
        stop(proc)
        raise
    return url, proc


_LAUNCHED: list[tuple[str, subprocess.Popen]] = []  # started when collection ends
_EARLY_FOLDERS: list[Path] = []


def _launch_both(parent: Path) -> list[tuple[str, subprocess.Popen]]:
    return [launch_server(parent / name) for name in ("mlflow-server", "doomed")]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch the servers as soon as the tests that need them are known: their start-up (~11 s,
    mostly imports) then runs while the tests before tracking/ do, not on the clock."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # every xdist worker collects every test; the one running tracking/ starts them
    if any("_servers" in getattr(item, "fixturenames", ()) for item in session.items):
        _EARLY_FOLDERS.append(Path(tempfile.mkdtemp(prefix="mlexpert-mlflow-")))
        _LAUNCHED.extend(_launch_both(_EARLY_FOLDERS[-1]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Servers launched early but never used (the run stopped before tracking/) are stopped too."""
    for _, proc in _LAUNCHED:
        stop(proc)
    _LAUNCHED.clear()
    for folder in _EARLY_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def _servers(tmp_path_factory):
    """Two real MLflow servers launched together, so their start-ups (~11 s each, mostly one
    core's imports) overlap: the session's, and a spare that test_faults kills mid-fit."""
    launched = list(_LAUNCHED) or _launch_both(tmp_path_factory.mktemp("mlflow"))
    _LAUNCHED.clear()
    try:
        for url, proc in launched:
            wait_healthy(url, proc, SERVER_START_S)
        yield launched
    finally:
        for _, proc in launched:
            stop(proc)


@pytest.fixture(scope="session")
def server(_servers):
    """The URI of a real MLflow tracking server on loopback."""
    return _servers[0][0]


@pytest.fixture
def doomed_server(_servers):
    """(URI, process) of the spare MLflow server, for the one test that kills it."""
    return _servers[1]


@pytest.fixture(scope="session")
def home(tmp_path_factory):
    """A work folder for this session (MLEXPERT_HOME), so nothing lands in the repository."""
    folder = tmp_path_factory.mktemp("mlexpert-home")
    saved = os.environ.get("MLEXPERT_HOME")
    os.environ["MLEXPERT_HOME"] = str(folder)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("MLEXPERT_HOME", None)
        else:
            os.environ["MLEXPERT_HOME"] = saved


@pytest.fixture(scope="session")
def sqlite_uri(home):
    return f"sqlite:///{home / 'mlflow.db'}"


@pytest.fixture(scope="session", params=["sqlite", "server"])
def store_uri(request, home):
    """Each tracking test runs on the embedded SQLite store and on the real server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_uri")
    return request.getfixturevalue("server")


@pytest.fixture(scope="session")
def other_schema_model():
    """A binary model whose input lacks the 'review' column (for schema checks)."""
    import mlexpert
    from tests.conftest import make_table

    return mlexpert.fit(make_table("binary", n=150, seed=1).drop(columns=["review"]), target="y",
                        time_limit=10, seed=0, presets="fast", budget=0)


@pytest.fixture(autouse=True)
def _work_folder(home):
    """Every tracking test runs with MLEXPERT_HOME set to the session's work folder."""
    return home


@pytest.fixture(scope="session")
def logged(store_uri, fitted, home, tmp_path_factory):
    """Runs logged once per store: the binary model (its bundle holding a model card) twice,
    and the multiclass model."""
    from mlexpert.tracking import Tracker

    bundle = tmp_path_factory.mktemp("bundles") / "binary"
    fitted["binary"].save(bundle)
    (bundle / "card.html").write_text("<html><body>card</body></html>")
    tracker = Tracker(store_uri, experiment="tests")
    return {"binary": tracker.log_fit(fitted["binary"], bundle=bundle,
                                      command=["mlexpert", "fit", "train.csv"]),
            "binary_again": tracker.log_fit(fitted["binary"]),
            "multiclass": tracker.log_fit(fitted["multiclass"]),
            "bundle": bundle, "uri": store_uri}
