"""`mlexpert fit` tracking by default into ./.mlexpert, two fits at once on one SQLite store,
`runs list/compare`, `registry ...`, and their one-line errors (real subprocesses)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import make_table
from tests.tracking.conftest import free_port

CLI = [sys.executable, "-m", "mlexpert.cli"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLEXPERT_TRACK", "MLEXPERT_HOME", "MLFLOW_TRACKING_URI")}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONPATH=REPO, **extra)
    return env


def run(*args, cwd, env=None):
    """The CLI in a real subprocess (start-up, stdout/stderr and exit code as a user sees them)."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env or _env(), timeout=300)


def invoke(*args, cwd):
    """The CLI in this process (Typer's runner), pointed at the project's store: saves the
    interpreter and MLflow start-up of a subprocess for commands whose output is checked."""
    from typer.testing import CliRunner

    from mlexpert.cli import app

    args = [str(a) for a in args]
    if args[0] in ("runs", "registry") and "--tracking-uri" not in args:
        args += ["--tracking-uri", f"sqlite:///{cwd / '.mlexpert' / 'mlflow.db'}"]
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, args, env={"NO_COLOR": "1", "COLUMNS": "200",
                                                  "MLEXPERT_TRACK": None})  # as a user runs it
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A project folder where two `mlexpert fit` run at once with no tracking options: both
    must land in ./.mlexpert (created on first use by both, concurrently) intact."""
    d = tmp_path_factory.mktemp("project")
    make_table("binary", n=150, seed=5).to_csv(d / "train.csv", index=False)
    fit = [*CLI, "fit", "train.csv", "-t", "y", "--time-limit", 15, "--presets", "fast",
           "--budget", 0, "--no-card", "--json"]  # the card is not what this checks
    procs = [subprocess.Popen([*map(str, fit), "--out", f"m{i}", "--seed", str(i)], cwd=d,
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    runs = [json.loads(out)["run"] for out, _ in outs]
    return d, runs


def test_fit_tracks_by_default_into_the_work_folder(project):
    d, runs = project
    assert all(r["run_id"] and r["pending"] is None for r in runs)
    assert runs[0]["tracking_uri"] == f"sqlite:///{d / '.mlexpert' / 'mlflow.db'}"
    assert (d / ".mlexpert" / "artifacts").is_dir()
    assert not (d / "mlruns").exists() and not (d / "mlflow.db").exists()


def test_two_fits_at_once_leave_the_store_intact(project):
    d, runs = project
    db = sqlite3.connect(d / ".mlexpert" / "mlflow.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    r = run("runs", "list", "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["runs"]
    assert {x["run_id"] for x in listed} == {x["run_id"] for x in runs}
    assert all(x["status"] == "FINISHED" and x["metric"] == "roc_auc" for x in listed)


def test_runs_compare(project):
    d, runs = project
    a, b = runs[0]["run_id"], runs[1]["run_id"]
    r = invoke("runs", "compare", a, f"runs:/{b}", "--json", cwd=d)
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["same_data"] is True
    assert {"param": "seed", "a": "1", "b": "2"} in report["params_differing"]
    auc = next(m for m in report["metrics"] if m["metric"] == "cv_roc_auc")
    assert auc["delta"] == pytest.approx(auc["b"] - auc["a"])
    table = invoke("runs", "compare", a, b, cwd=d)
    assert table.exit_code == 0 and "B - A" in table.stdout and "seed" in table.stdout


def test_registry_commands(project):
    d, runs = project
    r = invoke("registry", "register", runs[0]["run_id"], "--name", "churn", "--json", cwd=d)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["version"] == 1
    r = invoke("registry", "register", "m2", "--name", "churn", "--reason", "from the bundle",
            "--json", cwd=d)  # a bundle directory: logged as a new run, then registered
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["version"] == 2
    for version in (1, 2):
        r = invoke("registry", "promote", "churn", "--version", version, "--to", "production",
                "--reason", f"release {version}", "--who", "ci", cwd=d)
        assert r.exit_code == 0, r.stderr
    shown = json.loads(invoke("registry", "show", "churn", "--json", cwd=d).stdout)
    assert [v["stage"] for v in shown["versions"]] == ["archived", "production"]
    table = invoke("registry", "show", "churn", cwd=d)
    assert "release 2" in table.stdout and "production" in table.stdout
    listed = json.loads(invoke("registry", "list", "--json", cwd=d).stdout)["models"]
    assert listed == [{"name": "churn", "versions": 2, "latest": 2, "production": 2,
                       "staging": None}]
    r = run("predict", "models:/churn@production", "train.csv", cwd=d)  # the default store
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "y,proba_no,proba_yes"


@pytest.mark.parametrize("args, code, message", [
    (("runs", "list", "--tracking-uri", "http://127.0.0.1:{port}"), 1,
     "cannot reach the tracking server"),
    (("runs", "list", "--tracking-uri", "foo://bar"), 1, "--tracking-uri must be"),
    (("runs", "list", "--experiment", "nope"), 1, "no experiment named 'nope'"),
    (("runs", "compare", "abc", "def"), 1, "run must be a run id"),
    (("registry", "show", "nosuch"), 1, "no registered model named 'nosuch'"),
    (("registry", "promote", "churn", "--version", "1", "--to", "prod"), 2, "staging or production"),
    (("registry", "archive", "churn", "--version", "0"), 2, ""),
    (("fit", "train.csv", "-t", "y", "--tracking-uri", "foo://bar", "--out", "never"), 1,
     "--tracking-uri must be"),
], ids=["server-down", "bad-uri", "unknown-experiment", "bad-run-ids", "unknown-model",
        "bad-stage", "bad-version", "fit-bad-uri-fails-before-fitting"])
def test_cli_errors(project, args, code, message):
    d, _ = project
    args = [a.format(port=free_port()) for a in args]
    r = invoke(*args, cwd=d)
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert message in r.stderr
    if code == 1:
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (d / "never").exists()


@pytest.mark.heavy
def test_no_track_logs_nothing(tmp_path):
    make_table("regression", n=80, seed=6).to_csv(tmp_path / "train.csv", index=False)
    r = run("fit", "train.csv", "-t", "y", "--time-limit", 10, "--presets", "fast", "--budget",
            0, "--no-track", "--tracking-uri", "foo://ignored", "--json", cwd=tmp_path,
            env=_env(MLEXPERT_TRACK="1"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["run"] is None
    assert not (tmp_path / ".mlexpert").exists()


def test_runs_help_does_not_import_mlflow():
    code = ("import sys\nsys.argv=['mlexpert','runs','--help']\nimport mlexpert.cli\n"
            "try:\n    mlexpert.cli.main()\nexcept SystemExit:\n    pass\n"
            "print('MLFLOW' if 'mlflow' in sys.modules else 'LIGHT')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=60).stdout
    assert out.strip().endswith("LIGHT")


def test_runs_sync_with_nothing_pending(project):
    d, _ = project
    r = invoke("runs", "sync", "--json", cwd=d)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"synced": [], "failed": []}
