"""Faults: a server that is down or dies mid-fit (the run is kept and synced later), a store
that is not a database, hostile options. Nothing is lost and no store is corrupted."""
from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

import mlexpert
from mlexpert.errors import ConfigError, MlexpertError, TrackingError
from mlexpert.tracking import (
    Tracker,
    TrackingWarning,
    list_pending,
    list_runs,
    resolve_store,
    sync_pending,
    track_by_default,
    tracker_for,
)
from mlexpert.tracking._registry import check_name
from mlexpert.tracking._runs import run_id_of
from tests.conftest import make_table
from tests.tracking.conftest import free_port


def _one_tracking_warning(caught):
    mine = [w for w in caught if issubclass(w.category, TrackingWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    return str(mine[0].message)


def _sync_into(server, run_count_before=None):
    results = sync_pending(server)
    assert results and all(r["error"] is None for r in results), results
    assert not list_pending()
    return [r["run_id"] for r in results]


def test_unreachable_server_keeps_the_run_and_sync_sends_it(fitted, server):
    dead = f"http://127.0.0.1:{free_port()}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Tracker(dead, experiment="faults").log_fit(fitted["regression"])
    message = _one_tracking_warning(caught)
    assert "cannot reach the tracking server" in message and "mlexpert runs sync" in message
    assert run.run_id is None and run.pending is not None
    record = json.loads((run.pending / "record.json").read_text())
    assert record["uri"] == dead and record["metrics"]["cv_rmse"] > 0
    assert mlexpert.load(run.pending / "bundle").task == "regression"
    # the server is still down: sync keeps the run and says why
    results = sync_pending()
    assert results[0]["run_id"] is None and "cannot reach" in results[0]["error"]
    assert list_pending() == [run.pending]
    (run_id,) = _sync_into(server)
    synced = MlflowClient(server).get_run(run_id)
    assert synced.data.metrics["cv_rmse"] == pytest.approx(record["metrics"]["cv_rmse"])
    assert synced.data.tags["mlexpert.data_fingerprint"] == \
        fitted["regression"].info["provenance"]["data_fingerprint"]


def test_server_killed_mid_fit_loses_nothing(tmp_path, server, doomed_server):
    killed = []

    def kill_on_first_event(event):
        if not killed:
            doomed_server.kill()
            killed.append(event)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = mlexpert.fit(make_table("binary", n=120, seed=3), target="y", time_limit=10,
                                 presets="fast", budget=0, progress=kill_on_first_event,
                                 track=Tracker(doomed_server.url, experiment="faults"))
    finally:
        doomed_server.kill()
    assert killed and model.predict(make_table("binary", n=5, seed=4)).shape == (5,)
    assert "cannot reach the tracking server" in _one_tracking_warning(caught)
    (pending,) = list_pending()
    (run_id,) = _sync_into(server)
    run = MlflowClient(server).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlexpert.data_fingerprint"] == model.info["provenance"]["data_fingerprint"]
    assert not pending.exists()


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path, fitted):
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    before = bad.read_bytes()
    with pytest.raises(TrackingError, match="garbage.db") as info:
        list_runs(uri=f"sqlite:///{bad}")
    assert "\n" not in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Tracker(f"sqlite:///{bad}").log_fit(fitted["binary"])
    _one_tracking_warning(caught)
    assert run.pending is not None and bad.read_bytes() == before
    import shutil

    shutil.rmtree(run.pending)


@pytest.mark.parametrize("value, default, expected", [
    ("", True, True), ("", False, False), ("0", True, False), ("off", True, False),
    ("1", False, True), ("yes", False, True), ("maybe", False, False)])
def test_track_env_decides_the_default(monkeypatch, value, default, expected):
    monkeypatch.setenv("MLEXPERT_TRACK", value)
    assert track_by_default(default) is expected


def test_fit_rejects_a_bad_track_option_before_fitting(tables):
    with pytest.raises(ConfigError, match="track must be True, False, a tracking URI"):
        mlexpert.fit(tables["binary"], target="y", track=3)
    with pytest.raises(ConfigError, match="tracking URI"):
        mlexpert.fit(tables["binary"], target="y", track="ftp://nowhere")
    assert tracker_for(False) is None


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.text(max_size=3))))
def test_option_validation_never_crashes(value):
    for check in (check_name, run_id_of, resolve_store, tracker_for):
        try:
            check(value)
        except MlexpertError as exc:
            assert "\n" not in str(exc)


def test_unknown_experiment_and_blank_name(sqlite_uri):
    with pytest.raises(TrackingError, match="no experiment named 'nope'"):
        list_runs(uri=sqlite_uri, experiment="nope")
    with pytest.raises(ConfigError, match="experiment"):
        Tracker(sqlite_uri, experiment="  ")


def test_store_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("MLEXPERT_HOME", str(tmp_path / "work"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    embedded = resolve_store()
    assert embedded.uri == f"sqlite:///{tmp_path / 'work' / 'mlflow.db'}"
    assert embedded.artifact_root == tmp_path / "work" / "artifacts"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_store().uri == "http://127.0.0.1:5000" and resolve_store().is_http
    assert resolve_store("sqlite:///x/y.db").uri == "sqlite:///x/y.db"  # explicit wins
    assert not (tmp_path / "work").exists()  # resolving creates nothing


def test_a_store_held_by_another_writer_times_out_with_a_clear_error(monkeypatch, tmp_path):
    from mlexpert.tracking import _store

    monkeypatch.setattr(_store, "LOCK_WAIT", 0.3)
    db = tmp_path / "busy.db"
    with _store._file_lock(db.with_name("busy.db.lock")):  # as a concurrent process would
        with pytest.raises(TrackingError, match="busy for 0 s"):
            list_runs(uri=f"sqlite:///{db}")
    assert not db.exists()  # nothing was written while waiting
