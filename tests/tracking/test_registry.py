"""The registry on a real store: versions, stages on aliases (one production, the previous one
archived), transitions with who/when/why, schema checks on promotion, models:/ loading."""
from __future__ import annotations

import httpx
import pandas as pd
import pytest

from mlexpert.errors import ConfigError, TrackingError
from mlexpert.tracking import Tracker, archive, list_models, load_uri, promote, register, show
from tests.serve.conftest import record_of, run_server


@pytest.fixture(scope="module")
def churn(logged, other_schema_model):
    """'churn' with versions 1 and 2 (same schema) and 3 (lacks the 'review' column)."""
    uri = logged["uri"]
    v1 = register(logged["binary"].run_id, "churn", uri=uri, reason="first fit", who="ana")
    v2 = register(f"runs:/{logged['binary_again'].run_id}", "churn", uri=uri)
    other = Tracker(uri, experiment="tests").log_fit(other_schema_model)
    v3 = register(other.run_id, "churn", uri=uri)
    return uri, (v1, v2, v3)


def _stages(uri):
    return {v["version"]: v["stage"] for v in show("churn", uri=uri)["versions"]}


def test_register_records_versions(churn):
    uri, (v1, v2, v3) = churn
    assert (v1["version"], v2["version"], v3["version"]) == (1, 2, 3)
    assert v1["stage"] == "none" and v1["metric"].startswith("roc_auc=")
    assert v1["transitions"][0]["who"] == "ana" and v1["transitions"][0]["why"] == "first fit"
    row = next(m for m in list_models(uri=uri) if m["name"] == "churn")
    assert row["versions"] >= 3 and row["latest"] >= 3


def test_promotion_keeps_one_production_and_archives_the_previous(churn, tables, fitted):
    uri, _ = churn
    staged = promote("churn", 1, "staging", uri=uri, reason="canary", who="bo")
    assert staged["stage"] == "staging"
    first = promote("churn", 1, "production", uri=uri, reason="canary passed", who="bo")
    assert first["stage"] == "production"
    assert _stages(uri)[1] == "production"  # staging alias moved with it
    second = promote("churn", 2, "production", uri=uri, reason="retrained", who="cy")
    stages = _stages(uri)
    assert stages[2] == "production" and stages[1] == "archived"
    assert list(stages.values()).count("production") == 1
    assert show("churn", uri=uri)["aliases"]["production"] == "2"
    last = second["transitions"][-1]
    assert (last["from"], last["to"], last["who"], last["why"]) == \
        ("none", "production", "cy", "retrained")
    assert last["when"].endswith("+00:00")
    v1 = show("churn", uri=uri)["versions"][0]
    assert [t["to"] for t in v1["transitions"]] == ["none", "staging", "production", "archived"]
    # models:/ resolves through the alias to a verified bundle
    model = load_uri("models:/churn@production", tracking_uri=uri)
    rows = tables["binary"].drop(columns="y").head(5)
    pd.testing.assert_frame_equal(model.predict_proba(rows), fitted["binary"].predict_proba(rows))
    assert load_uri("models:/churn/1", tracking_uri=uri).task == "binary"


def test_the_service_serves_a_registry_alias(churn, tables, fitted, tmp_path):
    """`mlexpert serve models:/churn@production`: a real uvicorn process resolves the alias,
    names the registered model and version in /metadata and every prediction."""
    uri, _ = churn
    if "production" not in show("churn", uri=uri)["aliases"]:
        promote("churn", 2, "production", uri=uri)
    prod = show("churn", uri=uri)["aliases"]["production"]
    with run_server("models:/churn@production", env={"MLFLOW_TRACKING_URI": uri},
                    tmp=tmp_path) as server:
        meta = httpx.get(server.url + "/metadata", timeout=10).json()
        assert (meta["name"], meta["version"]) == ("churn", str(prod))
        record = record_of(tables["binary"])
        answer = httpx.post(server.url + "/predict", json=record, timeout=10).json()
    assert answer["model"] == {"name": "churn", "version": str(prod)}
    rows = tables["binary"].drop(columns="y").head(1)
    assert answer["predictions"][0] == fitted["binary"].predict(rows)[0]


def test_promotion_refused_when_the_input_schema_differs(churn):
    uri, _ = churn
    if "production" not in show("churn", uri=uri)["aliases"]:
        promote("churn", 2, "production", uri=uri)
    with pytest.raises(TrackingError, match=r"different input schema.*lacks 'review'.*--force"):
        promote("churn", 3, "production", uri=uri)
    prod = show("churn", uri=uri)["aliases"]["production"]
    assert prod != "3"  # nothing moved
    forced = promote("churn", 3, "production", uri=uri, force=True, reason="new features")
    assert forced["stage"] == "production"
    assert _stages(uri)[int(prod)] == "archived"


def test_archive_removes_the_stage(churn):
    uri, _ = churn
    promote("churn", 2, "staging", uri=uri)
    archived = archive("churn", 2, uri=uri, reason="superseded")
    assert archived["stage"] == "archived"
    assert "staging" not in show("churn", uri=uri)["aliases"]
    with pytest.raises(TrackingError, match="already archived"):
        archive("churn", 2, uri=uri)
    with pytest.raises(TrackingError, match="no version with alias 'staging'"):
        load_uri("models:/churn@staging", tracking_uri=uri)


@pytest.mark.parametrize("call, error, message", [
    (lambda u: show("nosuch", uri=u), TrackingError, "no registered model named 'nosuch'"),
    (lambda u: promote("churn", 99, "production", uri=u), TrackingError, "has no version 99"),
    (lambda u: promote("churn", 1, "prod", uri=u), ConfigError, "staging or production"),
    (lambda u: promote("churn", "one", "staging", uri=u), ConfigError, "version number"),
    (lambda u: register("0" * 32, "churn", uri=u), TrackingError, "no run '0000"),
    (lambda u: register("not-a-run", "churn", uri=u), ConfigError, "run id"),
    (lambda u: register(".", "churn", uri=u), TrackingError, "not an mlexpert bundle"),
    (lambda u: register("0" * 32, "bad name!", uri=u), ConfigError, "model name"),
    (lambda u: load_uri("models:/nosuch@production", tracking_uri=u), TrackingError,
     "no registered model named 'nosuch'"),
    (lambda u: load_uri("models:/", tracking_uri=u), ConfigError, "models:/NAME@ALIAS"),
], ids=["show-unknown", "promote-unknown-version", "promote-bad-stage", "promote-bad-version",
        "register-unknown-run", "register-garbage", "register-non-bundle-dir", "register-bad-name",
        "load-unknown-model", "load-bad-uri"])
def test_registry_errors_are_one_clear_line(churn, call, error, message):
    uri, _ = churn
    with pytest.raises(error, match=message) as info:
        call(uri)
    assert "\n" not in str(info.value)


def test_registering_a_child_run_is_refused(churn, logged):
    from mlflow import MlflowClient

    uri, _ = churn
    client = MlflowClient(uri)
    parent = client.get_run(logged["binary"].run_id)
    child = client.search_runs([parent.info.experiment_id],
                               f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")[0]
    with pytest.raises(TrackingError, match="holds no model logged by mlexpert"):
        register(child.info.run_id, "churn", uri=uri)


def test_cached_model_that_was_tampered_with_is_downloaded_again(churn, home):
    uri, _ = churn
    load_uri("models:/churn/1", tracking_uri=uri)
    members = list((home / "cache" / "models").glob("*/churn/1/**/members.pkl.gz"))
    assert members
    members[0].write_bytes(b"tampered")
    model = load_uri("models:/churn/1", tracking_uri=uri)  # verified, refused, fetched again
    assert model.task == "binary"


@pytest.mark.parametrize("env", [True, False], ids=["MLFLOW_TRACKING_URI", "no-env"])
def test_mlflow_global_state_is_left_as_found(fitted, tmp_path, monkeypatch, env):
    """MLflow unsets MLFLOW_TRACKING_URI when it restores an unset global URI: registering,
    promoting and loading must leave the user's URIs exactly as they were, so MLflow's own
    ``pyfunc.load_model("models:/...")`` still finds the model afterwards."""
    import os

    import mlflow

    import mlexpert

    uri = f"sqlite:///{tmp_path / 'mine.db'}"
    monkeypatch.chdir(tmp_path)
    if env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def state():
        return (mlflow.get_tracking_uri(), mlflow.get_registry_uri(),
                os.environ.get("MLFLOW_TRACKING_URI"))

    before = state()
    bundle = fitted["binary"].save(tmp_path / "bundle")
    version = register(str(bundle), "churn", uri=None if env else uri)["version"]
    assert state() == before
    promote("churn", version, "production", uri=None if env else uri)
    assert state() == before
    model = mlexpert.load("models:/churn@production") if env else \
        load_uri("models:/churn@production", tracking_uri=uri)
    assert state() == before and model.task == "binary"
    if env:  # the user's next MLflow call in the same process
        assert mlflow.pyfunc.load_model("models:/churn@production") is not None
