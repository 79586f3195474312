"""Model: predictions, probabilities, evaluation and the schema check on new input."""
import numpy as np
import pytest

from mlexpert.bundle import ExtraColumnsWarning
from mlexpert.errors import DataError, SchemaError
from tests.conftest import TASKS


@pytest.mark.parametrize("task", TASKS)
def test_predict_contract(fitted, tables, task):
    model = fitted[task]
    X = tables[task].drop(columns="y").iloc[:40]
    pred = model.predict(X)
    assert len(pred) == 40 and list(pred.index) == list(X.index)
    if task == "regression":
        assert pred.dtype == float
        with pytest.raises(DataError, match="predict_proba is for classification"):
            model.predict_proba(X)
    else:
        proba = model.predict_proba(X)
        assert list(proba.columns) == sorted(tables[task]["y"].unique())
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(pred) <= set(proba.columns)
        assert (proba.idxmax(axis=1) == pred).all()


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_has_every_metric_with_intervals(fitted, tables, task):
    report = fitted[task].evaluate(tables[task], n_resamples=100)
    assert report["rows"] == len(tables[task])
    main = report["metrics"][fitted[task].metric]
    assert main["low"] <= main["value"] <= main["high"]


def test_new_input_is_validated(fitted, tables):
    model = fitted["binary"]
    X = tables["binary"].drop(columns="y").head(5).copy()
    with pytest.raises(SchemaError, match="lacks 1 column.*'x1'"):
        model.predict(X.drop(columns="x1"))
    X["color"] = ["never-seen", None, "red", "red", "blue"]
    X["x2"] = X["x2"].astype(str)  # numbers as text are coerced
    X["surprise"] = 1
    with pytest.warns(ExtraColumnsWarning, match="'surprise'"):
        assert len(model.predict(X)) == 5
    with pytest.raises(DataError, match="no rows"):
        model.predict(X.iloc[:0])


def test_evaluate_rejects_unknown_labels_and_missing_target(fitted, tables):
    model = fitted["binary"]
    data = tables["binary"].head(20).copy()
    with pytest.raises(DataError, match="target column 'y' is not in the data"):
        model.evaluate(data.drop(columns="y"))
    data.loc[data.index[0], "y"] = "maybe"
    with pytest.raises(DataError, match="labels the model never saw: 'maybe'"):
        model.evaluate(data)


@pytest.mark.parametrize("task", TASKS)
def test_predict_table_agrees_with_predict_and_proba(fitted, tables, task):
    model = fitted[task]
    X = tables[task].drop(columns="y").iloc[:30]
    table = model.predict_table(X)
    assert (table["y"] == model.predict(X)).all()
    if task != "regression":
        proba = model.predict_proba(X)
        assert list(table.columns) == ["y"] + [f"proba_{c}" for c in proba.columns]
        np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), proba.to_numpy())
    else:
        assert list(table.columns) == ["y"]
