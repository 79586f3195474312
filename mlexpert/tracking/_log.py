"""Logging a fit to MLflow, and keeping it on disk when the store cannot take it.

A fit's run: params, metrics with intervals, tags, one child run per leaderboard candidate, the
bundle and audit findings (and a model card when the bundle holds one) as artifacts, and the
bundle as a pyfunc model with signature and input example. If the store is unreachable or fails
while logging, the record and a copy of the bundle go to ``<work folder>/pending/`` and one
TrackingWarning says so; ``sync_pending`` (``mlexpert runs sync``) sends them later.

MLflow is imported after the fit, not in a background thread during it: tried, a concurrent
import made scikit-learn see a half-imported polars and every candidate failed.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlexpert._io import atomic_dir, dumps
from mlexpert.errors import TrackingError
from mlexpert.tracking._record import fit_record
from mlexpert.tracking._store import (
    DEFAULT_EXPERIMENT,
    Store,
    _first_line,
    check_experiment_name,
    experiment_id,
    resolve_store,
    session,
    work_folder,
)

CARD_NAME = "card.html"  # written into the bundle by `mlexpert fit` (mlexpert.report)
RECORD = "record.json"


class TrackingWarning(UserWarning):
    """A run could not be sent to the tracking store; it was kept for ``mlexpert runs sync``."""


@dataclass(frozen=True)
class TrackedRun:
    """Where a fit was logged: ``run_id`` in ``experiment`` on ``uri``; ``pending`` holds the
    folder of a run kept on disk instead (run_id is then None)."""

    run_id: str | None
    uri: str
    experiment: str
    pending: Path | None = None

    @property
    def model_uri(self) -> str | None:
        return f"runs:/{self.run_id}/model" if self.run_id else None


class Tracker:
    """Logs fits to one MLflow store and experiment. ``uri``: a tracking URI (None:
    ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store in the work folder)."""

    def __init__(self, uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT):
        self.store: Store = resolve_store(uri)
        self.experiment = check_experiment_name(experiment)

    def __repr__(self) -> str:
        return f"Tracker(uri={self.store.uri!r}, experiment={self.experiment!r})"

    def log_fit(self, model: Any, *, bundle: str | os.PathLike | None = None,
                command: list[str] | None = None) -> TrackedRun:
        """Log ``model`` (saved at ``bundle``; saved to a temp dir when None). Never raises for
        a store that is down: the run is kept on disk and a TrackingWarning is issued."""
        record = fit_record(model.manifest, command=command)
        record["experiment"] = self.experiment
        record["uri"] = self.store.uri
        with tempfile.TemporaryDirectory(prefix="mlexpert-track-") as tmp:
            if bundle is None:
                bundle = model.save(Path(tmp) / "bundle")
            bundle = Path(bundle)
            partial: dict[str, str] = {}
            try:
                run_id = _send(self.store, record, bundle, partial)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the run on disk
                record["partial_run_id"] = partial.get("run_id")
                folder = _keep_pending(record, bundle)
                warnings.warn(f"the run was not logged to {self.store.uri!r} "
                              f"({_first_line(exc)}); it is kept in {folder}: run "
                              "`mlexpert runs sync` when the store is back.",
                              TrackingWarning, stacklevel=2)
                return TrackedRun(None, self.store.uri, self.experiment, folder)
        return TrackedRun(run_id, self.store.uri, self.experiment)


def _card(bundle: Path) -> Path | None:
    card = bundle / CARD_NAME
    return card if card.is_file() else None


def _send(store: Store, record: dict[str, Any], bundle: Path, partial: dict[str, str]) -> str:
    """Create the run and its children, log everything, return the run id."""
    from mlflow.entities import Metric, Param, RunTag

    from mlexpert.bundle import load

    model = load(bundle)  # verifies the bundle we are about to publish...
    _ = model.ensemble  # ...members included (load reads them on first use)
    with session(store) as client:
        exp_id = experiment_id(client, store, record["experiment"], create=True)
        run = client.create_run(exp_id, run_name=record["run_name"], tags=record["tags"])
        run_id = run.info.run_id
        partial["run_id"] = run_id
        now = run.info.start_time
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in record["metrics"].items()],
                         params=[Param(k, v) for k, v in record["params"].items()])
        for child in record["children"]:
            c = client.create_run(exp_id, run_name=child["name"],
                                  tags={"mlflow.parentRunId": run_id,
                                        "mlexpert.kind": "candidate"})
            client.log_batch(c.info.run_id,
                             metrics=[Metric(k, v, now, 0) for k, v in child["metrics"].items()],
                             params=[Param(k, v) for k, v in child["params"].items()],
                             tags=[RunTag("mlflow.parentRunId", run_id)])
            client.set_terminated(c.info.run_id)
        client.log_artifacts(run_id, str(bundle), "bundle")
        client.log_dict(run_id, {"findings": record["findings"]}, "audit.json")
        card = _card(bundle)
        if card is not None:
            client.log_artifact(run_id, str(card), "card")
        logged = _log_pyfunc(run_id, model, bundle)
        client.set_tag(run_id, "mlexpert.model_id", logged.model_id)
        client.set_terminated(run_id)
    return run_id


def _log_pyfunc(run_id: str, model: Any, bundle: Path) -> Any:
    """Log the bundle as the run's pyfunc model ``model`` (inside the run, so MLflow files the
    logged model under the run's experiment and artifact location)."""
    import mlflow

    from mlexpert.tracking import _pyfunc

    manifest = model.manifest
    example = _pyfunc.input_example(manifest)
    output = model.predict_table(example)
    with warnings.catch_warnings(), _quiet_mlflow():
        warnings.simplefilter("ignore")
        with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
            logged = mlflow.pyfunc.log_model(
                name="model", python_model=_pyfunc.BundleModel(),
                artifacts={_pyfunc.BUNDLE_ARTIFACT: str(bundle)},
                signature=_pyfunc.signature(manifest, output), input_example=example,
                pip_requirements=_pyfunc.pip_requirements(manifest))
    return logged


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's INFO/WARNING chatter (CloudPickle notice, example validation) off for a block."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# -- pending runs ----------------------------------------------------------------------------
def pending_folder() -> Path:
    return work_folder() / "pending"


def _keep_pending(record: dict[str, Any], bundle: Path) -> Path:
    """Write the record and a copy of the bundle atomically to a new pending folder."""
    folder = pending_folder() / f"{record['run_name']}-{uuid.uuid4().hex[:8]}"
    with atomic_dir(folder) as tmp:
        shutil.copytree(bundle, tmp / "bundle")
        (tmp / RECORD).write_text(dumps(record, indent=1))
    return folder


def list_pending() -> list[Path]:
    root = pending_folder()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / RECORD).is_file())


def sync_pending(uri: str | None = None) -> list[dict[str, Any]]:
    """Send every pending run (to ``uri``, else the store it was meant for). Each sent run's
    folder is removed; a run that fails again stays. Returns one entry per pending run."""
    results = []
    for folder in list_pending():
        try:
            record = json.loads((folder / RECORD).read_text())
        except (OSError, ValueError):
            results.append({"pending": str(folder), "run_id": None,
                            "error": f"{RECORD} is unreadable; left in place"})
            continue
        store = resolve_store(uri or record.get("uri"))
        record["uri"] = store.uri
        partial: dict[str, str] = {}
        try:
            run_id = _send(store, record, folder / "bundle", partial)
        except TrackingError as exc:
            results.append({"pending": str(folder), "run_id": None, "error": str(exc)})
            continue
        except Exception as exc:  # noqa: BLE001
            results.append({"pending": str(folder), "run_id": None, "error": _first_line(exc)})
            continue
        _supersede(store, record.get("partial_run_id"), run_id)
        shutil.rmtree(folder, ignore_errors=True)
        results.append({"pending": str(folder), "run_id": run_id, "uri": store.uri,
                        "error": None})
    return results


def _supersede(store: Store, old: str | None, new: str) -> None:
    """Mark a half-logged run (the server died while logging it) as FAILED, pointing at ``new``."""
    if not old:
        return
    try:
        with session(store) as client:
            client.set_tag(old, "mlexpert.superseded_by", new)
            client.set_terminated(old, status="FAILED")
    except Exception:  # noqa: BLE001 - best effort: the half run may live in another store
        pass


def tracker_for(track: Any) -> Tracker | None:
    """Resolve fit's ``track=`` option: True/None -> the default Tracker, False -> None, a URI
    string -> a Tracker on it, a Tracker -> itself."""
    if isinstance(track, Tracker):
        return track
    if track is None or track is True:
        return Tracker()
    if track is False:
        return None
    if isinstance(track, str) and track.strip():
        return Tracker(track)
    from mlexpert.errors import bad_option

    raise bad_option("track", track, "True, False, a tracking URI or a mlexpert.tracking.Tracker")
