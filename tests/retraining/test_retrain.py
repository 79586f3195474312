"""mlexpert.retrain on a real table (scikit-learn's digits) and a real registry (SQLite store):
a challenger fitted on more rows of the same source is promoted with its evidence; one fitted on
shuffled labels is registered but refused, and production stays where it was."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.errors import ConfigError, DataError
from tests.serve.conftest import ROOT

pytestmark = pytest.mark.heavy  # real fits and a registry

FIT = dict(time_limit=10, seed=0, presets="fast", budget=1)
AGAIN = dict(time_limit=60, seed=0)  # presets and budget (1 trial) come from the champion's own
# call: the time limit is only a safety cap, so a loaded machine gets the same models


@pytest.fixture(scope="module")
def digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    d = load_digits(as_frame=True)
    frame = d.frame.rename(columns={"target": "digit"})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def registry(digits, tmp_path_factory):
    """'digits' version 1 in production: fitted on 120 rows only."""
    from mlexpert.tracking import promote, register

    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLEXPERT_HOME", str(home))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    old = tmp_path_factory.mktemp("old") / "old.csv"
    digits.iloc[:120].to_csv(old, index=False)
    champion = mlexpert.fit(str(old), "digit", track=False, **FIT)
    bundle = champion.save(tmp_path_factory.mktemp("champ") / "champ")
    v = register(str(bundle), "digits", uri=uri)
    promote("digits", v["version"], "production", uri=uri)
    yield {"uri": uri, "old": old, "champion": champion, "bundle": bundle}
    mp.undo()


def _production(uri: str) -> int:
    from mlexpert.tracking import show

    return next(v["version"] for v in show("digits", uri=uri)["versions"]
                if v["stage"] == "production")


def test_more_data_from_the_same_source_is_promoted(digits, registry):
    uri = registry["uri"]
    new = digits.iloc[120:600]
    result = mlexpert.retrain("digits", new, tracking_uri=uri, **AGAIN)
    v = result.verdict
    assert v.promote, v.reason
    assert v.comparison.metric == "log_loss" and v.comparison.challenger < v.comparison.champion
    assert v.comparison.difference_interval[1] < 0  # significantly lower log loss
    assert result.holdout_rows == 96 and result.training_rows == 384
    assert result.promoted and result.registered["stage"] == "production"
    assert _production(uri) == result.registered["version"]
    gate = result.registered["gate"]
    assert gate["verdict"] == "passed" and gate["metric"] == "log_loss"
    assert gate["ece"].startswith("passed") and gate["latency_ms_per_row"].startswith("passed")
    # the holdout is the newest rows and the comparison is the one computed offline
    from mlexpert.evaluate import compare_paired, get_metric

    recent = new.iloc[-96:]
    X, y = recent.drop(columns="digit"), recent["digit"].to_numpy()
    idx = {str(c): i for i, c in enumerate(registry["champion"].classes)}
    yy = np.array([idx[str(c)] for c in y])
    want = compare_paired(get_metric("log_loss", "multiclass"), yy,
                          registry["champion"].predict_proba(X).to_numpy(),
                          result.challenger.predict_proba(X).to_numpy())
    assert v.comparison.champion == pytest.approx(want.champion)
    assert v.comparison.challenger == pytest.approx(want.challenger)


def test_shuffled_labels_are_registered_but_refused(digits, registry):
    uri = registry["uri"]
    before = _production(uri)
    new = digits.iloc[120:600].copy()  # the newest 96 rows judge, with their true labels
    older = new.index[:-96]
    new.loc[older, "digit"] = np.random.default_rng(1).permutation(new.loc[older, "digit"])
    result = mlexpert.retrain("digits", new, tracking_uri=uri, **AGAIN)
    assert not result.verdict.promote and not result.promoted
    assert "not promoted" in result.verdict.reason
    assert result.registered["stage"] == "none"
    assert result.registered["gate"]["verdict"] == "refused"
    assert _production(uri) == before


def test_with_reference_reads_the_champions_training_file_again(digits, registry, tmp_path):
    result = mlexpert.retrain(registry["bundle"], digits.iloc[120:400], reference=True,
                              register=False, **AGAIN)
    assert result.training_rows == 120 + 224 and result.registered is None
    changed = pd.read_csv(registry["old"])
    changed.iloc[0, 0] += 1
    changed.to_csv(registry["old"], index=False)
    with pytest.raises(DataError, match="changed since the champion was fitted"):
        mlexpert.retrain(registry["bundle"], digits.iloc[120:400], reference=True,
                         register=False, **AGAIN)


def test_refusals_are_one_line_and_name_the_fix(digits, registry):
    b = registry["bundle"]
    with pytest.raises(ConfigError, match="not a registered model"):
        mlexpert.retrain(b, digits.iloc[120:400], **AGAIN)
    with pytest.raises(ConfigError, match="holdout must be"):
        mlexpert.retrain(b, digits.iloc[120:400], holdout=1.5, register=False)
    with pytest.raises(DataError, match="both need at least 30"):
        mlexpert.retrain(b, digits.iloc[120:200], register=False)
    with pytest.raises(DataError, match="'digit'"):
        mlexpert.retrain(b, digits.iloc[120:400].drop(columns="digit"), register=False)


@pytest.mark.slow  # ~11 s: make test-slow; CI time (session 20)
def test_cli_retrain_reports_the_verdict(digits, registry, tmp_path):
    data = tmp_path / "new.csv"
    digits.iloc[120:400].to_csv(data, index=False)
    out = tmp_path / "challenger"
    r = subprocess.run([sys.executable, "-m", "mlexpert.cli", "retrain", str(registry["bundle"]),
                        "--data", str(data), "--no-register", "--time-limit", "10",
                        "--out", str(out), "--json"], capture_output=True, text=True,
                       timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                         "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["verdict"]["comparison"]["rows"] == 56 and body["registered"] is None
    assert (out / "manifest.json").is_file()
    r = subprocess.run([sys.executable, "-m", "mlexpert.cli", "retrain", "digits", "--data",
                        str(data), "--reference", "a.csv", "--with-reference"],
                       capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "not both" in r.stderr and "Traceback" not in r.stderr
