"""`mlexpert audit` as a user runs it: strict JSON, --fail-on exit codes, one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import cli_in_process

CLI = [sys.executable, "-m", "mlexpert.cli", "audit"]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
pytestmark = pytest.mark.heavy  # each test runs the audit


def run(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory, cancer):
    d = tmp_path_factory.mktemp("audit_cli")
    cancer.iloc[:450].to_csv(d / "train.csv", index=False)
    cancer.iloc[450:].to_csv(d / "test.csv", index=False)
    cancer.assign(leak=np.where(cancer["target"] == 1, "y", "n")).to_csv(d / "leaky.csv", index=False)
    return d


def test_json_is_one_strict_object(files):
    r = run(files / "train.csv", "--target", "target", "--test", files / "test.csv", "--json")
    assert r.returncode == 0, r.stderr

    def refuse(name):
        raise ValueError(name)

    out = json.loads(r.stdout, parse_constant=refuse)
    assert {"findings", "summary"} <= set(out)
    assert out["summary"]["test_rows"] == 119
    assert any(f["check"] == "shift" for f in out["findings"])


def test_fail_on_sets_the_exit_code(files):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    def code(*args):  # in process: the exit codes are the command's, not the interpreter's
        return CliRunner().invoke(app, ["audit", *map(str, args)])

    assert code(files / "leaky.csv", "-t", "target").exit_code == 0
    r = code(files / "leaky.csv", "-t", "target", "--fail-on", "error")
    assert r.exit_code == 1 and "target_leak" in r.output
    assert code(files / "train.csv", "-t", "target", "--fail-on", "error").exit_code == 0
    assert code(files / "train.csv", "-t", "target", "--fail-on", "nonsense").exit_code == 2


def test_user_errors_are_one_line(files):
    r = cli_in_process("audit", files / "nope.csv", "-t", "target")
    assert r.returncode == 1 and "nope.csv" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli_in_process("audit", files / "train.csv", "-t", "tgt")
    assert r.returncode == 1 and "'tgt'" in r.stderr and "Traceback" not in r.stderr
