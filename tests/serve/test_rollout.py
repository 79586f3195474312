"""Champion and challenger in one app (in-process): shadow answers exactly as the champion alone,
canary routes by a stable hash and says who answered, feedback joins labels to both models'
outputs and /compare matches the same comparison computed offline. Real uvicorn:
test_rollout_server.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlexpert.errors import ConfigError
from mlexpert.evaluate import compare_paired, get_metric
from mlexpert.serve import ServeSettings, create_app
from mlexpert.serve._rollout import draw, routed, routing_keys
from tests.conftest import TASKS
from tests.serve.conftest import record_of


def client(model, challenger=None, **kw) -> TestClient:
    return TestClient(create_app(model, settings=ServeSettings(**kw), source="champ",
                                 challenger=challenger, challenger_source="chall"),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def challengers(tables, other_binary):
    """A second model per task on the same columns (fewer rows, another seed)."""
    import mlexpert

    out = {"binary": other_binary}
    for task in ("multiclass", "regression"):
        out[task] = mlexpert.fit(tables[task].sample(frac=0.7, random_state=5), target="y",
                                 time_limit=15, seed=1, presets="fast", budget=1)
    return out


def records(tables, task, n, start=0):
    return [record_of(tables[task], i) for i in range(start, start + n)]


# -- routing -----------------------------------------------------------------------------------

def test_draw_is_stable_and_uniform():
    assert draw("customer-7") == draw("customer-7")
    u = np.array([draw(f"k{i}") for i in range(20_000)])
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    assert abs(routed([f"k{i}" for i in range(20_000)], 0.1).mean() - 0.1) < 0.007


def test_routing_keys_from_features_raw_json_or_request():
    rows = [[1.0, "a"], [None, "b"]]
    assert routing_keys(None, "rid", b"", rows, {}) == ["rid", "rid"]
    assert routing_keys("x", "rid", b"", rows, {"x": 0}) == ["1", "rid"]  # 1.0 reads as "1"
    body = json.dumps([{"cust": 7}, {"other": 1}]).encode()
    assert routing_keys("cust", "rid", body, rows, {"x": 0}) == ["7", "rid"]


# -- shadow ------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
def test_shadow_response_is_byte_equal_to_the_champion_alone(fitted, challengers, tables, task):
    body = records(tables, task, 5)
    with client(fitted[task]) as alone, \
            client(fitted[task], challengers[task], mode="shadow") as shadow:
        for i, payload in enumerate([body[0], body]):
            h = {"X-Request-ID": f"same-{i}"}
            a, b = alone.post("/predict", json=payload, headers=h), \
                shadow.post("/predict", json=payload, headers=h)
            assert a.status_code == b.status_code == 200
            assert a.content == b.content
            assert b.headers["x-model-role"] == "champion"
            assert b.headers["x-model-name"] == "champ"
        # the challenger scored every record off the response path
        ledger = shadow.app.state.service.ledger
        entries = list(ledger._entries.values())
        assert len(entries) == 6 and all(set(e.outputs) == {"champion", "challenger"}
                                         for e in entries)
        want = challengers[task].predict_proba(tables[task].drop(columns="y").head(5)) \
            if task != "regression" else \
            challengers[task].predict(tables[task].drop(columns="y").head(5))
        got = np.array([e.outputs["challenger"] for e in entries[1:]])
        np.testing.assert_allclose(got, np.asarray(want, dtype=float), atol=1e-6)
        text = shadow.get("/metrics").text
        assert 'mlexpert_model_rows_total{role="challenger"} 6.0' in text
        assert 'mlexpert_model_rows_total{role="champion"} 6.0' in text
        assert 'mlexpert_rows_predicted_total{route="/predict"} 6.0' in text  # answers, once
        assert "mlexpert_challenger_info" in text


# -- canary ------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
def test_canary_answers_with_the_routed_model_and_says_so(fitted, challengers, tables, task):
    share = 0.3
    with client(fitted[task], challengers[task], mode="canary", share=share) as c:
        roles = []
        for i in range(60):
            rid = f"req-{i}"
            r = c.post("/predict", json=record_of(tables[task], i), headers={"X-Request-ID": rid})
            assert r.status_code == 200
            out = r.json()
            role = "challenger" if draw(rid) < share else "champion"
            assert out["answered_by"] == [role] and out["model"]["role"] == role
            assert r.headers["x-model-role"] == role
            assert out["model"]["name"] == ("chall" if role == "challenger" else "champ")
            model = challengers[task] if role == "challenger" else fitted[task]
            want = np.asarray(model.predict(tables[task].drop(columns="y").iloc[[i]]))[0]
            if task == "regression":
                assert out["predictions"][0] == pytest.approx(float(want), abs=1e-6)
            else:
                assert str(out["predictions"][0]) == str(want)
            roles.append(role)
        assert {"champion", "challenger"} <= set(roles)
        text = c.get("/metrics").text
        for role in ("champion", "challenger"):
            assert f'mlexpert_model_answered_rows_total{{role="{role}"}} {roles.count(role)}.0' \
                in text


def test_canary_with_a_key_is_sticky_and_splits_a_mixed_request(fitted, challengers, tables):
    champ, chall = fitted["binary"], challengers["binary"]
    with client(champ, chall, mode="canary", share=0.5, route_key="cust") as c:
        seen: dict[str, set[str]] = {}
        for i in range(40):
            key = f"c{i % 8}"
            rec = {**record_of(tables["binary"], i), "cust": key}
            r = c.post("/predict", json=rec)  # a new request id each time: the key decides
            seen.setdefault(key, set()).update(r.json()["answered_by"])
        assert all(len(v) == 1 for v in seen.values())
        assert {next(iter(v)) for v in seen.values()} == {"champion", "challenger"}
        # one request whose records belong to customers on both sides
        keys = [k for k in seen][:8]
        recs = [{**record_of(tables["binary"], j), "cust": k} for j, k in enumerate(keys)]
        out = c.post("/predict", json=recs).json()
        want = ["challenger" if draw(k) < 0.5 else "champion" for k in keys]
        assert out["answered_by"] == want
        assert [m["role"] for m in out["model"]] == ["champion", "challenger"]
        X = tables["binary"].drop(columns="y").head(8)
        pa, pb = champ.predict_proba(X), chall.predict_proba(X)
        got = np.array([[p[str(k)] for k in champ.classes] for p in out["probabilities"]])
        expect = np.where(np.array(want)[:, None] == "challenger", pb, pa)
        np.testing.assert_allclose(got, expect, atol=1e-6)


def test_a_challenger_of_another_task_or_target_is_refused(fitted, tree_models):
    with pytest.raises(ConfigError, match="regression model and the champion a binary"):
        create_app(fitted["binary"], challenger=fitted["regression"])
    with pytest.raises(ConfigError, match="multiclass model and the champion a binary"):
        create_app(fitted["binary"], challenger=fitted["multiclass"])
    with pytest.raises(ConfigError, match=r"classes \[0, 1\] differ from the champion's"):
        create_app(fitted["binary"], challenger=tree_models["binary"])  # 0/1 vs no/yes


def test_a_challenger_that_cannot_read_the_record_leaves_it_to_the_champion(
        fitted, tree_models, tables):
    # the tree model was trained on other columns: its own input rule refuses these records
    with client(fitted["regression"], tree_models["regression"], mode="canary",
                share=0.99) as c:
        assert draw("z") < 0.99
        r = c.post("/predict", json=record_of(tables["regression"], 0),
                   headers={"X-Request-ID": "z"})
        assert r.status_code == 200 and r.json()["answered_by"] == ["champion"]
        assert 'mlexpert_model_errors_total{role="challenger"} 1.0' in c.get("/metrics").text


# -- feedback and compare --------------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
def test_feedback_joins_exactly_and_compare_matches_offline(fitted, challengers, tables, task):
    n = 60
    table = tables[task]
    with client(fitted[task], challengers[task], mode="canary", share=0.5) as c:
        for i in range(n):  # odd requests unlabelled: the join must pick the right ones
            assert c.post("/predict", json=record_of(table, i),
                          headers={"X-Request-ID": f"r{i}"}).status_code == 200
        y = table["y"].tolist()
        labelled = list(range(0, n, 2))
        label = [float(v) if task == "regression" else str(v) for v in y]
        r = c.post("/feedback", json=[{"request_id": f"r{i}", "label": label[i]}
                                      for i in labelled])
        assert r.status_code == 200 and r.json()["matched"] == len(labelled)
        r = c.post("/feedback", json={"request_id": "nope", "label": label[0]})
        assert r.json()["matched"] == 0 and r.json()["unknown"][0]["request_id"] == "nope"
        got = c.get("/compare").json()
    assert got["labelled_rows"] == len(labelled)
    X = table.drop(columns="y").iloc[labelled]
    champ, chall = fitted[task], challengers[task]
    metric = get_metric(champ.manifest.metric, champ.task)
    if task == "regression":
        a, b, yy = champ.predict(X), chall.predict(X), np.array([y[i] for i in labelled])
    else:
        a, b = champ.predict_proba(X), chall.predict_proba(X)
        idx = {str(k): j for j, k in enumerate(champ.classes)}
        yy = np.array([idx[str(label[i])] for i in labelled])
    want = compare_paired(metric, yy, np.asarray(a, float), np.asarray(b, float))
    cmp = got["comparison"]
    assert cmp["metric"] == metric.name
    assert cmp["champion"] == pytest.approx(want.champion, abs=1e-6)
    assert cmp["challenger"] == pytest.approx(want.challenger, abs=1e-6)
    assert cmp["difference_interval"] == pytest.approx(list(want.difference_interval), abs=1e-6)
    assert got["recommendation"] == want.decision
    assert got["recommendation"] in ("promote", "keep", "not_enough_data")


def test_compare_waits_for_enough_labels_and_says_how_many(fitted, challengers, tables):
    with client(fitted["binary"], challengers["binary"]) as c:
        for i in range(5):
            c.post("/predict", json=record_of(tables["binary"], i), headers={"X-Request-ID": f"q{i}"})
            c.post("/feedback", json={"request_id": f"q{i}", "label": tables["binary"]["y"][i]})
        got = c.get("/compare").json()
    assert got["labelled_rows"] == 5
    assert got["recommendation"] == "not_enough_data" and got["more_rows_needed"] >= 25


def test_feedback_by_key_labels_the_keys_latest_record(fitted, challengers, tables):
    with client(fitted["binary"], challengers["binary"], route_key="cust") as c:
        for i in range(3):
            c.post("/predict", json={**record_of(tables["binary"], i), "cust": 42},
                   headers={"X-Request-ID": f"k{i}"})
        assert c.post("/feedback", json={"key": 42, "label": "yes"}).json()["matched"] == 1
        entries = c.app.state.service.ledger.labelled("champion")
        yes = list(fitted["binary"].classes).index("yes")
        assert len(entries) == 1 and entries[0].key == "42" and entries[0].label == yes
        # the latest record of key 42 is request k2's
        assert c.app.state.service.ledger._by_key["42"] == ("k2", 0)


def test_feedback_refuses_what_it_cannot_join_naming_the_item(fitted, challengers, tables):
    with client(fitted["binary"], challengers["binary"]) as c:
        c.post("/predict", json=record_of(tables["binary"], 0), headers={"X-Request-ID": "a"})
        bad = [({"request_id": "a"}, "needs a \"label\""),
               ({"request_id": "a", "label": "maybe"}, "not one of the model's classes"),
               ({"request_id": "a", "label": True}, "not one of the model's classes"),
               ({"label": "yes"}, "exactly one of"),
               ({"request_id": "a", "key": "x", "label": "yes"}, "exactly one of"),
               ({"request_id": "a", "index": -1, "label": "yes"}, "index must be"),
               ({"key": "x", "label": "yes"}, "--key FIELD")]
        for item, words in bad:
            r = c.post("/feedback", json=[{"request_id": "a", "label": "no"}, item])
            assert r.status_code == 422 and words in r.json()["error"], (item, r.json())
            assert "item 1" in r.json()["error"]
        assert c.post("/feedback", content=b"{nope").status_code == 400
        # nothing of a refused request was kept
        assert c.app.state.service.ledger.labelled("champion") == []
    with client(fitted["regression"]) as c:
        c.post("/predict", json=record_of(tables["regression"], 0), headers={"X-Request-ID": "a"})
        r = c.post("/feedback", json={"request_id": "a", "label": "high"})
        assert r.status_code == 422 and "finite number" in r.json()["error"]
        assert c.get("/compare").status_code == 409  # no challenger
    with client(fitted["binary"], feedback_window=0) as c:
        assert c.post("/feedback", json={"request_id": "a", "label": 1}).status_code == 409


def test_monitor_per_model_with_realised_performance(fitted, challengers, tables):
    table = tables["binary"]
    with client(fitted["binary"], challengers["binary"], monitor_min_rows=10) as c:
        for i in range(30):
            c.post("/predict", json=record_of(table, i), headers={"X-Request-ID": f"m{i}"})
            c.post("/feedback", json={"request_id": f"m{i}", "label": table["y"][i]})
        champ = c.get("/monitor").json()
        chall = c.get("/monitor", params={"model": "challenger"}).json()
        meta = c.get("/metadata").json()
    assert champ["role"] == "champion" and chall["role"] == "challenger"
    assert chall["window"]["rows"] == 30 and chall["result"] is not None
    X = table.drop(columns="y").head(30)
    metric = get_metric(fitted["binary"].manifest.metric, "binary")
    for body, model in ((champ, fitted["binary"]), (chall, challengers["binary"])):
        assert body["feedback"]["labelled_rows"] == 30
        idx = {k: j for j, k in enumerate(model.classes)}
        y30 = np.array([idx[v] for v in table["y"].head(30)])
        want = metric.score(y30, np.asarray(model.predict_proba(X), dtype=float))
        assert body["feedback"]["current"]["value"] == pytest.approx(want, abs=1e-6)
        assert body["performance"]["source"] == "realised"  # 30 labels: they replace the estimate
    assert meta["challenger"]["name"] == "chall" and meta["challenger"]["mode"] == "shadow"
    assert meta["feedback"]["on"] is True


def test_bad_rollout_settings_are_one_line_errors():
    for kw, words in (({"mode": "split"}, "mode must be"), ({"share": 1.5}, "share must be"),
                      ({"share": 0}, "share must be"), ({"route_key": ""}, "route_key"),
                      ({"feedback_window": -1}, "feedback_window")):
        with pytest.raises(ConfigError, match=words):
            ServeSettings(**kw)


def test_monitor_alerts_name_the_retrain_command(fitted, tables):
    table = tables["binary"]
    with client(fitted["binary"], monitor_min_rows=40) as c:
        for i in range(60):
            rec = record_of(table, i)
            rec["x1"] = (rec["x1"] or 0.0) + 6.0  # far outside the training range
            c.post("/predict", json=rec, headers={"X-Request-ID": f"d{i}"})
            wrong = "no" if table["y"][i] == "yes" else "yes"  # every label contradicts it
            c.post("/feedback", json={"request_id": f"d{i}", "label": wrong})
        body = c.get("/monitor").json()
    assert body["result"]["drift_detected"]
    assert any("columns drifted" in a for a in body["alerts"])
    assert any("worse than the cross-validated" in a for a in body["alerts"])
    assert body["next_step"].startswith("mlexpert retrain champ --data")


def test_quiet_traffic_raises_no_alert(fitted, tables):
    table = tables["binary"]
    with client(fitted["binary"], monitor_min_rows=40) as c:
        for i in range(60):
            c.post("/predict", json=record_of(table, i), headers={"X-Request-ID": f"q{i}"})
            c.post("/feedback", json={"request_id": f"q{i}", "label": table["y"][i]})
        body = c.get("/monitor").json()
    assert "alerts" not in body and "next_step" not in body
    assert body["performance"]["source"] == "realised"


def test_without_labels_monitor_reports_the_estimate(fitted, tables):
    table = tables["binary"]
    with client(fitted["binary"], monitor_min_rows=40, monitor_interval=0) as c:
        for i in range(60):
            c.post("/predict", json=record_of(table, i))
        body = c.get("/monitor").json()
        metrics = c.get("/metrics").text
    perf = body["performance"]
    assert perf["source"] == "estimated" and perf["estimate"] is True
    auc = perf["metrics"]["roc_auc"]["value"]
    assert 0.5 < auc <= 1.0
    assert 'mlexpert_estimated_performance{metric="roc_auc"}' in metrics


def test_a_reload_that_would_break_the_pair_keeps_the_old_champion(fitted, challengers, tables,
                                                                   monkeypatch):
    monkeypatch.setenv("MLEXPERT_TEST_ROLLOUT_KEY", "k")
    settings = ServeSettings(api_key_env="MLEXPERT_TEST_ROLLOUT_KEY")
    app = create_app(fitted["binary"], settings=settings, source="champ",
                     loader=lambda: fitted["multiclass"], challenger=challengers["binary"])
    with TestClient(app, raise_server_exceptions=False) as c:
        h = {"X-API-Key": "k"}
        r = c.post("/admin/reload", headers=h)
        assert r.status_code == 409 and "champion a multiclass one" in r.json()["error"]
        assert c.get("/metadata", headers=h).json()["task"] == "binary"


def test_every_model_s_answers_are_logged_as_json_lines(fitted, challengers, tables, caplog):
    import logging

    recs = records(tables, "binary", 3)
    with caplog.at_level(logging.INFO, logger="mlexpert.serve.predictions"), \
            client(fitted["binary"], challengers["binary"], mode="shadow") as c:
        out = c.post("/predict", json=recs, headers={"X-Request-ID": "logged-1"}).json()
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "mlexpert.serve.predictions"]
    by_role = {line["role"]: line for line in lines if line["request_id"] == "logged-1"}
    assert by_role["champion"]["answered"] == [True] * 3
    assert by_role["champion"]["predictions"] == out["predictions"]
    assert by_role["challenger"]["answered"] == [False] * 3
    want = challengers["binary"].predict(tables["binary"].drop(columns="y").head(3))
    assert by_role["challenger"]["predictions"] == [str(v) for v in want]
