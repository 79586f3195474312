"""Fixtures for the service: saved bundles, tree-model bundles, and a real uvicorn server."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import TASKS

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60


def tree_table(task: str, n: int = 300, seed: int = 1) -> pd.DataFrame:
    """An interaction the linear model cannot fit, so the fast preset ships LightGBM."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    shade = rng.choice(["p", "q", "r"], n).astype(object)
    shade[rng.random(n) < 0.1] = None
    when = (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D"))
    s = np.sign(a * b) + (shade == "p") * 0.5
    frame = pd.DataFrame({"a": a, "b": b, "shade": shade, "when": when.strftime("%Y-%m-%d")})
    frame["y"] = {"binary": np.where(s + rng.normal(0, .3, n) > 0, 1, 0),
                  "multiclass": np.where(s > 0.6, "hi", np.where(s < -0.5, "lo", "mid")),
                  "regression": 3 * s + rng.normal(0, .2, n)}[task]
    return frame


@pytest.fixture(scope="session")
def bundles(fitted, tmp_path_factory) -> dict[str, Path]:
    """The session's fitted models (linear, with text and dates) saved as bundles."""
    root = tmp_path_factory.mktemp("bundles")
    return {task: fitted[task].save(root / task) for task in TASKS}


@pytest.fixture(scope="session")
def tree_models():
    """One LightGBM model per task (fast preset on an interaction)."""
    import mlexpert

    return {task: mlexpert.fit(tree_table(task), target="y", time_limit=20, seed=0,
                               presets="fast", budget=1) for task in TASKS}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `mlexpert serve` process on 127.0.0.1, stopped by its PID."""

    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def run_server(source: Path | str, *args: str, env: dict[str, str] | None = None,
               tmp: Path, ready_headers: dict[str, str] | None = None):
    port = free_port()
    log = tmp / f"server-{port}.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE",
                **(env or {})}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "mlexpert.cli", "serve", str(source),
                                 "--port", str(port), *args], stdout=fh, stderr=subprocess.STDOUT,
                                env=full_env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    server = Server(proc, url, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, f"server exited early:\n{server.log_text()}"
            assert time.monotonic() < deadline, f"server not ready:\n{server.log_text()}"
            try:
                if httpx.get(url + "/ready", headers=ready_headers or {}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 20) -> int:
    """SIGTERM by PID, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def record_of(frame: pd.DataFrame, i: int = 0) -> dict:
    """Row ``i`` of a table (target dropped) as a JSON-able request record."""
    row = frame.drop(columns="y").iloc[i]
    return {k: (None if (isinstance(v, float) and np.isnan(v)) or v is None else
                (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
