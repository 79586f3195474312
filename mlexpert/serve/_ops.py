"""The operations routes: ``/health``, ``/ready``, ``/metadata``, ``/metrics``, ``/monitor`` (per
model) and ``POST /admin/reload``.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations."""
import math
from typing import Any

from mlexpert._io import jsonable
from mlexpert.evaluate import MIN_LABELLED_ROWS
from mlexpert.serve._errors import Problem
from mlexpert.serve._feedback import realised
from mlexpert.serve._http import json_bytes, request_id
from mlexpert.serve._records import EXPECTED, nullable
from mlexpert.serve._reload import reload as reload_model
from mlexpert.serve._rollout import CHALLENGER
from mlexpert.serve._service import Service


def add_ops(app: Any, service: Service) -> None:
    """Register the operations routes (in this order: it is the order of the OpenAPI paths)."""
    from fastapi import Query, Request
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    settings = service.settings

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> Any:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and warm",
             responses={503: {"description": "not ready"}})
    async def ready(request: Request) -> Any:
        p = service.predictor
        body = {"ready": service.ready, "model": {"name": p.identity.name,
                                                  "version": p.identity.version}}
        return Response(json_bytes(body), status_code=200 if service.ready else 503,
                        media_type="application/json")

    @app.get("/metadata", summary="The model: name, version, task, input schema, metrics")
    async def metadata() -> Any:
        return Response(json_bytes(jsonable(metadata_body(service))),
                        media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Any:
        live = service.live  # the drift gauges are the champion's; /monitor?model= has both
        if live is not None:
            service.metrics.set_drift(await run_in_threadpool(live.gauges))
        data, content_type = service.metrics.exposition()
        return Response(data, media_type=content_type)

    @app.get("/monitor", summary="Live drift: recent traffic against the training reference",
             description="The drift check (the same result object as `mlexpert drift --json`) "
                         "of the last rows this worker scored, with the window's state; "
                         "`result` is null until the window holds enough rows. `feedback`: the "
                         "model's metric on the records `/feedback` labelled. `model`: "
                         "`champion` (default) or `challenger`.",
             responses={409: {"description": "live monitoring is off, or no such model"}})
    async def monitor(model: str = Query("champion", pattern="^(champion|challenger)$")) -> Any:
        if model not in service.predictors():
            raise Problem(409, "there is no challenger; start the service with --challenger.",
                          reason="monitor")
        live = service.lives.get(model)
        if live is None:
            raise Problem(409, service.live_notes.get(model, ""), reason="monitor")

        def report() -> dict[str, Any]:
            body = live.report()
            if service.ledger is not None:
                body["feedback"] = realised(service, model)
            body["performance"] = reported_performance(body)
            alerts = monitor_alerts(body)
            if alerts:
                body["alerts"] = alerts
                body["next_step"] = retrain_hint(service.predictors()[model])
            return body

        body = await run_in_threadpool(report)
        return Response(json_bytes(jsonable(body)), media_type="application/json")

    @app.post("/admin/reload", summary="Load the model again from its source and swap it in",
              description="Needs the API key (the route is off without one). In-flight requests "
                          "finish on the model they started with.",
              responses={403: {"description": "no API key configured"},
                         409: {"description": "no source to reload from, or the load failed"}})
    async def reload(request: Request) -> Any:
        if settings.api_key() is None:
            raise Problem(403, f"reload is off: it needs an API key; set {settings.api_key_env} "
                          "before starting the service.", reason="auth")
        result = await reload_model(service)
        return Response(json_bytes({**result, "request_id": request_id(request)}),
                        media_type="application/json")


def reported_performance(body: dict[str, Any]) -> dict[str, Any] | None:
    """The model's performance as ``/monitor`` reports it: realised on the records labelled
    through ``/feedback`` once there are enough of them (``MIN_LABELLED_ROWS``), else the window's
    estimate from its probabilities (classification; None for regression without labels)."""
    fb = body.get("feedback") or {}
    if fb.get("labelled_rows", 0) >= MIN_LABELLED_ROWS and (fb.get("current") or {}).get(
            "value") is not None:
        return {"source": "realised", **fb}
    est = (body.get("result") or {}).get("performance_estimate")
    if est and est.get("available"):
        return {"source": "estimated", **est}
    return None


def _number(x: Any) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def monitor_alerts(body: dict[str, Any]) -> list[str]:
    """What in a ``/monitor`` body calls for a retrain: drifted columns or predictions, or a
    realised metric (from ``/feedback``) whose interval lies wholly on the bad side of the
    model's cross-validated one."""
    out = []
    result = body.get("result") or {}
    if result.get("drift_detected"):
        out.append(f"{result.get('drift_share', 0):.0%} of the input columns drifted from the "
                   "training reference")
    if (result.get("prediction_drift") or {}).get("drifted"):
        out.append("the predictions drifted from the validation-time ones")
    fb = body.get("feedback") or {}
    if fb.get("degraded"):  # monitor.performance's rule: the whole interval on the worse side
        got, cv = fb["current"], fb["validation"]
        out.append(f"{fb['metric']} on {fb['labelled_rows']} labelled rows is "
                   f"{got['value']:.4g} [{got['low']:.4g}, {got['high']:.4g}], worse than the "
                   f"cross-validated {_number(cv.get('value'))} [{_number(cv.get('low'))}, "
                   f"{_number(cv.get('high'))}]")
    return out


def retrain_hint(p: Any) -> str:
    """The command that retrains this model behind the promotion gate (never run by itself)."""
    return (f"mlexpert retrain {p.identity.source} --data RECENT_LABELLED_ROWS.parquet: refits "
            "with this model's settings and promotes the result only if it is significantly "
            "better on the newest rows.")


def metadata_body(service: Service) -> dict[str, Any]:
    """``GET /metadata``: the model's identity, task, input schema, metrics, and the limits,
    auth and live monitoring this service runs with."""
    p = service.predictor
    info = p.model.manifest
    prov = info.provenance
    schema = []
    for c in p.features:
        entry: dict[str, Any] = {"name": c.name, "role": str(c.role), "expects": EXPECTED[c.role],
                                 "nullable": nullable(c), "missing_rate": c.missing_rate}
        if c.categories:
            entry["categories"] = c.categories
        if c.datetime_format:
            entry["datetime_format"] = c.datetime_format
        entry["stats"] = c.stats
        schema.append(entry)
    s = service.settings
    return {
        "name": p.identity.name, "version": p.identity.version, "task": p.task,
        "target": p.target, "classes": p.classes, "metric": info.metric,
        "metrics": info.metrics.get("cv", {}),
        "trained_at": prov.get("created_at"), "saved_at": info.saved_at,
        "training_rows": prov.get("rows"), "mlexpert_version": info.mlexpert_version,
        "ensemble": info.ensemble, "input_schema": schema,
        "ignored_columns": [c.name for c in p.model.schema.columns if c not in p.features],
        "example": p.example, "fast_path": p.fast_note,
        "limits": {"max_body_bytes": s.max_body_bytes, "max_records": s.max_records,
                   "max_batch_rows": s.max_batch_rows, "max_line_bytes": s.max_line_bytes},
        "strict": s.strict, "auth": s.api_key() is not None,
        "live_monitor": {"on": service.live is not None, "window": s.monitor_window,
                         "min_rows": s.monitor_min_rows, "gauge_interval_s": s.monitor_interval,
                         "note": service.live_note or None},
        "feedback": {"on": service.ledger is not None, "window": s.feedback_window,
                     "route_key": s.route_key, **history_body(p)},
        "challenger": None if (c := service.challenger) is None else {
            "name": c.identity.name, "version": c.identity.version, "source": c.identity.source,
            "mode": s.mode, "share": s.share if s.mode == "canary" else None,
            "metrics": c.model.manifest.metrics.get("cv", {}), "fast_path": c.fast_note,
            "feedback": history_body(c),
            "live_monitor": {"on": CHALLENGER in service.lives,
                             "note": service.live_notes.get(CHALLENGER) or None}}}


def history_body(p: Any) -> dict[str, Any]:
    """What ``/feedback`` does to the model's entity history (``/metadata``)."""
    h = p.history
    if h is None:
        return {"extends_history": False}
    entity = p.model.manifest.plan.get("entity") or {}
    return {"extends_history": True, "history_columns": list(h.columns),
            "history_rows_added": h.extended,
            "history_note": f"each labelled record joins the stored history of its "
                            f"{entity.get('column', 'entity')!r} (the last rows the model "
                            "keeps per entity), as Model.with_history adds it: the entity's "
                            "next prediction starts from the label. In this process's memory: a "
                            "restart, or a reload to another version, starts from the bundle's "
                            "stored rows."}
