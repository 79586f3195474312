"""Histories logged to a real MLflow store (SQLite under the test's folder) and read back with
``--run``: the same diagnosis as from the table, infinities stored as MLflow stores them."""
import math

import pytest
from typer.testing import CliRunner

from mlexpert.cli import app
from mlexpert.diagnosis import diagnose
from mlexpert.errors import TrackingError

LOGGED = ("memorise", "blow_up", "healthy")


@pytest.fixture(scope="module")
def store(histories, tmp_path_factory):
    """(URI, {scenario: run id}): each history logged per epoch, as an autologger would."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("diagnose", artifact_location=(folder / "art").as_uri())
    runs = {}
    for name in LOGGED:
        run = client.create_run(exp, run_name=name)
        h = histories[name]
        metrics = [Metric(col, float(v), 1_700_000_000_000 + int(r["epoch"]), int(r["epoch"]))
                   for r in h.to_dict("records") for col, v in r.items()
                   # a NaN loss was logged as NaN; other NaN cells were never logged
                   if col != "epoch" and (v == v or col in ("loss", "val_loss"))]
        client.log_batch(run.info.run_id, metrics=metrics)
        client.set_terminated(run.info.run_id)
        runs[name] = run.info.run_id
    return uri, runs


@pytest.mark.parametrize("scenario", LOGGED)
def test_a_logged_run_reads_back_to_the_same_diagnosis(store, histories, priors, scenario):
    uri, runs = store
    from_run = diagnose(runs[scenario], tracking_uri=uri, priors=priors[scenario])
    direct = diagnose(histories[scenario], priors=priors[scenario])
    assert from_run.checks == direct.checks
    assert runs[scenario] in from_run.source and scenario in from_run.source
    assert from_run.sections[0].summary["index"] == "epoch"
    for a, b in zip(from_run.findings, direct.findings, strict=True):
        assert a.evidence.keys() == b.evidence.keys()


def test_infinity_stored_by_mlflow_reads_back_as_infinite(store, histories, priors):
    """MLflow's SQL store writes +inf as the largest float; it must still read as a blow-up."""
    uri, runs = store
    h = histories["blow_up"]
    first = h.loc[~h["loss"].map(math.isfinite)].iloc[0]
    assert math.isinf(first["loss"])  # the run's loss went to infinity before NaN
    f = diagnose(f"runs:/{runs['blow_up']}", tracking_uri=uri, priors=priors["blow_up"]).findings[0]
    assert f.check == "diverging" and f.evidence["value"] == "infinite"
    assert f.evidence["first_non_finite"] == int(first["epoch"])


def test_cli_reads_a_run_and_fails_in_one_line_on_an_unknown_one(store):
    uri, runs = store
    r = CliRunner().invoke(app, ["diagnose", "--run", runs["memorise"], "--tracking-uri", uri,
                                 "--task", "binary"])
    assert r.exit_code == 0, r.output
    assert "overfitting" in r.output and "Overfitting from epoch" in r.output
    r = CliRunner().invoke(app, ["diagnose", "--run", "0" * 32, "--tracking-uri", uri])
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: no run '000") and len(r.output.strip().splitlines()) == 1
    with pytest.raises(TrackingError):
        diagnose("f" * 32, tracking_uri=uri)
