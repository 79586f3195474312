"""``POST /feedback`` extends a served model's entity history: the next ``/predict`` of the
entity starts from the label, exactly as ``Model.with_history`` with the same row would, safely
beside concurrent predictions; models without history are untouched and keep no rows."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import mlexpert
from mlexpert.features import history_part
from mlexpert.serve import ServeSettings, create_app
from mlexpert.serve._history import HistoryLock
from tests.test_fit_history import OPTIONS, TRAIN_PERIODS, panel

FIT = {**OPTIONS, "time_limit": 20}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return panel(n_entities=12)


@pytest.fixture(scope="module")
def bundles(table, tmp_path_factory):
    """A model with entity history and one without, saved: each test serves fresh copies
    (feedback changes the served model's history in place)."""
    past = table[table["period"] < TRAIN_PERIODS]
    root = tmp_path_factory.mktemp("history")
    with_h = mlexpert.fit(past, "sales", time_column="period", **FIT)
    without = mlexpert.fit(past, "sales", time_column="period", entity=False, **FIT)
    assert with_h.info["plan"]["entity"] and not without.info["plan"]["entity"]
    return with_h.save(root / "with"), without.save(root / "without")


def client(model, **kw) -> TestClient:
    return TestClient(create_app(model, settings=ServeSettings(**kw), source="m"))


def row(table: pd.DataFrame, shop: str, period: int) -> pd.DataFrame:
    return table[(table["shop"] == shop) & (table["period"] == period)]


def record(frame: pd.DataFrame) -> dict:
    return frame.drop(columns="sales").iloc[0].to_dict()


def predicted(c: TestClient, frame: pd.DataFrame) -> tuple[float, str]:
    r = c.post("/predict", json=record(frame))
    assert r.status_code == 200, r.text
    return r.json()["predictions"][0], r.json()["request_id"]


@pytest.mark.parametrize(("period", "shift", "moves"), [
    (TRAIN_PERIODS, 0.0, True),  # the period after the kept rows
    (TRAIN_PERIODS - 2, 40.0, True),  # a kept period, labelled anew: replaces that row
    (5, 0.0, False)],  # older than every kept row: counts only in the entity's count and mean
    ids=["next-period", "kept-period-relabelled", "older-than-kept"])
def test_a_label_moves_the_entity_s_next_prediction_as_with_history_does(table, bundles, period,
                                                                         shift, moves):
    """The labelled record joins the entity's history; a record older than the latest kept row
    is handled as ``with_history`` handles it (the same code path), not by a rule of its own."""
    model = mlexpert.load(bundles[0])
    scored, nxt = row(table, "shop03", period), row(table, "shop03", TRAIN_PERIODS + 1)
    scored = scored.assign(sales=scored["sales"] + shift)
    expected = float(np.asarray(model.with_history(scored).predict(nxt))[0])
    with client(model) as c:
        _, rid = predicted(c, scored)
        before, _ = predicted(c, nxt)
        r = c.post("/feedback", json={"request_id": rid, "label": float(scored["sales"].iloc[0])})
        assert r.status_code == 200, r.text
        assert r.json()["matched"] == 1 and r.json()["history_extended"] == 1
        after, _ = predicted(c, nxt)
        other, _ = predicted(c, row(table, "shop04", TRAIN_PERIODS + 1))
        meta = c.get("/metadata").json()["feedback"]
    fresh = mlexpert.load(bundles[0])
    assert before == pytest.approx(float(np.asarray(fresh.predict(nxt))[0]), rel=1e-9)
    assert after == pytest.approx(expected, rel=1e-9)
    assert (abs(after - before) > 1e-6) == moves
    assert other == pytest.approx(float(np.asarray(fresh.predict(
        row(table, "shop04", TRAIN_PERIODS + 1)))[0]), rel=1e-9)  # another entity: unchanged
    assert meta["extends_history"] is True and meta["history_rows_added"] == 1
    assert meta["history_columns"][:2] == ["shop", "period"]


def test_an_unknown_record_extends_nothing(table, bundles):
    model = mlexpert.load(bundles[0])
    nxt = row(table, "shop05", TRAIN_PERIODS)
    with client(model) as c:
        before, _ = predicted(c, nxt)
        r = c.post("/feedback", json=[{"request_id": "no-such-request", "label": 1.0},
                                      {"request_id": "no-such-request", "index": 3,
                                       "label": 2.0}])
        assert r.status_code == 200, r.text
        assert (r.json()["matched"], r.json()["history_extended"]) == (0, 0)
        assert predicted(c, nxt)[0] == before
        assert c.get("/metadata").json()["feedback"]["history_rows_added"] == 0


def test_a_model_without_history_is_unchanged_and_keeps_no_rows(table, bundles):
    model = mlexpert.load(bundles[1])
    scored, nxt = row(table, "shop03", TRAIN_PERIODS), row(table, "shop03", TRAIN_PERIODS + 1)
    with client(model) as c:
        _, rid = predicted(c, scored)
        before, _ = predicted(c, nxt)
        r = c.post("/feedback", json={"request_id": rid, "label": 100.0})
        assert r.json()["matched"] == 1 and "history_extended" not in r.json()
        assert predicted(c, nxt)[0] == before
        entries = list(c.app.state.service.ledger._entries.values())
        assert entries and all(e.inputs == () for e in entries)
        assert c.get("/metadata").json()["feedback"]["extends_history"] is False


def test_the_ledger_keeps_only_the_history_columns_of_a_history_model(table, bundles):
    model = mlexpert.load(bundles[0])
    with client(model) as c:
        predicted(c, row(table, "shop01", TRAIN_PERIODS))
        (entry,) = c.app.state.service.ledger._entries.values()
    ((role, columns, values),) = entry.inputs  # what the history step reads, nothing else
    assert role == "champion"
    reads = [part[1] for t, _ in model.ensemble.members[0].parts if (part := history_part(t))]
    assert list(columns) == reads[0] and columns[:2] == ("shop", "period")
    assert values[:2] == ("shop01", float(TRAIN_PERIODS)) and len(values) == len(columns)


def test_shadow_champion_and_challenger_both_extend(table, bundles):
    champion, challenger = mlexpert.load(bundles[0]), mlexpert.load(bundles[0])
    scored, nxt = row(table, "shop07", TRAIN_PERIODS), row(table, "shop07", TRAIN_PERIODS + 1)
    expected = float(np.asarray(champion.with_history(scored).predict(nxt))[0])
    app = create_app(champion, challenger=challenger, settings=ServeSettings(mode="shadow"),
                     source="champ")
    with TestClient(app) as c:
        _, rid = predicted(c, scored)
        r = c.post("/feedback", json={"request_id": rid, "label": float(scored["sales"].iloc[0])})
        assert r.json()["history_extended"] == 1
        assert r.json()["history_extended_by_model"] == {"champion": 1, "challenger": 1}
        after, _ = predicted(c, nxt)
        assert c.get("/metadata").json()["challenger"]["feedback"]["history_rows_added"] == 1
    assert after == pytest.approx(expected, rel=1e-9)
    assert float(np.asarray(challenger.predict(nxt))[0]) == pytest.approx(expected, rel=1e-9)


def test_a_reload_of_the_same_version_keeps_the_extended_history(table, bundles, monkeypatch):
    monkeypatch.setenv("MLEXPERT_TEST_HISTORY_KEY", "k")
    model = mlexpert.load(bundles[0])
    scored, nxt = row(table, "shop02", TRAIN_PERIODS), row(table, "shop02", TRAIN_PERIODS + 1)
    app = create_app(model, settings=ServeSettings(api_key_env="MLEXPERT_TEST_HISTORY_KEY"),
                     source="m", loader=lambda: mlexpert.load(bundles[0]))
    with TestClient(app, headers={"X-API-Key": "k"}) as c:
        _, rid = predicted(c, scored)
        c.post("/feedback", json={"request_id": rid, "label": float(scored["sales"].iloc[0])})
        after, _ = predicted(c, nxt)
        r = c.post("/admin/reload")
        assert r.status_code == 200 and r.json()["changed"] is False, r.text
        assert predicted(c, nxt)[0] == after
        assert c.get("/metadata").json()["feedback"]["history_rows_added"] == 1


def test_concurrent_predictions_and_feedback_do_not_crash(table, bundles):
    """Single rows (the inline fast path), 100-row requests (worker threads) and feedback at
    once; at the end the history holds every label, as ``with_history`` of those rows."""
    model = mlexpert.load(bundles[0])
    future = table[table["period"] >= TRAIN_PERIODS].reset_index(drop=True)
    labelled = future[future["period"] < TRAIN_PERIODS + 2]
    ahead = future[future["period"] == TRAIN_PERIODS + 3]
    many = [record(ahead.iloc[[i % len(ahead)]]) for i in range(100)]
    errors: list[str] = []
    stop = threading.Event()

    with client(model) as c:
        def predicting(body) -> None:
            while not stop.is_set():
                r = c.post("/predict", json=body)
                if r.status_code != 200:
                    errors.append(r.text)

        threads = [threading.Thread(target=predicting, args=(b,))
                   for b in (record(ahead.iloc[[0]]), many)]
        for t in threads:
            t.start()
        try:
            for i in range(len(labelled)):
                one = labelled.iloc[[i]]
                _, rid = predicted(c, one)
                r = c.post("/feedback", json={"request_id": rid,
                                              "label": float(one["sales"].iloc[0])})
                if r.status_code != 200 or r.json()["history_extended"] != 1:
                    errors.append(r.text)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not errors, errors[:3]
        got = c.post("/predict", json=[record(ahead.iloc[[i]]) for i in range(len(ahead))])
    want = np.asarray(mlexpert.load(bundles[0]).with_history(labelled).predict(ahead))
    np.testing.assert_allclose(got.json()["predictions"], want, rtol=1e-9)


def test_the_history_lock_lets_a_waiting_writer_go_first():
    lock = HistoryLock()
    lock.acquire_read()
    entered = threading.Event()

    def write() -> None:
        with lock.writing():
            entered.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not lock._waiting:  # the writer waits for the reader
        threading.Event().wait(0.001)
    assert not entered.is_set()
    assert lock.acquire_read(blocking=False) is False  # the event loop would not wait
    lock.release_read()
    writer.join(timeout=5)
    assert entered.is_set() and lock.acquire_read(blocking=False) is True
    lock.release_read()


def test_the_ledger_s_history_inputs_cost_about_300_bytes_a_record():
    """tracemalloc over 5,000 records: entity, time and one number kept per record (+281 bytes
    measured on 50,000), nothing for a model without history."""
    import tracemalloc

    from mlexpert.serve._ledger import Ledger

    def cost(keep: bool) -> float:
        columns = ("shop", "period", "noise")
        tracemalloc.start()
        ledger = Ledger(5_000)
        for r in range(5_000):
            row = [f"shop{r % 100:03d}", float(r % 50), float(r) / 7, "text", 1.0]
            ledger.start(f"request-{r:08d}", [None])
            ledger.add(f"request-{r:08d}", "champion", np.array([float(r)]),
                       [(columns, tuple(row[:3]))] if keep else None)
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return used / 5_000

    extra = cost(True) - cost(False)
    assert 150 < extra < 450, extra


def test_a_class_label_extends_a_multiclass_history_as_with_history_does():
    """Labels are class names; the history reads them as fit encoded them (the same code as
    ``with_history``), and the next probabilities follow."""
    rng = np.random.default_rng(4)
    rows = []
    for c in range(30):
        plan = int(rng.integers(0, 3))
        for t in range(12):
            if rng.uniform() < 0.1:
                plan = int(rng.integers(0, 3))
            rows.append((f"c{c:02d}", t, rng.normal(), f"plan{plan}"))
    table = pd.DataFrame(rows, columns=["customer", "month", "noise", "plan"])
    model = mlexpert.fit(table[table["month"] < 10], "plan", time_column="month",
                         **{**FIT, "task": "multiclass", "metric": None})
    scored = table[(table["customer"] == "c01") & (table["month"] == 10)]
    nxt = table[(table["customer"] == "c01") & (table["month"] == 11)]
    other = next(p for p in ("plan0", "plan1", "plan2") if p != scored["plan"].iloc[0])
    want = model.with_history(scored.assign(plan=other)).predict_proba(nxt).iloc[0]
    with client(model) as c:
        rid = c.post("/predict", json=scored.drop(columns="plan").iloc[0].to_dict()).json()[
            "request_id"]
        r = c.post("/feedback", json={"request_id": rid, "label": other})
        assert r.json()["history_extended"] == 1, r.text
        got = c.post("/predict", json=nxt.drop(columns="plan").iloc[0].to_dict()).json()
    assert got["probabilities"][0] == pytest.approx({str(k): float(want[k]) for k in want.index},
                                                    rel=1e-9)


def test_a_model_following_ratios_takes_only_positive_labels():
    """``with_history``'s rule for a model that follows values in proportion: a label that is
    not positive is kept for /compare, not added to the history, and the answer says why."""
    rng = np.random.default_rng(3)
    rows = []
    for e in range(12):
        scale, growth = 10 ** rng.uniform(1, 3), rng.uniform(0.0, 0.08)
        for t in range(14):
            rows.append((f"firm{e}", 2000 + t, rng.normal(),
                         scale * (1 + growth) ** t * np.exp(rng.normal(0, 0.02))))
    table = pd.DataFrame(rows, columns=["firm", "year", "noise", "revenue"])
    model = mlexpert.fit(table[table["year"] < 2012], "revenue", time_column="year", **FIT)
    assert model.info["plan"]["entity"]["relative"] is True
    scored = table[table["year"] == 2012].head(2)
    with client(model) as c:
        rid = c.post("/predict", json=scored.drop(columns="revenue").to_dict("records")).json()[
            "request_id"]
        r = c.post("/feedback", json=[{"request_id": rid, "index": 0, "label": 0.0},
                                      {"request_id": rid, "index": 1, "label": 50.0}]).json()
    assert (r["matched"], r["history_extended"]) == (2, 1)
    assert "need positive targets" in r["history_note"]
