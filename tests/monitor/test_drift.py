"""mlexpert.drift from a bundle and from two tables: the reference kept at fit time, prediction
drift, performance with labels, the JSON shape, and hostile input."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlexpert
from mlexpert.bundle import REFERENCE
from mlexpert.errors import BundleError, ConfigError, DataError, SchemaError
from mlexpert.monitor import drift
from mlexpert.monitor._reference import REFERENCE_ROWS
from tests.conftest import TASKS, make_table

ROW_KEYS = {"column": str, "test": str, "statistic": float, "effect_size": float, "drifted": bool}


def check_shape(d: dict) -> None:
    """The JSON object of the issue: these keys with these types (more keys may follow)."""
    assert isinstance(d["drift_detected"], bool) and isinstance(d["drift_share"], float)
    assert 0 <= d["drift_share"] <= 1
    assert d["columns"], d
    for row in d["columns"]:
        for key, kind in ROW_KEYS.items():
            assert isinstance(row[key], kind), (key, row)
        assert row["p_value"] is None or 0 <= row["p_value"] <= 1
    assert d["prediction_drift"] is None or isinstance(d["prediction_drift"], dict)
    assert d["performance"] is None or isinstance(d["performance"], dict)
    json.dumps(d, allow_nan=False)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    root = tmp_path_factory.mktemp("drift_bundles")
    return {task: fitted[task].save(root / task) for task in TASKS}


@pytest.mark.parametrize("task", TASKS)
def test_bundle_keeps_a_bounded_training_reference(saved, task):
    model = mlexpert.load(saved[task])
    sample = model.reference_sample
    stored = model.info["reference"]
    assert REFERENCE in model.info["files"]  # hash-checked like the members
    assert len(sample) == stored["sample_rows"] <= REFERENCE_ROWS
    assert set(stored["columns"]) == {c.name for c in model.schema.features}
    assert stored["columns"]["x1"]["missing_rate"] > 0
    assert stored["columns"]["color"]["counts"]
    assert stored["prediction"]["role"] == ("categorical" if task == "multiclass" else "numeric")


@pytest.mark.parametrize("task", TASKS)
def test_same_distribution_no_drift_and_performance_within_validation(saved, task):
    current = make_table(task, n=1500, seed=11)
    result = mlexpert.drift(saved[task], current, labels="y", window=500)
    d = result.to_dict()
    check_shape(d)
    assert not d["drift_detected"], result.drifted_columns
    assert not d["prediction_drift"]["drifted"], d["prediction_drift"]
    perf = d["performance"]
    assert perf["metric"] == mlexpert.load(saved[task]).metric
    assert perf["current"]["rows"] == 1500 and len(perf["windows"]) == 3
    assert perf["current"]["low"] <= perf["current"]["value"] <= perf["current"]["high"]
    assert not perf["degraded"], perf


@pytest.mark.parametrize("task", TASKS)
def test_shift_is_found_in_data_predictions_and_performance(saved, task):
    current = make_table(task, n=1500, seed=12)
    current["x1"] = current["x1"] * 3 + 2  # moves the strongest feature: predictions follow
    result = mlexpert.drift(saved[task], current, labels="y")
    assert result.drift_detected and result.drifted_columns[0] == "x1"
    assert result.prediction_drift["drifted"]
    assert result.domain_classifier["low"] > 0.6
    if task != "binary":  # ROC AUC ranks: a monotone shift of one feature may keep it
        assert result.degraded, result.performance


def test_labels_that_no_longer_match_degrade_performance(saved):
    current = make_table("binary", n=1000, seed=13)
    rng = np.random.default_rng(0)
    current["y"] = rng.permutation(current["y"].to_numpy())  # labels unrelated to inputs
    result = mlexpert.drift(saved["binary"], current, labels="y", window=500)
    assert result.degraded and not result.drift_detected
    assert all(w["degraded"] for w in result.performance["windows"])


def test_two_tables_as_in_design(tables):
    ref = tables["regression"]
    cur = make_table("regression", n=400, seed=9)
    same = mlexpert.drift(ref, cur)
    assert not same.drift_detected and same.prediction_drift is None and same.performance is None
    moved = mlexpert.drift(ref, cur.assign(color="red"))
    assert moved.drifted_columns[0] == "color"
    check_shape(moved.to_dict())


def test_reference_data_replaces_the_training_sample(saved, tmp_path):
    ref = make_table("binary", n=600, seed=21)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    current = make_table("binary", n=600, seed=22)
    result = drift(saved["binary"], current, reference_data=str(tmp_path / "ref.csv"),
                   domain_classifier=False)
    assert "ref.csv" in result.reference and result.rows["reference"] == 600
    assert "reference data" in result.prediction_drift["reference"]
    assert not result.drift_detected


def test_old_bundle_without_reference_says_what_to_do(saved, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(saved["binary"], old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["reference"], manifest["files"][REFERENCE]
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / REFERENCE).unlink()
    current = make_table("binary", n=200, seed=3)
    with pytest.raises(BundleError, match="no training reference.*--reference"):
        mlexpert.drift(str(old), current)
    assert mlexpert.drift(str(old), current, reference_data=current).drift_share == 0.0


def test_tampered_reference_is_refused(saved, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(saved["binary"], bad)
    with open(bad / REFERENCE, "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="reference.parquet does not match the SHA-256"):
        mlexpert.load(bad)


def test_hostile_input(saved, fitted, tmp_path):
    current = make_table("binary", n=100, seed=4)
    with pytest.raises(SchemaError, match="'x1'"):
        mlexpert.drift(saved["binary"], current.drop(columns="x1"))
    with pytest.raises(DataError, match="no rows"):
        mlexpert.drift(saved["binary"], current.iloc[:0])
    with pytest.raises(DataError, match="labels column 'yy'.*Did you mean 'y'"):
        mlexpert.drift(saved["binary"], current, labels="yy")
    with pytest.raises(ConfigError, match="labels"):
        mlexpert.drift(saved["binary"], current, labels=[1, 2])
    with pytest.raises(DataError, match="never saw: 'maybe'"):
        mlexpert.drift(saved["binary"], current.assign(y="maybe"), labels="y")
    with pytest.raises(ConfigError, match="labels need a model"):
        mlexpert.drift(current, current, labels="y")
    with pytest.raises(ConfigError, match="window"):
        mlexpert.drift(fitted["binary"], current, window=3)
    with pytest.raises(ConfigError, match="thresholds"):
        mlexpert.drift(fitted["binary"], current, thresholds={"ks": 0.1})
    (tmp_path / "garbage.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="garbage.csv"):
        mlexpert.drift(fitted["binary"], str(tmp_path / "garbage.csv"))
    with pytest.raises(BundleError, match="not an mlexpert bundle"):
        mlexpert.drift(str(tmp_path), current)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=4),
                          st.integers(-5, 5)), min_size=1, max_size=30))
def test_any_cell_values_give_a_verdict_or_a_clear_error(tables, values):
    """Columns filled with junk of any type: a result in strict JSON, never a crash."""
    ref = tables["binary"].drop(columns="y")
    n = len(values)
    cur = ref.iloc[:n].reset_index(drop=True).copy()
    cur["x1"] = pd.Series(values, dtype=object)
    cur["color"] = pd.Series(values, dtype=object)
    result = drift(ref, cur, domain_classifier=False)
    json.dumps(result.to_dict(), allow_nan=False)
