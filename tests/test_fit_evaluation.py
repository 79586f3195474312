"""fit's evaluation additions: calibration, the decision threshold that predict uses, the
leaderboard's indistinguishable marks, diagnostics and provenance in the manifest."""
import numpy as np
import pytest

import mlexpert
from mlexpert.errors import ConfigError
from tests.conftest import TASKS, make_table

FAST = dict(time_limit=15, seed=0, presets="fast", budget=1)


@pytest.fixture(scope="module")
def thresholded_model():
    return mlexpert.fit(make_table("binary", n=300, seed=5), target="y", optimize_threshold="f1",
                        **FAST)


@pytest.mark.heavy
def test_threshold_is_stored_and_used_by_predict(thresholded_model, tmp_path):
    model = thresholded_model
    t = model.threshold
    assert t is not None and 0 < t < 1 and model.info["decision"]["objective"] == "f1"
    rows = make_table("binary", n=200, seed=6).drop(columns="y")
    proba = model.predict_proba(rows)["yes"]
    assert (model.predict(rows) == np.where(proba > t, "yes", "no")).all()
    again = mlexpert.load(model.save(tmp_path / "m"))
    assert again.threshold == t and (again.predict(rows) == model.predict(rows)).all()
    assert any(f.check == "decision_threshold" for f in model.findings)


@pytest.mark.heavy
def test_cost_matrix_alone_means_cost_and_calibrate_false_skips_it():
    model = mlexpert.fit(make_table("binary", n=200, seed=7), target="y",
                         cost_matrix=[[0, 1], [20, 0]], calibrate=False, **FAST)
    assert model.info["decision"]["objective"] == "cost" and model.threshold < 0.5
    assert model.info["calibration"] is None and model.info["calibration_report"] is None


@pytest.mark.parametrize("kwargs, message", [
    ({"optimize_threshold": "precision"}, "optimize_threshold must be one of"),
    ({"optimize_threshold": "cost"}, "cost_matrix must be given"),
    ({"cost_matrix": [[0, 1, 2]]}, "cost_matrix must be 2x2"),
    ({"cost_matrix": "cheap"}, "cost_matrix must be 2x2"),
    ({"cost_matrix": [[1, 0], [0, 1]]}, "some mistake costs more"),
])
def test_bad_decision_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        mlexpert.fit(make_table("binary", n=60), target="y", **FAST, **kwargs)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_threshold_only_for_binary(task):
    with pytest.raises(ConfigError, match="binary targets only"):
        mlexpert.fit(make_table(task, n=60), target="y", optimize_threshold="f1", **FAST)


@pytest.mark.parametrize("task", TASKS)
def test_manifest_has_evaluation_evidence(fitted, task):
    info = fitted[task].info
    board = info["leaderboard"]
    assert board[0]["indistinguishable"] is True
    for row in board[1:]:
        p = row["p_vs_best"]
        assert row["indistinguishable"] == (p is not None and p >= 0.05)
    assert info["provenance"]["call"]["presets"] == "fast"
    assert "command" in info["provenance"]
    diag = info["diagnostics"]["cv"]
    if task == "regression":
        assert info["calibration"] is None and diag["scatter"]["actual"]
        assert "mape" not in fitted[task].metrics  # the target crosses zero
    else:
        assert diag["confusion"] and diag["reliability"]["observed"]
        assert info["calibration_report"]["log_loss_before"] > 0
        assert any(f.check == "calibration" for f in fitted[task].findings)
    for entry in fitted[task].metrics.values():
        assert entry["low"] <= entry["value"] + 1e-9 <= entry["high"] + 2e-9


def test_mape_is_refused_when_the_target_crosses_zero():
    frame = make_table("regression", n=80)
    with pytest.raises(ConfigError, match="MAPE needs a target that never crosses zero"):
        mlexpert.fit(frame, target="y", metric="mape", **FAST)
