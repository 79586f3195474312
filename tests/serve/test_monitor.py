"""Live drift monitoring in the service: GET /monitor and the drift gauges of /metrics agree
with the offline check on the same rows, the window stays bounded, reloads start it over."""
from __future__ import annotations

import re

import pytest

import mlexpert
from mlexpert.errors import ConfigError
from mlexpert.serve import ServeSettings
from tests.conftest import TASKS, make_table
from tests.serve.conftest import record_of
from tests.serve.test_app import client

KEY_ENV = "MLEXPERT_TEST_SERVE_KEY"


def _records(frame, start: int, n: int) -> list[dict]:
    return [record_of(frame, i) for i in range(start, start + n)]


def _gauge(text: str, name: str, label: str | None = None) -> float:
    pattern = rf"^{name}{{feature=\"{label}\"}} (\S+)$" if label else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name} {label or ''} not in /metrics"
    return float(match.group(1))


@pytest.mark.parametrize("task", TASKS)
def test_unchanged_traffic_is_quiet_and_matches_the_offline_check(fitted, task):
    model = fitted[task]
    fresh = make_table(task, n=300, seed=7)  # new rows from the training distribution
    with client(model, monitor_window=300, monitor_min_rows=50, monitor_interval=0) as c:
        first = c.get("/monitor").json()
        assert first["result"] is None and "collecting" in first["message"]
        for i in range(0, 100, 20):            # single records and small lists ...
            assert c.post("/predict", json=_records(fresh, i, 20)).status_code == 200
        upload = fresh.drop(columns="y").iloc[100:].to_csv(index=False)   # ... and an upload
        assert c.post("/predict/batch", content=upload,
                      headers={"Content-Type": "text/csv"}).status_code == 200
        body = c.get("/monitor").json()
        metrics = c.get("/metrics").text
    assert body["window"] == {"rows": 300, "capacity": 300, "min_rows": 50, "seen": 300}
    live = body["result"]
    offline = mlexpert.drift(model, fresh.drop(columns="y"), seed=0).to_dict()
    assert live["drift_detected"] is offline["drift_detected"] is False
    assert _gauge(metrics, "mlexpert_drift_detected") == 0.0
    assert _gauge(metrics, "mlexpert_drift_window_rows") == 300.0
    by_test = {(r["column"], r["test"]): r for r in offline["columns"]}
    assert {(r["column"], r["test"]) for r in live["columns"]} == set(by_test)
    for r in live["columns"]:  # the same rows, the same statistics
        want = by_test[(r["column"], r["test"])]
        assert r["drifted"] == want["drifted"]
        if want["statistic"] is not None:
            assert r["statistic"] == pytest.approx(want["statistic"], rel=1e-6, abs=1e-9)
    assert live["prediction_drift"] is not None


def test_shifted_traffic_raises_the_alarm_naming_the_column(fitted, tables):
    shifted = make_table("binary", n=200, seed=8)
    shifted["x2"] = shifted["x2"] + 3.0   # far outside training's -1..1
    with client(fitted["binary"], monitor_window=200, monitor_min_rows=50,
                monitor_interval=0) as c:
        for i in range(0, 200, 25):
            c.post("/predict", json=_records(shifted, i, 25))
        body = c.get("/monitor").json()
        metrics = c.get("/metrics").text
    assert body["result"]["drift_detected"] is True
    assert "x2" in {r["column"] for r in body["result"]["columns"] if r["drifted"]}
    assert _gauge(metrics, "mlexpert_drift_detected") == 1.0
    assert _gauge(metrics, "mlexpert_feature_drifted", "x2") == 1.0
    assert _gauge(metrics, "mlexpert_feature_drift_score", "x2") >= 1.0
    assert _gauge(metrics, "mlexpert_feature_drifted", "color") == 0.0


def test_the_window_is_bounded_whatever_the_traffic(fitted, tables):
    frame = tables["binary"]
    with client(fitted["binary"], monitor_window=50, monitor_min_rows=10,
                monitor_interval=3600) as c:
        live = c.app.state.service.live
        for _ in range(4):   # 4 x 400 rows in one list each, never checked in between
            assert c.post("/predict", json=_records(frame, 0, 400)).status_code == 200
            assert live._pending_rows <= 50 and sum(len(o) for _, o in live._pending) <= 50
        for i in range(30):  # single records
            c.post("/predict", json=record_of(frame, i))
        assert sum(len(o) for _, o in live._pending) <= 50
        body = c.get("/monitor").json()
        assert body["window"]["rows"] == 50 and body["window"]["seen"] == 1630
        # /metrics with a long interval reuses the last check instead of running a new one
        c.post("/predict", json=_records(frame, 0, 5))
        assert _gauge(c.get("/metrics").text, "mlexpert_drift_window_rows") == 50.0
        assert len(live._pending) == 1


def test_a_reload_to_a_new_version_starts_the_window_over(fitted, tables, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k")
    h = {"X-API-Key": "k"}
    with client(fitted["binary"], api_key_env=KEY_ENV, loader=lambda: fitted["multiclass"],
                monitor_window=100, monitor_min_rows=10) as c:
        c.post("/predict", json=_records(tables["binary"], 0, 40), headers=h)
        assert c.get("/monitor", headers=h).json()["window"]["rows"] == 40
        assert c.post("/admin/reload", headers=h).json()["changed"] is True
        body = c.get("/monitor", headers=h).json()
        assert body["window"]["rows"] == 0 and body["result"] is None
        c.post("/predict", json=_records(tables["multiclass"], 0, 20), headers=h)
        after = c.get("/monitor", headers=h).json()
    assert after["window"]["rows"] == 20
    assert after["model_version"] == c.app.state.service.predictor.identity.version


def test_monitoring_off_or_without_a_reference_is_a_409_that_says_why(fitted, tables, tmp_path):
    with client(fitted["binary"], monitor_window=0) as c:
        r = c.get("/monitor")
        assert r.status_code == 409 and "--monitor-window" in r.json()["error"]
        assert c.get("/metadata").json()["live_monitor"]["on"] is False
        assert c.post("/predict", json=record_of(tables["binary"])).status_code == 200
    fitted["binary"].save(tmp_path / "m")
    (tmp_path / "m" / "reference.parquet").unlink()
    manifest = (tmp_path / "m" / "manifest.json")
    import json

    data = json.loads(manifest.read_text())
    data.pop("reference", None)
    data.get("files", {}).pop("reference.parquet", None)
    manifest.write_text(json.dumps(data))
    old = mlexpert.load(tmp_path / "m")
    with client(old) as c:
        r = c.get("/monitor")
        assert r.status_code == 409 and "no training reference" in r.json()["error"]
        assert c.post("/predict", json=record_of(tables["binary"])).status_code == 200


@pytest.mark.parametrize("kw", [{"monitor_window": 5}, {"monitor_window": -1},
                                {"monitor_window": 100, "monitor_min_rows": 101},
                                {"monitor_min_rows": 0}, {"monitor_interval": -1},
                                {"monitor_window": True}])
def test_bad_monitor_settings_are_one_clear_error(kw):
    with pytest.raises(ConfigError, match="monitor_"):
        ServeSettings(**kw)


def test_observing_costs_no_pandas_per_request(fitted, tables, monkeypatch):
    """observe() only buffers: building the table waits for a check."""
    with client(fitted["binary"], monitor_window=100, monitor_interval=3600) as c:
        live = c.app.state.service.live
        calls = []
        frame_of = live._frame_of
        live._frame_of = lambda rows: calls.append(len(rows)) or frame_of(rows)
        for i in range(20):
            c.post("/predict", json=record_of(tables["binary"], i))
        assert calls == []
        assert c.get("/monitor").json()["window"]["rows"] == 20
        assert calls == [20]  # one table for all 20 requests, when checked
