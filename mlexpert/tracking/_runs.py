"""Finding and comparing logged fits: ``mlexpert runs list`` and ``mlexpert runs compare``."""
from __future__ import annotations

import re
from typing import Any

from mlexpert.errors import TrackingError, bad_option, unknown_name
from mlexpert.tracking._store import (
    DEFAULT_EXPERIMENT,
    check_experiment_name,
    experiment_id,
    resolve_store,
    session,
)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _summary(run: Any) -> dict[str, Any]:
    data, info = run.data, run.info
    metric = data.tags.get("mlexpert.metric", "")
    return {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "start_time": info.start_time, "target": data.tags.get("mlexpert.target"),
        "task": data.tags.get("mlexpert.task"), "metric": metric,
        "value": data.metrics.get(f"cv_{metric}"), "low": data.metrics.get(f"cv_{metric}_low"),
        "high": data.metrics.get(f"cv_{metric}_high"),
        "presets": data.params.get("presets"), "rows": data.params.get("rows"),
        "data_fingerprint": data.tags.get("mlexpert.data_fingerprint"),
        "git_commit": data.tags.get("mlflow.source.git.commit"),
    }


def list_runs(*, uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
              limit: int = 20) -> list[dict[str, Any]]:
    """The latest ``limit`` fits of ``experiment`` (candidate child runs left out), newest first."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise bad_option("limit", limit, "a positive whole number")
    experiment = check_experiment_name(experiment)
    store = resolve_store(uri)
    with session(store) as client:
        exp_id = experiment_id(client, store, experiment, create=False)
        if exp_id is None:
            known = [e.name for e in client.search_experiments()]
            raise unknown_name("experiment", experiment, known)
        runs = client.search_runs([exp_id], "tags.`mlexpert.kind` = 'fit'", max_results=limit,
                                  order_by=["attributes.start_time DESC"])
        return [_summary(r) for r in runs]


def get_run(client: Any, store_uri: str, run_ref: str) -> Any:
    """The run named by an id or a ``runs:/ID[/...]`` URI, with a clear error when absent."""
    run_id = run_id_of(run_ref)
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"no run {run_id!r} in the tracking store {store_uri!r}; "
                            "`mlexpert runs list` shows the runs there.") from None


def run_id_of(run_ref: Any) -> str:
    if not isinstance(run_ref, str):
        raise bad_option("run", run_ref, "a run id (32 hex characters) or runs:/RUN_ID")
    ref = run_ref.strip()
    if ref.startswith("runs:/"):
        ref = ref[len("runs:/"):].split("/", 1)[0]
    if not _RUN_ID.match(ref):
        raise bad_option("run", run_ref, "a run id (32 hex characters) or runs:/RUN_ID")
    return ref


def compare_runs(run_a: str, run_b: str, *, uri: str | None = None) -> dict[str, Any]:
    """Metrics of two runs side by side with the delta (b - a), and the params that differ."""
    id_a, id_b = run_id_of(run_a), run_id_of(run_b)
    store = resolve_store(uri)
    with session(store) as client:
        a, b = get_run(client, store.uri, id_a), get_run(client, store.uri, id_b)
    metrics = []
    for name in sorted(set(a.data.metrics) | set(b.data.metrics)):
        va, vb = a.data.metrics.get(name), b.data.metrics.get(name)
        delta = vb - va if va is not None and vb is not None else None
        metrics.append({"metric": name, "a": va, "b": vb, "delta": delta})
    params = [{"param": k, "a": a.data.params.get(k), "b": b.data.params.get(k)}
              for k in sorted(set(a.data.params) | set(b.data.params))
              if a.data.params.get(k) != b.data.params.get(k)]
    same_data = (a.data.tags.get("mlexpert.data_fingerprint")
                 == b.data.tags.get("mlexpert.data_fingerprint"))
    return {"a": _summary(a), "b": _summary(b), "metrics": metrics, "params_differing": params,
            "same_data": same_data}


def metric_histories(run_ref: str, *, uri: str | None = None) -> tuple[str, dict[str, list[tuple[int, float]]]]:
    """Every metric of a run with its whole history: ``(run description, {key: [(step, value),
    ...]})`` in step order (ties in logging order). For ``mlexpert diagnose --run``."""
    run_id = run_id_of(run_ref)
    store = resolve_store(uri)
    with session(store) as client:
        run = get_run(client, store.uri, run_id)
        out = {}
        for key in sorted(run.data.metrics):
            points = sorted(client.get_metric_history(run_id, key),
                            key=lambda m: (m.step, m.timestamp))
            out[key] = [(int(m.step), float(m.value)) for m in points]
    name = run.info.run_name or run_id
    return f"run {name!r} ({run_id}) in {store.uri}", out
