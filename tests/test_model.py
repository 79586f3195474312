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
    # one readable line (not the curve points inside), the plain dict for machines
    shown = repr(report)
    assert len(shown) < 200 and "\n" not in shown and fitted[task].metric in shown
    assert f"{main['value']:.4g}" in shown and f"{len(tables[task])} rows" in shown
    assert type(report.to_dict()) is dict and report.to_dict() == dict(report)


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
    if task == "regression":  # the third small call may switch to the compiled path: numpy
        # (~1e-16 apart) or the ONNX graph, verified within 1e-6 (``Model.compiled_path``)
        np.testing.assert_allclose(table["y"], model.predict(X), rtol=1e-6, atol=1e-9)
    else:
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


def test_pruned_tuning_trials_stay_out_of_the_default_views(fitted, capsys, tmp_path):
    """A trial pruned after its first folds has no full score: out of ``leaderboard``, the CLI
    table and the card (each says how many), kept in ``leaderboard_all``."""
    from mlexpert.bundle import Model
    from mlexpert.report import build_card

    base = fitted["binary"]
    rows = [*base.manifest.leaderboard, {"model": "lightgbm_t9", "family": "lightgbm",
                                         "status": "pruned", "score": None}]
    model = Model(base.manifest.with_sections(leaderboard=rows), base.ensemble.members)
    assert "lightgbm_t9" not in set(model.leaderboard["model"])
    assert len(model.leaderboard) == len(base.leaderboard)
    assert "lightgbm_t9" in set(model.leaderboard_all["model"])
    html, _ = build_card(model)
    pruned = sum(r.get("status") == "pruned" for r in rows)
    assert "lightgbm_t9" not in html and f"{pruned} tuning trial(s) pruned" in html
    from mlexpert.cli._fit import _report_fit

    _report_fit(model, tmp_path, 60.0)
    shown = " ".join(capsys.readouterr().out.split())
    assert "lightgbm_t9" not in shown and f"{pruned} pruned tuning trial(s)" in shown
    assert "of the command's 60s" in shown


def test_an_80_column_leaderboard_keeps_every_model_name_whole(fitted, capsys, monkeypatch, tmp_path):
    """Names several rows share a prefix of (lightgbm_...) are never cut to 'light…': the
    lower-value columns go first."""
    from mlexpert.bundle import Model
    from mlexpert.cli._fit import _report_fit

    monkeypatch.setenv("COLUMNS", "80")
    base = fitted["binary"]
    names = ["lightgbm_large_leaves_t12", "lightgbm_large_leaves_t13", "extra_trees_entropy_wide"]
    rows = [{**base.manifest.leaderboard[0], "model": n} for n in names]
    _report_fit(Model(base.manifest.with_sections(leaderboard=rows), base.ensemble.members),
                tmp_path, 60.0)
    out = capsys.readouterr().out
    assert all(n in out for n in names), out
    assert max(len(line) for line in out.splitlines() if "│" in line or "┃" in line) <= 80
