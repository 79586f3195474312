"""OnlineMonitor on its own: a bounded window, the same verdicts as the offline check, gauges."""
import threading

import numpy as np
import pytest

from mlexpert.errors import ConfigError, SchemaError
from mlexpert.monitor import OnlineMonitor
from tests.conftest import make_table


@pytest.fixture(scope="module")
def model(fitted):
    return fitted["binary"]


def test_window_stays_bounded_under_any_traffic(model):
    mon = OnlineMonitor(model, window=300, min_rows=50, domain_classifier=False)
    assert mon.result() is None and mon.gauges() == {"window_rows": 0.0}
    batches = [make_table("binary", n=n, seed=i).drop(columns="y")
               for i, n in enumerate([1, 7, 120, 999, 3, 250])]
    for batch in batches:
        mon.update(batch)
        assert mon.rows <= 300
    assert mon.rows == 300 and mon.seen == sum(len(b) for b in batches)
    result = mon.result()
    assert result.rows["current"] == 300 and not result.drift_detected
    assert mon.result() is result  # cached until the next update


def test_drift_in_traffic_is_reported_and_gauged(model):
    mon = OnlineMonitor(model, window=500, min_rows=100)
    batch = make_table("binary", n=500, seed=7).drop(columns="y")
    proba = model.predict_proba(batch)
    mon.update(batch, proba)  # predictions passed in, as the service has them
    quiet = mon.gauges()
    assert quiet["drift_detected"] == 0.0 and quiet["prediction_drift"] == 0.0
    shifted = batch.assign(x1=batch["x1"] * 3 + 2)
    for start in range(0, 500, 50):
        mon.update(shifted.iloc[start:start + 50])
    loud = mon.gauges()
    assert loud["drift_detected"] == 1.0 and loud["prediction_drift"] == 1.0
    assert loud["feature_drift:x1"] == 1.0 and loud["feature_score:x1"] >= 1.0
    assert loud["feature_drift:x2"] == 0.0
    assert mon.result().drifted_columns == ["x1"]


def test_concurrent_updates_keep_the_window_consistent(model):
    mon = OnlineMonitor(model, window=200, min_rows=10, domain_classifier=False)
    batch = make_table("binary", n=40, seed=1).drop(columns="y")
    raw = model.predict_proba(batch).to_numpy()

    def feed():
        for _ in range(10):
            mon.update(batch, raw)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert mon.rows == 200 and mon.seen == 1600
    assert mon.result().rows["current"] == 200


def test_bad_input(model):
    with pytest.raises(ConfigError, match="window"):
        OnlineMonitor(model, window=0)
    with pytest.raises(ConfigError, match="min_rows"):
        OnlineMonitor(model, window=10, min_rows=20)
    mon = OnlineMonitor(model, window=50, min_rows=10)
    batch = make_table("binary", n=5, seed=1).drop(columns="y")
    with pytest.raises(SchemaError, match="'x2'"):
        mon.update(batch.drop(columns="x2"))
    with pytest.raises(ConfigError, match="raw"):
        mon.update(batch, np.zeros((3, 2)))
    assert mon.rows == 0
    mon.update(batch.iloc[0].to_dict())  # one record, as a service receives it
    mon.update(batch.iloc[1:3].to_dict(orient="records"))
    assert mon.rows == 3
