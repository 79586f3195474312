"""Group metrics on a real table with a tiny group planted: a small-sample warning, undefined
intervals instead of a falsely certain AUC 1.000 [1.000, 1.000], and gaps taken between the
groups large enough to compare (issue #23, audit judgement)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from mlexpert.explain import group_checks


@pytest.fixture(scope="module")
def scored():
    """Breast cancer with out-of-fold probabilities of a logistic regression: real rows, a real
    model's scores, and a 5-row group the model gets exactly right."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns="target"), frame["target"].to_numpy()
    raw = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                            X, y, cv=5, method="predict_proba")
    confident = np.flatnonzero(np.abs(raw[:, 1] - y) < 0.05)
    tiny = np.r_[confident[y[confident] == 1][:3], confident[y[confident] == 0][:2]]
    site = np.where(np.arange(len(frame)) % 2 == 0, "north", "south").astype(object)
    site[tiny] = "island"
    return frame.assign(site=site), y, raw


def test_tiny_group_gets_a_warning_and_no_false_interval(scored):
    frame, y, raw = scored
    model = SimpleNamespace(task="binary", threshold=0.5)
    g = group_checks(model, frame, y, raw, "site", n_resamples=200)
    by = {r["group"]: r for r in g["groups"]}
    island = by["island"]
    assert island["rows"] == 5 and island["small_sample"]
    auc = island["metrics"]["roc_auc"]
    assert auc["value"] == 1.0 and math.isnan(auc["low"]) and math.isnan(auc["high"])
    assert any("island" in w and "5 rows" in w for w in g["warnings"])
    for name in ("north", "south"):
        assert not by[name]["small_sample"]
        e = by[name]["metrics"]["roc_auc"]
        assert e["low"] < e["value"] <= e["high"]
    assert set(g["gap_groups"]) == {"north", "south"}
    rates = [by[n]["positive_rate"] for n in ("north", "south")]
    assert g["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))


def test_no_gap_when_only_one_group_is_large_enough(scored):
    frame, y, raw = scored
    only = frame.assign(site=np.where(frame["site"] == "island", "island", "mainland"))
    g = group_checks(SimpleNamespace(task="binary", threshold=0.5), only, y, raw, "site",
                     n_resamples=50)
    assert g["demographic_parity_difference"] is None
    assert any("fewer than two groups" in w for w in g["warnings"])
