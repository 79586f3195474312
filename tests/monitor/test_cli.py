"""`mlexpert drift` as a user or a scheduler runs it: strict JSON, HTML, --fail-on exit codes,
one-line errors."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import cli_in_process, make_table

CLI = [sys.executable, "-m", "mlexpert.cli", "drift"]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
pytestmark = pytest.mark.heavy  # each test runs the drift check


def real(*args):
    """In a real subprocess: the exit codes a scheduler reads (the other cases run in this
    process, as subprocess.run would answer: ~2 s of imports saved each)."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=300)


def run(*args):
    return cli_in_process("drift", *args)


@pytest.fixture(scope="module")
def files(fitted, tmp_path_factory):
    d = tmp_path_factory.mktemp("drift_cli")
    fitted["multiclass"].save(d / "model")
    make_table("multiclass", n=600, seed=41).to_csv(d / "same.csv", index=False)
    moved = make_table("multiclass", n=600, seed=42)
    moved["x1"] = moved["x1"] * 3 + 2
    moved.to_csv(d / "moved.csv", index=False)
    return d


def test_json_and_html(files):
    r = run(files / "model", files / "moved.csv", "--labels", "y", "--window", "300", "--json",
            "--out", files / "r.html")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["drift_detected"] is True and d["drifted_columns"][0] == "x1"
    assert {"column", "test", "statistic", "p_value", "effect_size", "drifted"} <= set(d["columns"][0])
    assert d["prediction_drift"]["drifted"] and d["performance"]["degraded"]
    assert len(d["performance"]["windows"]) == 2
    assert (files / "r.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("data", "fail_on", "code"), [
    ("same.csv", "drift", 0), ("moved.csv", "performance", 1)])
def test_fail_on_exit_codes(files, data, fail_on, code):
    r = real(files / "model", files / data, "--labels", "y", "--fail-on", fail_on)
    assert r.returncode == code, r.stdout + r.stderr
    assert ("drift detected" in r.stdout) == (data == "moved.csv")
    assert "mlogloss" not in r.stdout and "log_loss on 600 labelled rows" in r.stdout


def test_user_and_usage_errors(files, tmp_path):
    r = run(files / "model", tmp_path / "nope.csv")
    assert r.returncode == 1 and "nope.csv" in r.stderr and "Traceback" not in r.stderr
    r = run(files / "same.csv", files / "same.csv")  # a table where the bundle goes
    assert r.returncode == 1 and "not a directory" in r.stderr
    r = run(files / "model", files / "same.csv", "--fail-on", "performance")
    assert r.returncode == 2 and "needs --labels" in r.stderr
    r = run(files / "model", files / "same.csv", "--fail-on", "sometimes")
    assert r.returncode == 2
    r = run(files / "model", files / "same.csv", "--window", "2", "--labels", "y")
    assert r.returncode == 2
    assert not list(tmp_path.iterdir())
