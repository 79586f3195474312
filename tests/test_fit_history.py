"""fit with ``time_column`` and ``entity``: each row gets its entity's earlier known targets, the
entity is inferred from a panel, the folds stay honest, and the shipped model predicts the next
periods of every entity from the rows it keeps (library, bundle, CLI, service)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.errors import ConfigError, DataError, ExportError
from tests.conftest import cli_in_process

TRAIN_PERIODS = 20
FUTURE_PERIODS = 4
OPTIONS = dict(time_limit=60, budget=1, presets="fast", task="regression", metric="rmse")


def panel(n_entities: int = 25, seed: int = 0) -> pd.DataFrame:
    """Each shop's sales follow their own random walk with drift; ``promo`` moves them a little.
    Nothing but a shop's own past says where its sales are now."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n_entities):
        level, drift = rng.normal(100, 20), rng.uniform(-2, 2)
        for t in range(TRAIN_PERIODS + FUTURE_PERIODS):
            promo = float(rng.integers(0, 2))
            level += drift + rng.normal(0, 1.0)
            rows.append((f"shop{e:02d}", t, promo, rng.normal(), level + 3 * promo))
    return pd.DataFrame(rows, columns=["shop", "period", "promo", "noise", "sales"])


@pytest.fixture(scope="module")
def data():
    table = panel()
    past = table[table["period"] < TRAIN_PERIODS].sample(frac=1.0, random_state=0)
    return past.reset_index(drop=True), table[table["period"] >= TRAIN_PERIODS].reset_index(drop=True)


@pytest.fixture(scope="module")
def with_history(data):
    return mlexpert.fit(data[0], "sales", time_column="period", **OPTIONS)


@pytest.fixture(scope="module")
def without_history(data):
    return mlexpert.fit(data[0], "sales", time_column="period", entity=False, **OPTIONS)


def _rmse(model, rows: pd.DataFrame) -> float:
    return float(np.sqrt(np.mean((model.predict(rows) - rows["sales"].to_numpy()) ** 2)))


def test_the_entity_is_inferred_and_said(with_history):
    said = [f for f in with_history.info["findings"] if f["check"] == "entity_history"]
    assert len(said) == 1 and said[0]["columns"] == ["shop", "period"]
    assert said[0]["evidence"]["inferred"] is True
    assert with_history.info["plan"]["entity"] == {"column": "shop", "horizon": 6,
                                                   "relative": False, "inferred": True}


def test_history_predicts_the_next_periods_far_better(data, with_history, without_history):
    _, future = data
    assert without_history.info["plan"]["entity"] is None
    assert not any(f["check"] == "entity_history" for f in without_history.info["findings"])
    better, plain = _rmse(with_history, future), _rmse(without_history, future)
    assert better < 0.5 * plain, (better, plain)


def test_one_row_and_a_reloaded_bundle_predict_the_same(data, with_history, tmp_path):
    _, future = data
    batch = np.asarray(with_history.predict(future))
    picked = [0, 1, len(future) - 1]
    one = [float(np.asarray(with_history.predict(future.iloc[[i]]))[0]) for i in picked]
    np.testing.assert_allclose(one, batch[picked], rtol=1e-9)
    with_history.save(tmp_path / "m")
    np.testing.assert_allclose(mlexpert.load(tmp_path / "m").predict(future), batch, rtol=1e-9)


def test_onnx_export_says_why_not(with_history, tmp_path):
    with pytest.raises(ExportError, match="entity history features of 'shop'.*entity=False"):
        with_history.to_onnx(tmp_path / "m.onnx")


def test_the_service_predicts_from_the_stored_history(data, with_history):
    from fastapi.testclient import TestClient

    from mlexpert.serve import ServeSettings, create_app

    _, future = data
    record = future.drop(columns="sales").iloc[0].to_dict()
    app = create_app(with_history, settings=ServeSettings(), source="m")
    with TestClient(app) as client:
        answer = client.post("/predict", json=record)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == pytest.approx(
        np.asarray(with_history.predict(future.iloc[[0]])).tolist(), rel=1e-6)


def test_a_permuted_target_scores_at_chance(data):
    past = data[0].copy()
    past["sales"] = np.random.default_rng(1).permutation(past["sales"].to_numpy())
    model = mlexpert.fit(past, "sales", time_column="period", **{**OPTIONS, "metric": "r2"})
    assert model.info["plan"]["entity"] is not None
    assert model.info["metrics"]["cv"]["r2"]["value"] < 0.1


def test_entity_options_are_checked(data):
    past = data[0]
    with pytest.raises(ConfigError, match="entity must be given with time_column"):
        mlexpert.fit(past, "sales", entity="shop", time_limit=5)
    with pytest.raises(ConfigError, match="entity must be a column name"):
        mlexpert.fit(past, "sales", time_column="period", entity=True, time_limit=5)
    with pytest.raises(DataError, match="entity column 'shops' is not in the data"):
        mlexpert.fit(past, "sales", time_column="period", entity="shops", time_limit=5)
    keyed = past.assign(row=[f"r{i}" for i in range(len(past))])
    with pytest.raises(DataError, match="entity column 'row' has a different value in every row"):
        mlexpert.fit(keyed, "sales", time_column="period", entity="row", time_limit=5)


def test_the_cli_takes_entity_none(data, tmp_path):
    path = tmp_path / "past.csv"
    data[0].to_csv(path, index=False)
    r = cli_in_process("fit", path, "--target", "sales", "--time-column", "period",
                       "--entity", "none", "--budget", "1", "--presets", "fast",
                       "--time-limit", "60", "--no-card", "--out", tmp_path / "m", "--json")
    assert r.returncode == 0, r.stderr
    assert mlexpert.load(tmp_path / "m").info["plan"]["entity"] is None


def test_the_audit_suggests_a_panel_split(data):
    found = [f for f in mlexpert.audit(data[0], "sales", time_limit=20).findings
             if f.check == "panel_suggested"]
    assert len(found) == 1 and found[0].columns == ("shop", "period")
    assert "time_column='period', entity='shop'" in found[0].suggestion


def test_contributions_carry_the_history_to_the_entity_column(data, with_history):
    _, future = data
    e = with_history.explain(future.head(8))
    np.testing.assert_allclose(e.base_value + e.contributions.sum(axis=1),
                               np.asarray(with_history.predict(future.head(8))), rtol=1e-6)
    # the shop's own level is the bulk of each prediction: it is credited to the shop
    assert (e.contributions["shop"].abs() > 5 * e.contributions["promo"].abs()).mean() > 0.7


def test_rows_labelled_later_extend_the_history_without_a_refit(data, with_history,
                                                                 without_history, tmp_path):
    _, future = data
    known = future[future["period"] < TRAIN_PERIODS + 2]
    ahead = future[future["period"] >= TRAIN_PERIODS + 2]
    before = np.asarray(with_history.predict(ahead))
    newer = with_history.with_history(known)
    np.testing.assert_array_equal(np.asarray(with_history.predict(ahead)), before)  # a copy
    assert newer.info["provenance"]["history_rows_added"] == len(known)
    assert _rmse(newer, ahead) < 0.8 * _rmse(with_history, ahead)
    newer.save(tmp_path / "m")
    np.testing.assert_allclose(mlexpert.load(tmp_path / "m").predict(ahead), newer.predict(ahead),
                               rtol=1e-9)
    with pytest.raises(ConfigError, match="fitted without entity history"):
        without_history.with_history(known)
    with pytest.raises(DataError, match="target column 'sales' is not in the data"):
        with_history.with_history(known.drop(columns="sales"))


def test_distillation_says_why_not(data, with_history):
    with pytest.raises(ConfigError, match="cannot distill a model that follows the history of 'shop'"):
        with_history.distill(data[0], time_limit=10)


def test_a_quantity_that_grows_in_proportion_is_learned_as_ratios():
    rng = np.random.default_rng(3)
    rows = []
    for e in range(20):
        scale, growth = 10 ** rng.uniform(1, 3), rng.uniform(0.0, 0.08)
        for t in range(16):
            rows.append((f"firm{e}", 2000 + t, rng.normal(),
                         scale * (1 + growth) ** t * np.exp(rng.normal(0, 0.02))))
    table = pd.DataFrame(rows, columns=["firm", "year", "noise", "revenue"])
    past, future = table[table["year"] < 2012], table[table["year"] >= 2012]
    model = mlexpert.fit(past, "revenue", time_column="year", **OPTIONS)
    assert model.info["plan"]["entity"]["relative"] is True
    said = next(f for f in model.info["findings"] if f["check"] == "entity_history")
    assert "ratio to the last known value" in said["message"]
    predicted = np.asarray(model.predict(future))
    assert np.median(np.abs(predicted / future["revenue"].to_numpy() - 1)) < 0.1
    e = model.explain(future.head(6))
    np.testing.assert_allclose(e.base_value + e.contributions.sum(axis=1), predicted[:6],
                               rtol=1e-6)
    model.compile()
    np.testing.assert_allclose(
        [float(np.asarray(model.predict(future.iloc[[i]]))[0]) for i in range(3)],
        predicted[:3], rtol=1e-6)
    with pytest.raises(DataError, match="history rows need positive targets"):
        model.with_history(future.head(3).assign(revenue=[5.0, 0.0, 7.0]))


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_class_that_persists_over_time_is_read_from_the_history(task):
    """Each customer keeps its plan (three plans, or subscribed or not) from one period to the
    next with probability 0.9: the earlier known plan is the signal, nothing else is."""
    rng = np.random.default_rng(4)
    k = 2 if task == "binary" else 3
    rows = []
    for c in range(60):
        plan = int(rng.integers(0, k))
        for t in range(14):
            if rng.uniform() < 0.1:
                plan = int(rng.integers(0, k))
            rows.append((f"c{c:02d}", t, rng.normal(), f"plan{plan}"))
    table = pd.DataFrame(rows, columns=["customer", "month", "noise", "plan"])
    past, future = table[table["month"] < 11], table[table["month"] >= 11]
    model = mlexpert.fit(past, "plan", time_column="month",
                         **{**OPTIONS, "task": task, "metric": None})
    assert model.info["plan"]["entity"]["column"] == "customer"
    accuracy = float((model.predict(future).to_numpy() == future["plan"].to_numpy()).mean())
    assert accuracy > 0.7, accuracy  # chance: 1 / k; the last known plan: ~0.75-0.8


def test_the_cli_adds_labelled_rows_to_the_history(data, with_history, without_history, tmp_path):
    _, future = data
    known = future[future["period"] < TRAIN_PERIODS + 2]
    with_history.save(tmp_path / "m")
    known.to_csv(tmp_path / "known.csv", index=False)
    r = cli_in_process("history", tmp_path / "m", tmp_path / "known.csv", "--out", tmp_path / "m2")
    assert r.returncode == 0, r.stderr
    assert f"added {len(known)} row(s) to the history of 'shop'" in r.stderr
    ahead = future[future["period"] >= TRAIN_PERIODS + 2]
    np.testing.assert_allclose(mlexpert.load(tmp_path / "m2").predict(ahead),
                               with_history.with_history(known).predict(ahead), rtol=1e-9)
    without_history.save(tmp_path / "plain")
    r = cli_in_process("history", tmp_path / "plain", tmp_path / "known.csv", "--out",
                       tmp_path / "m3")
    assert r.returncode == 1 and "fitted without entity history" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m3").exists()
