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


@pytest.mark.parametrize("labels", [["no", "yes"], [0, 1], [False, True]])
def test_labels_keep_the_classes_type_whichever_are_predicted(fitted, tables, labels):
    """Labels are typed from all the classes, not from the ones a call happens to predict (one
    row or all rows), and a copied model types them again from its own classes."""
    import copy

    import pandas as pd

    model = copy.deepcopy(fitted["binary"])
    model.classes = labels
    X = tables["binary"].drop(columns="y")
    want = pd.Series(labels, dtype=object).infer_objects().dtype
    pred = model.predict(X)
    assert pred.dtype == want and set(pred) == set(labels)
    one = pred.iloc[0]
    rows = X[(pred == one).to_numpy()].iloc[:3]  # every row predicted as one class
    assert model.predict(rows).dtype == want and list(model.predict(rows)) == [one] * len(rows)
    again = copy.deepcopy(model)
    again.classes = ["a", "b"]
    assert list(again.predict(rows)) == [["a", "b"][labels.index(one)]] * len(rows)


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


@pytest.mark.parametrize("task", TASKS)
def test_large_batches_are_scored_in_threads_with_the_same_answer(fitted, task, monkeypatch):
    """A batch of many rows is cut into one block per core and predicted in threads; the answer
    is the one the whole batch gives in one block, row for row, in the input's order."""
    import threading

    import mlexpert.ensemble._ensemble as ensemble
    from tests.conftest import make_table

    model = fitted[task]
    X = make_table(task, n=900, seed=3).drop(columns="y")
    X.index = X.index[::-1] + 1000  # a foreign index comes back as given
    monkeypatch.setattr(ensemble, "PARALLEL_ROWS", 10**9)
    whole = model.predict_table(X)
    threads = []
    block = ensemble.Ensemble._block

    def spy(self, frame):
        threads.append((threading.current_thread().name, len(frame)))
        return block(self, frame)

    monkeypatch.setattr(ensemble, "PARALLEL_ROWS", 200)
    monkeypatch.setattr(ensemble, "cpu_count", lambda: 3)
    monkeypatch.setattr(ensemble.Ensemble, "_block", spy)
    split = model.predict_table(X)
    assert sorted(n for _, n in threads) == [300, 300, 300]
    assert all(name.startswith("mlexpert-predict") for name, _ in threads)
    assert split.index.equals(X.index) and (split["y"] == whole["y"]).all()
    np.testing.assert_allclose(split.drop(columns="y").to_numpy(dtype=float),
                               whole.drop(columns="y").to_numpy(dtype=float), rtol=0, atol=1e-12)
