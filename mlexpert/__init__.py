"""mlexpert: an ML engineer in a box. The public API is this short list; the rest is private.

Heavy libraries (LightGBM, XGBoost, CatBoost, scikit-learn...) are imported on first use, so
``import mlexpert`` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AuditReport", "BundleError", "ConfigError", "DataError", "DiagnosisReport",
           "DriftResult", "MlexpertError", "Model", "SchemaError", "__version__", "audit",
           "diagnose", "drift", "fit", "load", "retrain"]

from mlexpert._version import __version__
from mlexpert.errors import BundleError, ConfigError, DataError, MlexpertError, SchemaError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mlexpert.audits import AuditReport
    from mlexpert.bundle import Model
    from mlexpert.diagnosis import DiagnosisReport
    from mlexpert.monitor import DriftResult, Thresholds
    from mlexpert.retraining import RetrainResult
    from mlexpert.search import Executor, SearchEvent
    from mlexpert.tracking import Tracker


def fit(data: Any, target: str, *, time_limit: float = 60.0, seed: int = 0,
        task: str | None = None, metric: str | None = None, groups: Any = None,
        time_column: str | None = None, entity: str | bool | None = None,
        sample_weight: Any = None,
        ignore_columns: Sequence[str] = (), keep_columns: Sequence[str] = (),
        presets: str = "balanced", budget: int | None = None,
        executor: Executor | str | None = None,
        infer_limit: float | None = None, size_limit: float | None = None,
        progress: Callable[[SearchEvent], None] | None = None, calibrate: bool = True,
        select_columns: bool = False,
        optimize_threshold: str | None = None, cost_matrix: Any = None,
        positive_class: str | int | float | bool | None = None,
        track: bool | str | Tracker | None = None, data_on_cluster: bool | None = None) -> Model:
    """Fit the best model (or ensemble) for ``target`` within ``time_limit`` seconds.

    ``data``: a pandas or polars DataFrame, a pyarrow Table, or a CSV/Parquet path.
    ``task``: binary | multiclass | regression (inferred when None). ``metric``: a registered
    metric name (ROC AUC / log loss / RMSE by default). ``groups``, ``sample_weight``: a column
    name or one value per row. ``time_column``: split in time order. ``entity`` (with
    ``time_column``): the column naming whose history a row continues (a customer, a store);
    each row then also gets that entity's earlier known targets and changes as features, from
    rows strictly earlier in time, and the model keeps each entity's last rows to predict its
    next ones; None infers it from the table (a column repeating once per time), False never.
    ``presets``: fast (one
    model, lowest latency) | balanced | best (bigger ensembles, for long budgets). ``budget``:
    tuning trials after the portfolio, for results that do not depend on machine speed (the
    time limit is then a safety cap). ``executor``: where fold fits run (e.g.
    ``mlexpert.search.ProcessExecutor(2)``, ``"dask://local"`` for a local Dask cluster or
    ``"dask://tcp://host:8786"`` for a running one); this process by default.
    ``infer_limit``: the most seconds one row may take to predict at batch size 1 (as in
    AutoGluon); the search ships only models estimated to meet it. ``size_limit``: the most
    megabytes the shipped models may take pickled (members.pkl.gz); the search ships only
    models and ensembles estimated to fit in it.
    ``progress``: called with a SearchEvent as the search goes.
    ``keep_columns``: columns to use even where the audit would leave them out (conclusive
    leaks, identifiers).
    ``select_columns``: drop columns that repeat another or that a quick model does not prefer
    over shuffled copies of the columns, decided inside each training fold; the shipped model
    then needs only the columns it kept (for wide tables: fewer inputs, faster predictions).
    ``calibrate``: recalibrate probabilities (isotonic or sigmoid, fitted out of fold) when it
    lowers out-of-fold log loss. ``optimize_threshold`` (binary): f1 | balanced_accuracy | mcc |
    accuracy | cost, with ``cost_matrix`` [[TN, FP], [FN, TP]] for cost; the threshold chosen
    on out-of-fold probabilities sets the labels ``predict`` returns.
    ``positive_class`` (binary): the class of interest (e.g. "bad", "churn"); by default the
    second in sorted order. It is ``predict_proba``'s second column and the class PR AUC,
    contributions, the threshold and the cost matrix's "positive" describe.
    ``track``: log the fit to MLflow: True (``$MLFLOW_TRACKING_URI``, else the local store in
    ``$MLEXPERT_HOME`` or ``./.mlexpert``), a tracking URI, or a ``mlexpert.tracking.Tracker``;
    None follows ``$MLEXPERT_TRACK`` (off when unset). Not part of ``time_limit``.
    ``data_on_cluster``: with Parquet files (a path, folder or glob) and a Dask executor, train
    XGBoost and LightGBM on the workers with their Dask interfaces, the data never gathered in
    this process (see docs/scaling.md); None decides by the data's size, False never.
    """
    import time

    started = time.monotonic()  # the time limit covers importing the fit's libraries too
    from mlexpert._fit import fit as _fit

    tracker = None
    if track is not None or _track_env():
        from mlexpert.tracking import tracker_for

        tracker = tracker_for(track)  # option errors before a long fit, not after
    model = _fit(data, target, started, time_limit=time_limit, seed=seed, task=task, metric=metric,
                 groups=groups, time_column=time_column, entity=entity,
                 sample_weight=sample_weight,
                 ignore_columns=ignore_columns, keep_columns=keep_columns, presets=presets,
                 budget=budget, executor=executor, infer_limit=infer_limit, size_limit=size_limit,
                 progress=progress, calibrate=calibrate, select_columns=select_columns,
                 optimize_threshold=optimize_threshold, cost_matrix=cost_matrix,
                 positive_class=positive_class, data_on_cluster=data_on_cluster)
    if tracker is not None:
        tracker.log_fit(model)
    return model


def _track_env() -> bool:
    from mlexpert.tracking import track_by_default

    return track_by_default(False)


def load(path: Any) -> Model:
    """Load a model bundle directory written by ``Model.save`` or ``mlexpert fit --out``, or a
    logged one: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID``."""
    from mlexpert.tracking import is_model_uri, load_uri

    if is_model_uri(path):

        return load_uri(path)
    from mlexpert.bundle import load as _load

    return _load(path)


def audit(data: Any, target: str, *, test: Any = None, time_column: str | None = None,
          groups: Any = None, task: str | None = None, seed: int = 0,
          time_limit: float = 60.0) -> AuditReport:
    """Audit a table before modelling it: quality, target, leakage, label issues and shift.

    ``data``/``test``: as for ``fit`` (``test`` adds train-vs-test duplicates, shared entities and
    shift). ``time_column``: dates later than it, shift between the first and last periods.
    ``groups``: a column name or one value per row. Returns an AuditReport: ``.findings`` (each
    with check, severity error|warning|info, columns, rows, message, evidence, suggestion) and
    ``.to_dict()`` (strict JSON).
    """
    from mlexpert.audits import audit as _audit

    return _audit(data, target, test=test, time_column=time_column, groups=groups, task=task,
                  seed=seed, time_limit=time_limit)


def drift(reference: Any, current: Any, *, reference_data: Any = None, labels: Any = None,
          window: int | None = None, thresholds: Thresholds | None = None,
          seed: int = 0) -> DriftResult:
    """Has ``current`` drifted from the reference, and (with labels) has the model degraded?

    ``reference``: a Model or bundle directory (compared with the training reference the bundle
    keeps, or with ``reference_data``; adds prediction drift), or a table (the reference itself).
    ``current``/``reference_data``: tables as for ``fit``. ``labels``: a column of ``current``
    or one value per row: the bundle's metric with intervals and a degradation verdict. A
    classifier's performance is also estimated without labels from its probabilities
    (``.performance_estimate``: CBPE, an estimate that assumes no concept shift; beside the
    realised values when labels are given). ``window``: rows per performance window.
    ``thresholds``: ``mlexpert.monitor.Thresholds``. Returns a DriftResult:
    ``.drift_detected``, ``.drifted_columns``, ``.to_dict()`` (strict JSON), ``.to_html()``.
    """
    from mlexpert.monitor import drift as _drift

    return _drift(reference, current, reference_data=reference_data, labels=labels,
                  window=window, thresholds=thresholds, seed=seed)


def diagnose(source: Any, data: Any = None, *, target: str | None = None,
             task: str | None = None, priors: Any = None,
             tracking_uri: str | None = None, serving: Any = None, time_limit: float = 60.0,
             seed: int = 0) -> DiagnosisReport:
    """Diagnose a training run from its per-epoch history, or a fitted model.

    A run: diverging, oscillating, stuck at chance, slow, overfitting (from which epoch),
    underfitting, a train/validation gap. ``source``: a CSV / JSON / JSON Lines log, an MLflow
    run id (``tracking_uri`` names the store), a table or a Keras ``history.history`` dict. The
    chance level comes from ``priors`` (class shares), ``data`` + ``target`` (labelled rows)
    or ``task`` (binary: balanced assumed).

    A model: ``source`` is a Model, a bundle directory or a ``models:/`` URI. ``data``:
    labelled rows (the model's target column): a learning curve (the shipped configuration
    refitted with ``fit`` on 10/25/50/100 % of the rows within ``time_limit`` seconds, scored
    on a held-out quarter), training vs out-of-fold vs holdout scores, the model against the
    dummy. ``serving``: rows as the service receives them (JSON Lines or a table): numbers sent
    as text, new categories, other units, constant columns, missing rates. Library versions and
    the stored predictions are checked always.

    Returns a DiagnosisReport: ``.findings`` (check, severity, message, evidence, suggestion),
    ``.to_dict()`` (strict JSON), ``.to_html()``.
    """
    from mlexpert.diagnosis import diagnose as _diagnose

    return _diagnose(source, data, target=target, task=task, priors=priors,
                     tracking_uri=tracking_uri, serving=serving, fitter=_refit,
                     time_limit=time_limit, seed=seed)


def retrain(champion: Any, data: Any, *, reference: Any = None, holdout: float = 0.2,
            time_limit: float | None = None, seed: int | None = None,
            sensitive_column: str | None = None, register: bool = True,
            name: str | None = None, tracking_uri: str | None = None,
            out: Any = None) -> RetrainResult:
    """Retrain ``champion`` on new labelled rows behind a promotion gate.

    ``champion``: a registered name (its production version), ``models:/NAME@ALIAS``, a bundle
    directory or a Model. ``data``: new labelled rows (a table or file); its most recent
    ``holdout`` share (by the champion's time column, else the file's order) judges, the rest
    trains, with ``reference`` (the old training table, or True: the file the champion was
    fitted on, if unchanged) before it. The challenger is fitted with the champion's own
    options (task, metric, plan, presets; ``time_limit`` and ``seed`` may change) and compared
    on the holdout by a paired bootstrap of the champion's metric, then guardrails: one-row
    latency, calibration (classification), group gaps over ``sensitive_column``. With
    ``register`` it becomes a new version of the champion's name (or ``name``) with the
    evidence as tags, and moves to production only when it is significantly better and passes
    every guardrail. Returns a RetrainResult (``.verdict``, ``.challenger``, ``.to_dict()``).
    """
    from mlexpert.retraining import retrain as _retrain

    return _retrain(champion, data, fitter=_refit, reference=reference, holdout=holdout,
                    time_limit=time_limit, seed=seed, sensitive_column=sensitive_column,
                    register=register, name=name, tracking_uri=tracking_uri, out=out)


def _refit(data: Any, target: str, **options: Any) -> Model:
    """``fit`` as the diagnosis refits the shipped configuration: never tracked."""
    return fit(data, target, track=False, **options)


def __getattr__(name: str) -> Any:
    if name == "Model":
        from mlexpert.bundle import Model

        return Model
    if name == "DriftResult":
        from mlexpert.monitor import DriftResult

        return DriftResult
    if name == "DiagnosisReport":
        from mlexpert.diagnosis import DiagnosisReport

        return DiagnosisReport
    if name == "AuditReport":
        from mlexpert.audits import AuditReport

        return AuditReport
    raise AttributeError(f"module 'mlexpert' has no attribute {name!r}")
