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


def wait_healthy(url: str, proc: subprocess.Popen | Server, limit: float) -> None:
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
    # no job runner: MLflow 3 otherwise starts ~8 huey consumer processes per server (GenAI
    # scorer jobs), each importing MLflow (~270 MB) and polling: seconds of CPU the tests need
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                            start_new_session=True, env=env)
    if hasattr(os, "sched_setaffinity"):  # a pinned xdist worker's child would share its core
        os.sched_setaffinity(proc.pid, range(os.cpu_count() or 1))
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


SERVERS_ENV = "MLEXPERT_TEST_MLFLOW_SERVERS"  # "url@pid url@pid": launched by the main process
_LAUNCHED: list[tuple[str, subprocess.Popen]] = []
_EARLY_FOLDERS: list[Path] = []


def _launch_both(parent: Path) -> list[tuple[str, subprocess.Popen]]:
    return [launch_server(parent / name) for name in ("mlflow-server", "doomed")]


def _runs_tracking(config: pytest.Config) -> bool:
    """Whether this run's paths hold tests/tracking and its marks keep the server tests."""
    if "not heavy" in (config.option.markexpr or ""):
        return False  # every test that needs a server is heavy (tests/conftest.py)
    here = Path(__file__).parent.resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == here or here in path.parents or path in here.parents:
            return True
    return False


def launch_early(config: pytest.Config) -> None:
    """Called by the main process (the xdist controller, or the one serial process) when the
    session starts: the servers' start-up (~11 s each, mostly imports) then runs on the cores
    while workers start and collect, never pinned to the core of the worker running tracking/
    (tests/conftest.py pins workers; a pinned worker's children share its one core, and there
    two start-ups and the tests took 62 s). Workers find them through SERVERS_ENV."""
    if os.environ.get("PYTEST_XDIST_WORKER") or SERVERS_ENV in os.environ \
            or not _runs_tracking(config):
        return
    _EARLY_FOLDERS.append(Path(tempfile.mkdtemp(prefix="mlexpert-mlflow-")))
    _LAUNCHED.extend(_launch_both(_EARLY_FOLDERS[-1]))
    os.environ[SERVERS_ENV] = " ".join(f"{url}@{proc.pid}" for url, proc in _LAUNCHED)


def stop_early() -> None:
    """At the end of the session, the main process stops what it launched (used or not)."""
    for _, proc in _LAUNCHED:
        stop(proc)
    _LAUNCHED.clear()
    os.environ.pop(SERVERS_ENV, None)
    for folder in _EARLY_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


class Server:
    """A real MLflow server known by its URL and process group, wherever it was launched."""

    def __init__(self, url: str, pid: int, proc: subprocess.Popen | None = None):
        self.url, self.pid, self._proc = url, pid, proc

    def poll(self) -> int | None:
        if self._proc is not None:
            return self._proc.poll()
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -1
        return None

    def kill(self) -> None:
        """SIGKILL the server's process group and wait until its port refuses connections."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self._proc is not None:
            self._proc.wait(timeout=10)
            return
        port = int(self.url.rsplit(":", 1)[1])
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    return
            time.sleep(0.1)


@pytest.fixture(scope="session")
def _servers(tmp_path_factory):
    """Two real MLflow servers, not waited for: the session's, and a spare that test_faults
    kills mid-fit. Launched by the main process when the session started (``launch_early``), or
    here (a run that named no tracking path), then together, so their start-ups overlap."""
    owned: list[tuple[str, subprocess.Popen]] = []
    if SERVERS_ENV in os.environ:
        servers = [Server(url, int(pid)) for url, pid in
                   (item.rsplit("@", 1) for item in os.environ[SERVERS_ENV].split())]
    else:
        owned = _launch_both(tmp_path_factory.mktemp("mlflow"))
        servers = [Server(url, proc.pid, proc) for url, proc in owned]
    try:
        yield servers
    finally:
        for _, proc in owned:
            stop(proc)


@pytest.fixture(scope="session")
def server(_servers):
    """The URI of a real MLflow tracking server on loopback."""
    wait_healthy(_servers[0].url, _servers[0], SERVER_START_S)
    return _servers[0].url


@pytest.fixture
def doomed_server(_servers):
    """The spare MLflow server (a ``Server``), for the one test that kills it."""
    wait_healthy(_servers[1].url, _servers[1], SERVER_START_S)
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
