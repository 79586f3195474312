"""Shared fixtures: small mixed-type tables for each task, and models fitted once per session;
and the ``heavy`` mark (real fits or servers over a few seconds), which `make test-fast` skips."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# fits (CLI ones included) log to MLflow only in tests/tracking, which asks for it explicitly
os.environ.setdefault("MLEXPERT_TRACK", "0")
# free text stays TF-IDF (no sentence-embedding candidates, no torch import) except in
# tests/features/test_embeddings.py, which turns them on: every balanced fit of a table with a
# text column would otherwise encode its texts and fit two more candidates
os.environ.setdefault("MLEXPERT_TEXT_EMBEDDINGS", "0")
# fit leaves the compiled path to the first small predictions, as before fit built it (a fit
# that ends early otherwise goes on converting its ONNX graph in the background while the next
# tests run), except in tests/runtime/test_choose.py's fit-time tests, which turn it on
os.environ.setdefault("MLEXPERT_COMPILE_IN_FIT", "0")
# balanced leaves out the mlp it tries on small tables (torch's import and 5 folds of training
# in every small time-limited fit: make test's pytest 378 -> 457 s), except in
# tests/search/test_affordable.py, which turns it on
os.environ.setdefault("MLEXPERT_AFFORDABLE", "0")

TASKS = ("binary", "multiclass", "regression")

# Fixtures that fit through the CLI, start a server or a cluster: every test using one (directly
# or through another fixture) is marked ``heavy``. A test that fits, or runs CLI subprocesses, on
# its own past a few seconds says so itself with ``@pytest.mark.heavy`` (or a module's pytestmark). ``fitted``, ``tree_models`` and ``tables`` are not
# here: built once (~10 s together), they serve most of the fast tier.
HEAVY_FIXTURES = frozenset({
    "bundle",          # test_cli, report/test_cli, export/test_export_cli: a bundle fitted by the CLI
    "distilled",       # export/test_distill: three teachers fitted and distilled
    "project",         # tracking/test_cli: two CLI fits at once
    "dask_executor",   # distributed: a LocalCluster, and fits on it
    "server",          # tracking: a real MLflow server
    "store_uri",       # tracking: each store, the real server among them
    "other_binary",    # a second fit of the binary table
})


# Folders whose tests share session resources (MLflow servers, a Dask cluster): each runs on one
# pytest-xdist worker as a whole, and first, so those start once and never leave the other
# worker idle at the end; elsewhere a test file is the unit (its module fixtures built once)
SHARED_FOLDERS = ("tracking", "distributed")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``), each worker keeps to its own core where the OS lets a
    process choose (Linux): fits then size their threads to one core instead of two workers
    oversubscribing both."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    pin = getattr(os, "sched_setaffinity", None)
    if worker.startswith("gw") and pin is not None:
        cores = sorted(os.sched_getaffinity(0))
        pin(0, {cores[int(worker[2:]) % len(cores)]})
        # BLAS sized its threads to both cores when numpy was imported, before the pin: two
        # threads spinning on one core made small matrix products 10-40x slower (the mlp
        # contribution tests: 0.5 s alone, 19 s in the suite)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The main process launches the MLflow test servers before xdist starts its workers."""
    from tests.tracking.conftest import launch_early

    launch_early(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.tracking.conftest import stop_early

    stop_early()


def _unit(nodeid: str) -> str:
    """What one pytest-xdist worker runs whole: a shared folder, or else a test file."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[1] in SHARED_FOLDERS else "/".join(parts)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadscope`` (``make test``) with our units instead of modules. pytest-xdist's own
    ``loadgroup`` relabels node ids, which pytest 9.2 no longer reads (Node.nodeid is ``_id``):
    every test was dealt out alone, and each module fixture was built on both workers."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return Units(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``heavy`` every test that uses a fixture of HEAVY_FIXTURES (before -m selects), and
    under pytest-xdist put the shared folders first (a worker each, from the start)."""
    for item in items:
        if HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.heavy)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # serially, tracking/ stays late: see its conftest
        first = {name: i for i, name in enumerate(SHARED_FOLDERS)}
        items.sort(key=lambda item: first.get(item.nodeid.split("/")[1], len(first)))


def cli_in_process(*args) -> subprocess.CompletedProcess:
    """The CLI run inside this process (typer's CliRunner), answered as ``subprocess.run`` would:
    for the many error cases of one command (a real process costs ~1.5 s of imports each; each
    CLI test file keeps real-process cases). An exception the CLI let escape fails the test."""
    from typer.testing import CliRunner

    from mlexpert.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def make_table(task: str, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric, categorical (with missing), datetime and free-text columns with real signal."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    color = rng.choice(["red", "green", "blue", "yellow"], size=n)
    size = rng.choice(["S", "M", "L"], size=n).astype(object)
    size[rng.random(n) < 0.1] = None
    x1_missing = x1.copy()
    x1_missing[rng.random(n) < 0.05] = np.nan
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    words = np.array(["good", "bad", "fine", "great", "poor", "okay", "nice", "awful"])
    text = [" ".join(rng.choice(words, size=5)) for _ in range(n)]
    signal = 1.5 * x1 + x2 + (color == "red") * 1.0 - (color == "blue") * 0.8
    frame = pd.DataFrame({"x1": x1_missing, "x2": x2, "color": color, "size": size,
                          "when": when.strftime("%Y-%m-%d"), "review": text})
    frame["y"] = target_of(signal, task, rng)
    return frame


def target_of(signal: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
    """A noisy target of ``task`` from a per-row signal: yes/no, low/mid/high, or a number."""
    n = len(signal)
    if task == "binary":
        return np.where(signal + rng.normal(scale=0.7, size=n) > 0.3, "yes", "no")
    if task == "multiclass":
        return pd.cut(signal + rng.normal(scale=0.5, size=n), [-np.inf, -0.5, 0.7, np.inf],
                      labels=["low", "mid", "high"]).astype(str).to_numpy()
    return 3.0 * signal + rng.normal(scale=0.5, size=n)


@pytest.fixture(scope="session")
def tables() -> dict[str, pd.DataFrame]:
    return {task: make_table(task) for task in TASKS}


@pytest.fixture(scope="session")
def fitted(tables):
    """One model per task, fitted once (fast preset, two tuning trials)."""
    import mlexpert

    return {task: mlexpert.fit(tables[task], target="y", time_limit=20, seed=0, presets="fast",
                               budget=2)
            for task in TASKS}


@pytest.fixture(scope="session")
def other_binary(tables):
    """Another binary model of the same columns (80 % of the rows, another seed): a second
    version for reloads, a compiled path that must not pass another model's check."""
    import mlexpert

    return mlexpert.fit(tables["binary"].sample(frac=0.8, random_state=3), target="y",
                        time_limit=15, seed=1, presets="fast", budget=1)
