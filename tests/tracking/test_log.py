"""A fit's run on a real store (embedded SQLite and a real server): params, metrics with
intervals, child runs, artifacts, tags, and the bundle as a pyfunc model."""
from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient


def _artifacts(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return out


def test_run_holds_params_metrics_tags(logged, fitted):
    run_info = logged["binary"]
    assert run_info.run_id and run_info.pending is None
    client = MlflowClient(logged["uri"])
    run = client.get_run(run_info.run_id)
    info = fitted["binary"].info
    p = run.data.params
    assert p["task"] == "binary" and p["metric"] == "roc_auc" and p["presets"] == "fast"
    assert p["budget_trials"] == "2" and p["seed"] == "0"
    assert p["split"] == info["plan"]["split"]["kind"]
    assert p["n_splits"] == str(info["plan"]["split"]["n_splits"])
    m = run.data.metrics
    for name, entry in info["metrics"]["cv"].items():
        assert m[f"cv_{name}"] == pytest.approx(entry["value"])
        assert m[f"cv_{name}_low"] <= m[f"cv_{name}"] <= m[f"cv_{name}_high"]
    t = run.data.tags
    assert t["mlexpert.data_fingerprint"] == info["provenance"]["data_fingerprint"]
    assert t["mlexpert.lib.lightgbm"] == info["libraries"]["lightgbm"]
    assert t["mlexpert.command"] == "mlexpert fit train.csv"
    assert len(t["mlflow.source.git.commit"]) == 40  # the tests run inside the repository
    assert run.info.status == "FINISHED"


def test_one_child_run_per_candidate(logged, fitted):
    client = MlflowClient(logged["uri"])
    parent = client.get_run(logged["binary"].run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=500)
    board = fitted["binary"].leaderboard_all  # pruned trials are runs too
    assert sorted(c.info.run_name for c in children) == sorted(board["model"])
    by_name = {c.info.run_name: c for c in children}
    for row in board.itertuples():
        child = by_name[row.model]
        assert child.data.params["family"] == row.family
        if pd.notna(row.score):
            assert child.data.metrics["score"] == pytest.approx(row.score)


def test_artifacts_bundle_audit_card_model(logged, fitted):
    client = MlflowClient(logged["uri"])
    files = _artifacts(client, logged["binary"].run_id)
    assert {"bundle/manifest.json", "bundle/members.pkl.gz", "audit.json",
            "card/card.html"} <= set(files)
    # a bundle without a card logs no card
    assert not any(f.startswith("card/") for f in
                   _artifacts(client, logged["binary_again"].run_id))


def test_pyfunc_model_loads_and_predicts(logged, fitted, tables):
    import mlflow

    mlflow.set_tracking_uri(logged["uri"])
    try:
        pm = mlflow.pyfunc.load_model(logged["binary"].model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    inputs = [c["name"] for c in pm.metadata.signature.inputs.to_dict()]
    assert inputs == [c.name for c in fitted["binary"].schema.features]
    assert pm.metadata.get_input_schema() is not None
    rows = tables["binary"].drop(columns="y").head(20)
    got = pm.predict(rows)
    want = fitted["binary"].predict_table(rows).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_load_runs_uri_gives_the_bundle_back(logged, fitted, tables):
    import mlexpert
    from mlexpert.tracking import load_uri

    rows = tables["binary"].drop(columns="y").head(10)
    want = fitted["binary"].predict_proba(rows)
    for uri in (f"runs:/{logged['binary'].run_id}", logged["binary"].model_uri):
        model = load_uri(uri, tracking_uri=logged["uri"])
        pd.testing.assert_frame_equal(model.predict_proba(rows), want)
    if logged["uri"].startswith("sqlite:"):  # mlexpert.load reads the default store
        assert mlexpert.load(f"runs:/{logged['binary'].run_id}").task == "binary"
