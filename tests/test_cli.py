"""The CLI as a user runs it: a real subprocess, exit codes 0/1/2, one-line errors, Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli_in_process, make_table

CLI = [sys.executable, "-m", "mlexpert.cli"]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def strict_json(text):
    """Parse as a strict JSON reader (jq, JavaScript) would: NaN/Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def real(*args, **kw):
    """The CLI in a real subprocess: start-up, streams and exit codes exactly as a user's shell
    gets them (a few cases; the rest run in this process: ~2 s of imports saved each)."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=300, **kw)


run = cli_in_process  # the CLI in this process, answered as subprocess.run would


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    frame = make_table("multiclass", n=300)
    frame.insert(0, "row_key", [f"r{i}" for i in range(len(frame))])
    frame.iloc[:240].to_csv(d / "train.csv", index=False)
    frame.iloc[240:].to_csv(d / "test.csv", index=False)
    frame.iloc[240:].drop(columns=["x1"]).to_csv(d / "lacking.csv", index=False)
    return d


@pytest.fixture(scope="module")
def bundle(files):
    out = files / "model"
    r = real("fit", files / "train.csv", "--target", "y", "--time-limit", 20, "--presets", "fast",
            "--budget", 1, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    report = strict_json(r.stdout)
    assert report["task"] == "multiclass" and report["leaderboard"]
    assert any(f["check"] == "id_column" for f in report["findings"])
    provenance = json.loads((out / "manifest.json").read_text())["provenance"]
    assert provenance["command_time_limit"] == 20 and provenance["time_limit"] < 20
    return out


@pytest.mark.heavy
def test_fit_table_output(files):
    r = run("fit", files / "train.csv", "-t", "y", "--time-limit", 10, "--presets", "fast",
            "--budget", 1, "--out", files / "model_table")
    assert r.returncode == 0, r.stderr
    assert "Leaderboard" in r.stdout and "cross-validated log_loss" in r.stdout
    assert "'row_key' is excluded" in r.stdout


def test_predict_writes_ids_labels_and_probabilities(files, bundle):
    out = files / "preds.csv"
    r = run("predict", bundle, files / "test.csv", "--id-column", "row_key", "--out", out)
    assert r.returncode == 0, r.stderr
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["row_key", "y", "proba_high", "proba_low", "proba_mid"]
    assert len(preds) == 60 and preds["row_key"].iloc[0] == "r240"
    assert (preds.filter(like="proba_").sum(axis=1) - 1).abs().max() < 1e-9


def test_predict_to_stdout_and_note_on_extra_columns(files, bundle):
    frame = pd.read_csv(files / "test.csv").assign(extra_col=1)
    frame.to_csv(files / "extra.csv", index=False)
    r = run("predict", bundle, files / "extra.csv")
    assert r.returncode == 0 and r.stdout.startswith("y,proba_high")
    assert "note: ignored 1 column(s) the model does not use: 'extra_col'" in r.stderr


def test_evaluate_json_and_table(files, bundle):
    r = run("evaluate", bundle, files / "test.csv", "--json")
    assert r.returncode == 0, r.stderr
    report = strict_json(r.stdout)
    assert report["rows"] == 60 and "log_loss" in report["metrics"] and "cv" in report
    r = run("evaluate", bundle, files / "test.csv")
    assert r.returncode == 0 and "95% CI" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["fit", "{d}/train.csv", "-t", "why"], "target column 'why' is not in the data"),
    (["fit", "{d}/nope.csv", "-t", "y"], "does not exist"),
    (["fit", "{d}/train.csv", "-t", "y", "--size-limit", "-2"],
     "size_limit must be a positive number of megabytes"),
    (["predict", "{d}/train.csv", "{d}/test.csv"], "is not a directory"),
    (["predict", "{d}/model", "{d}/test.csv", "--id-column", "rowkey"], "Did you mean 'row_key'"),
    (["evaluate", "{d}/model", "{d}/missing.csv"], "does not exist"),
    (["predict", "{d}/model", "{d}/lacking.csv"], "lacking.csv' lacks 1 column(s) the model was "
                                                  "trained on: 'x1'"),
    (["evaluate", "{d}/model", "{d}/lacking.csv"], "lacking.csv' lacks 1 column(s)"),
])
def test_user_errors_are_one_line_exit_1(files, bundle, args, message):
    r = cli_in_process(*[a.format(d=files) for a in args])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_user_error_in_a_real_process_is_one_line_exit_1(files, bundle):
    """The process gives what the in-process runs of the test above are checked for."""
    r = real("predict", bundle, files / "lacking.csv")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == cli_in_process("predict", bundle, files / "lacking.csv").stderr
    assert r.stderr.startswith(f"error: file '{files / 'lacking.csv'}' lacks 1 column(s)")
    assert len(r.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(files):
    assert real("fit", files / "train.csv").returncode == 2  # no --target
    assert run("frobnicate").returncode == 2
    assert run("fit", files / "train.csv", "-t", "y", "--time-limit", "soon").returncode == 2


def test_out_refuses_foreign_directory_and_existing_bundle(files, bundle):
    foreign = files / "docs"
    foreign.mkdir(exist_ok=True)
    (foreign / "notes.txt").write_text("mine")
    r = run("fit", files / "train.csv", "-t", "y", "--out", foreign)
    assert r.returncode == 1 and "not a model bundle" in r.stderr
    assert (foreign / "notes.txt").read_text() == "mine"
    r = run("fit", files / "train.csv", "-t", "y", "--out", bundle)
    assert r.returncode == 1 and "--force" in r.stderr


def _default_sigint() -> None:
    """A child started from a shell's background job inherits SIGINT ignored (and Python then
    keeps it so): give it the default, as a terminal's foreground process has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.heavy
def test_ctrl_c_during_fit_leaves_no_half_bundle(tmp_path):
    make_table("binary", n=20_000).to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "model"
    proc = subprocess.Popen([*CLI, "fit", str(tmp_path / "big.csv"), "-t", "y", "--time-limit",
                             "60", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=_default_sigint)
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in Path(tmp_path).iterdir()] == ["big.csv"]


def test_predict_refuses_unreadable_values_naming_columns_and_lines(files, bundle):
    """'abc' or 'true' for a number and a date in year 3000 are refused (exit 1, one line naming
    the column and the file's lines) as the library and the service refuse them; --invalid
    missing predicts them as missing values."""
    frame = pd.read_csv(files / "test.csv").head(6).astype({"x2": object, "when": object})
    frame.loc[1, "x2"] = "abc"
    frame.loc[3, "x2"] = "true"
    frame.loc[4, "when"] = "3000-01-01"
    frame.to_csv(files / "dirty.csv", index=False)
    r = run("predict", bundle, files / "dirty.csv")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert "\n" not in line, line
    assert "column 'x2' (a number expected) at lines 3 ('abc'), 5 ('true')" in line
    assert "column 'when' (a date expected) at line 6 ('3000-01-01')" in line
    assert "--invalid missing" in line
    r = run("predict", bundle, files / "dirty.csv", "--invalid", "missing")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(__import__("io").StringIO(r.stdout))) == 6
    r = run("predict", bundle, files / "dirty.csv", "--invalid", "ignore")
    assert r.returncode == 1 and "invalid must be" in r.stderr
