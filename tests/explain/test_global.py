"""Permutation importance, partial dependence and group checks on real fitted models."""
import numpy as np
import pandas as pd
import pytest

from mlexpert.errors import DataError
from mlexpert.evaluate import METRICS
from mlexpert.explain import group_checks, partial_dependence, permutation_importance
from tests.conftest import TASKS, make_table


def test_permutation_importance_separates_signal_from_noise():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=600), "noise": rng.normal(size=600)})
    y = 2 * X["signal"].to_numpy() + rng.normal(scale=0.1, size=600)
    out = permutation_importance(lambda f: 2 * f["signal"].to_numpy(), X, y, METRICS["rmse"],
                                 n_repeats=6)
    by = {r["column"]: r for r in out}
    assert out[0]["column"] == "signal" and by["signal"]["low"] > 1.0
    assert by["noise"]["importance"] == 0.0 and by["noise"]["repeats"] == 6


def test_partial_dependence_follows_a_known_function():
    X = pd.DataFrame({"a": np.linspace(0, 10, 200), "b": np.tile(["u", "v"], 100)})

    def predict(f):
        return 3 * f["a"].to_numpy() + (f["b"] == "v").to_numpy()

    pd_a = partial_dependence(predict, X, "a", numeric=True)
    grid, mean = np.asarray(pd_a["grid"]), np.asarray(pd_a["mean"])
    np.testing.assert_allclose(mean, 3 * grid + 0.5)
    assert grid.min() >= 0.4 and grid.max() <= 9.6  # 5th to 95th percentile
    pd_b = partial_dependence(predict, X, "b", numeric=False)
    assert dict(zip(pd_b["grid"], np.asarray(pd_b["mean"]) - 3 * 5, strict=True)) == \
        pytest.approx({"u": 0.0, "v": 1.0})


def test_group_gaps_match_a_hand_count(fitted, tables):
    model = fitted["binary"]
    frame = tables["binary"]
    report = model.evaluate(frame, sensitive_column="color", n_resamples=100)
    g = report["groups"]
    pred = model.predict(frame) == "yes"
    truth = frame["y"] == "yes"
    rates = pred.groupby(frame["color"]).mean()
    tpr = pred[truth].groupby(frame["color"][truth]).mean()
    assert g["demographic_parity_difference"] == pytest.approx(rates.max() - rates.min())
    assert g["equal_opportunity_difference"] == pytest.approx(tpr.max() - tpr.min())
    assert sum(r["rows"] for r in g["groups"]) == len(frame)
    for r in g["groups"]:
        auc = r["metrics"]["roc_auc"]
        assert auc["low"] <= auc["value"] <= auc["high"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_group_checks_other_tasks(fitted, tables, task):
    g = fitted[task].evaluate(tables[task], sensitive_column="size", n_resamples=100)["groups"]
    assert {r["group"] for r in g["groups"]} == {"S", "M", "L", "(missing)"}
    key = "demographic_parity_difference" if task == "multiclass" else "mean_prediction_difference"
    assert g[key] >= 0


def test_group_checks_hostile(fitted, tables):
    model = fitted["binary"]
    with pytest.raises(DataError, match="sensitive column 'colour' is not in the data.*'color'"):
        model.evaluate(tables["binary"], sensitive_column="colour")
    frame = tables["binary"].copy()
    frame["tiny"] = ["a"] * (len(frame) - 3) + ["b"] * 3
    g = group_checks(model, frame, *_encoded(model, frame), "tiny", n_resamples=50)
    assert g["too_small"] == ["b"] and len(g["groups"]) == 1


def _encoded(model, frame):
    _, y, raw = model._labelled(frame)
    return y, raw


@pytest.mark.parametrize("task", TASKS)
def test_explain_global(fitted, task):
    model = fitted[task]
    holdout = make_table(task, n=150, seed=9)
    out = model.explain_global(holdout, n_repeats=3, top=2)
    perm = out["permutation_importance"]
    assert {r["column"] for r in perm} == {c.name for c in model.schema.features}
    assert perm[0]["column"] in ("x1", "x2", "color")
    assert len(out["partial_dependence"]) == 2 and out["shap"]["rows"] == 150
    assert out["shap"]["summary"][0]["mean_abs"] >= out["shap"]["summary"][-1]["mean_abs"]
