"""Experiment tracking and a model registry on MLflow (imported only when used).

``Tracker(uri, experiment).log_fit(model)`` logs a fit as a run; ``list_runs``/``compare_runs``
find and compare them; ``register``/``promote``/``archive`` manage registered versions with
stages on MLflow aliases; ``load_uri("models:/churn@production")`` gives back a Model. The
embedded store lives in the work folder (``$MLEXPERT_HOME`` or ``./.mlexpert``).
"""
from mlexpert.tracking._log import (
    TrackedRun,
    Tracker,
    TrackingWarning,
    list_pending,
    pending_folder,
    sync_pending,
    tracker_for,
)
from mlexpert.tracking._record import fit_record
from mlexpert.tracking._registry import STAGES, archive, list_models, promote, register, show
from mlexpert.tracking._resolve import is_model_uri, load_uri
from mlexpert.tracking._runs import compare_runs, list_runs, metric_histories
from mlexpert.tracking._store import (
    DEFAULT_EXPERIMENT,
    Store,
    resolve_store,
    track_by_default,
    work_folder,
)

__all__ = ["DEFAULT_EXPERIMENT", "STAGES", "Store", "TrackedRun", "Tracker", "TrackingWarning",
           "archive", "compare_runs", "fit_record", "is_model_uri", "list_models", "list_pending",
           "list_runs", "load_uri", "metric_histories", "pending_folder", "promote", "register", "resolve_store",
           "show", "sync_pending", "track_by_default", "tracker_for", "work_folder"]
