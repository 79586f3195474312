"""The FastAPI application of one model: routes, the request gate, error bodies, reloads.

``create_app(model, ...)`` is the factory. A thin pure-ASGI gate in front of the routes gives
every request an id (``X-Request-ID``, echoed), checks the API key, times the request, writes the
JSON access log line and the metrics, and turns any unexpected exception into a 500 that carries
only the request id (the traceback goes to the server log with the same id).
"""

import asyncio
import csv
import hmac
import json
import logging
import math
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlexpert._version import __version__
from mlexpert.errors import MlexpertError
from mlexpert.serve._errors import Problem, too_large, validation_problem
from mlexpert.serve._live import LiveMonitor
from mlexpert.serve._metrics import ServiceMetrics
from mlexpert.serve._observe import ObservedBatch, Observer
from mlexpert.serve._predictor import FAST_MAX_ROWS, Predictor, model_identity
from mlexpert.serve._records import EXPECTED, nullable
from mlexpert.serve._settings import ServeSettings

log = logging.getLogger("mlexpert.serve")
access_log = logging.getLogger("mlexpert.serve.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
OPEN_ROUTES = ("/health",)
ROUTES = ("/predict", "/predict/batch", "/health", "/ready", "/metadata", "/metrics",
          "/monitor", "/admin/reload", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")
SPOOL_BYTES = 8 << 20  # batch output kept in memory up to this, then spilled to a temp file


def _json(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=False, separators=(",", ":"), default=str).encode()


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _strict_json(o: Any) -> Any:
    """NaN and infinities (e.g. an undefined interval) as null, so the body is strict JSON."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _strict_json(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_strict_json(v) for v in o]
    return o


class _Service:
    """The mutable part of one app: the current predictor (swapped whole on reload)."""

    def __init__(self, predictor: Predictor, settings: ServeSettings,
                 loader: Callable[[], Any] | None, observers: Sequence[Observer]):
        self.predictor = predictor
        self.settings = settings
        self.loader = loader
        self.observers = list(observers)
        self.live: LiveMonitor | None = None
        self.live_note = ""
        self.start_live(predictor)
        self.metrics = ServiceMetrics()
        self.metrics.set_model(predictor.identity.name, predictor.identity.version)
        self.ready = False
        self.reload_lock = asyncio.Lock()

    def start_live(self, predictor: Predictor) -> None:
        """The live drift monitor for this predictor's model (off when the settings say so or
        the bundle keeps no training reference; ``live_note`` says why)."""
        s = self.settings
        if self.live is not None:  # a new list, never mutated: requests may be iterating it
            self.observers = [o for o in self.observers if o is not self.live]
            self.live = None
        if not s.monitor_window:
            self.live_note = "live monitoring is off (monitor_window=0; CLI: --monitor-window)."
            return
        try:
            self.live = LiveMonitor(predictor, window=s.monitor_window,
                                    min_rows=s.monitor_min_rows, interval=s.monitor_interval)
        except MlexpertError as exc:
            self.live_note = f"live monitoring is off for version {predictor.identity.version}: {exc}"
            return
        self.observers = [*self.observers, self.live]
        self.live_note = ""

    def build(self, model: Any) -> Predictor:
        source = self.predictor.identity.source
        p = Predictor(model, model_identity(model, source), strict=self.settings.strict)
        p.predict_rows(p.rows([p.one.validate_python(p.example)]))  # warm: first call compiles caches
        return p

    def observe(self, route: str, request_id: str, p: Predictor, raw: np.ndarray, labels: list[Any],
                unseen: dict[str, int], features: Callable[[], Any],
                rows: list[list[Any]] | None = None) -> None:
        m = self.metrics
        m.rows.labels(route).inc(len(labels))
        for col, n in unseen.items():
            m.unseen.labels(col).inc(n)
        if p.task == "regression":
            for v in labels:
                if math.isfinite(v):
                    m.predicted_value.observe(v)
        else:
            counts = np.bincount(raw.argmax(axis=1), minlength=len(p.classes))
            for label, n in zip(p.classes, counts, strict=True):
                if n:
                    m.predicted_class.labels(str(label)).inc(int(n))
        if not self.observers:
            return
        batch = ObservedBatch(route=route, request_id=request_id, model_name=p.identity.name,
                              model_version=p.identity.version, task=p.task, classes=p.classes,
                              outputs=raw, labels=labels, unseen_categories=unseen,
                              _make_features=features, rows=rows)
        for obs in self.observers:
            try:
                obs.observe(batch)
            except Exception:  # noqa: BLE001 - an observer never fails a request
                m.observer_errors.inc()
                log.exception("observer %r failed (request %s)", obs, request_id)


class _Gate:
    """Pure ASGI middleware: request id, API key, timing, access log, metrics, last-resort 500."""

    def __init__(self, app: Any, service: _Service):
        self.app, self.service = app, service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        path = scope["path"]
        route = path if path in ROUTES else "other"
        state = {"status": 500, "started": False}
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            problem = self._auth(path, headers)
            if problem is not None:
                await _send_problem(send_wrapper, problem, rid)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - the last line: never a traceback to the client
            log.exception("internal error (request %s, %s %s)", rid, scope["method"], path)
            if not state["started"]:
                await _send(send_wrapper, 500, {"error": "internal server error; the server log "
                                                "has the details under this request id.",
                                                "request_id": rid})
        elapsed = time.perf_counter() - started
        m = self.service.metrics
        m.requests.labels(route, scope["method"], str(state["status"])).inc()
        m.latency.labels(route).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "request_id": rid, "method": scope["method"],
                "path": path, "status": state["status"], "latency_ms": round(elapsed * 1000, 3),
                "client": client[0]}))

    def _auth(self, path: str, headers: dict[str, str]) -> Problem | None:
        key = self.service.settings.api_key()
        if key is None or path in OPEN_ROUTES:
            return None
        given = headers.get("x-api-key")
        if given is None and headers.get("authorization", "").lower().startswith("bearer "):
            given = headers["authorization"][7:].strip()
        if given is None:
            return Problem(401, "this service needs an API key: send it in the X-API-Key header "
                           "(or Authorization: Bearer <key>).", reason="auth")
        if not hmac.compare_digest(given.encode(), key.encode()):
            return Problem(401, "the API key is not valid; check the X-API-Key header.",
                           reason="auth")
        return None


async def _send(send: Any, status: int, body: dict[str, Any]) -> None:
    data = _json(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"ApiKey"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _send_problem(send: Any, problem: Problem, rid: str) -> None:
    body: dict[str, Any] = {"error": problem.message, "request_id": rid}
    if problem.detail:
        body["detail"] = problem.detail
    await _send(send, problem.status, body)


def _problem_response(problem: Problem, rid: str) -> Any:
    from fastapi.responses import Response

    body: dict[str, Any] = {"error": problem.message, "request_id": rid}
    if problem.detail:
        body["detail"] = problem.detail
    headers = {"WWW-Authenticate": "ApiKey"} if problem.status == 401 else None
    return Response(_json(body), status_code=problem.status, media_type="application/json",
                    headers=headers)


async def _read_body(request: Any, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large("the request body", limit, "bytes",
                        "send fewer records per request or use POST /predict/batch.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large("the request body", limit, "bytes",
                            "send fewer records per request or use POST /predict/batch.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_records(p: Predictor, body: bytes, max_records: int) -> list[Any]:
    """Validated records from a JSON object or array body (400: not JSON; 422: wrong fields)."""
    from pydantic import ValidationError

    text = body.lstrip()
    if not text:
        raise Problem(400, "the request body is empty; send a JSON object (one record) or an "
                      "array of objects.", reason="malformed_json")
    many = text[:1] == b"["
    try:
        out = p.many.validate_json(body) if many else [p.one.validate_json(body)]
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise Problem(400, "the request body is not valid JSON "
                          f"({errors[0].get('ctx', {}).get('error', 'parse error')}); send a JSON "
                          "object or an array of objects.", reason="malformed_json") from None
        if len(errors) == 1 and errors[0]["loc"] == () and errors[0]["type"] in (
                "model_type", "model_attributes_type", "dict_type"):
            raise Problem(422, "the body must be a JSON object (one record) or an array of "
                          "objects, one per record.", reason="not_an_object") from None
        raise validation_problem(errors, p.features, list_body=many) from None
    if not out:
        raise Problem(422, "the array holds no records; send at least one.", reason="empty")
    if len(out) > max_records:
        raise too_large(f"a request of {len(out):,} records", max_records, "records",
                        "split it, or upload the rows to POST /predict/batch.")
    return out


def _record_schema(p: Predictor) -> dict[str, Any]:
    schema = p.record_model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    return schema


def create_app(model: Any, *, settings: ServeSettings | None = None, source: str = "model",
               loader: Callable[[], Any] | None = None,
               observers: Sequence[Observer] = ()) -> Any:
    """A FastAPI app serving ``model`` (a loaded ``mlexpert.Model``).

    ``source``: how the model was named (its name in /metadata and the version's fallback).
    ``loader``: loads the model again from its source; enables ``POST /admin/reload`` and, with
    ``settings.watch_interval``, following a registry alias. ``observers``: objects with
    ``observe(ObservedBatch)`` called after every prediction (the live monitor's hook).
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    settings = settings or ServeSettings()
    if settings.watch_interval and loader is None:
        raise MlexpertError("watch_interval needs a loader to load the model again; pass loader=.")
    predictor = Predictor(model, model_identity(model, source), strict=settings.strict)
    service = _Service(predictor, settings, loader, observers)

    async def lifespan(app: Any) -> Any:
        p = service.predictor
        p.predict_rows(p.rows([p.one.validate_python(p.example)]))
        service.ready = True
        watcher = asyncio.create_task(_watch(service)) if settings.watch_interval else None
        try:
            yield
        finally:
            service.ready = False
            if watcher is not None:
                watcher.cancel()
            for obs in service.observers:
                close = getattr(obs, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # noqa: BLE001
                        log.exception("observer %r failed to close", obs)

    app = FastAPI(title=f"mlexpert: {predictor.identity.name}", version=__version__,
                  description=f"Predictions of the {predictor.task} model "
                              f"{predictor.identity.name!r} (target {predictor.target!r}).",
                  lifespan=lifespan)
    app.state.service = service

    def rid_of(request: Any) -> str:
        return request.scope.get("state", {}).get("request_id", "")

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Any:
        route = request.url.path if request.url.path in ROUTES else "other"
        if exc.status in (400, 413, 415, 422):
            service.metrics.validation_failures.labels(route, exc.reason).inc()
        log.info("refused %s %s with %d (request %s): %s", request.method, request.url.path,
                 exc.status, rid_of(request), exc.message)
        return _problem_response(exc, rid_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Any:
        hint = {404: f"no route {request.url.path!r}; see GET /docs for the routes.",
                405: f"{request.method} is not allowed on {request.url.path!r}; see GET /docs."}
        return _problem_response(Problem(exc.status_code, hint.get(exc.status_code, str(exc.detail)),
                                         reason="http"), rid_of(request))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Any:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg')}")
        return await on_problem(request, Problem(422, "; ".join(parts) + ". See GET /docs.",
                                                 reason="bad_option"))

    # -- prediction ------------------------------------------------------------------------
    @app.post("/predict", summary="Predict one record or a list of records",
              responses={200: {"description": "predictions, probabilities, model version and "
                                              "request id"},
                         400: {"description": "malformed JSON"},
                         413: {"description": "body or record count over the limit"},
                         422: {"description": "a field is missing, null or of the wrong type"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}}})
    async def predict(request: Request) -> Any:
        p = service.predictor  # one reference for the whole request: a reload swaps, never mixes
        rid = rid_of(request)
        body = await _read_body(request, settings.max_body_bytes)
        records = _parse_records(p, body, settings.max_records)
        rows = p.rows(records)
        if p.fast is not None and len(rows) <= FAST_MAX_ROWS:
            raw = p.predict_rows(rows)
        else:
            raw = await run_in_threadpool(p.predict_rows, rows)
        labels = p.labels(raw)
        unseen = p.unseen(rows)
        out: dict[str, Any] = {"request_id": rid,
                               "model": {"name": p.identity.name, "version": p.identity.version},
                               "predictions": [_finite(v) for v in labels]
                               if p.task == "regression" else labels}
        if p.task != "regression":
            names = [str(c) for c in p.classes]
            out["probabilities"] = [dict(zip(names, map(float, r), strict=True)) for r in raw]
        if unseen:
            out["unseen_categories"] = unseen
        service.observe("/predict", rid, p, raw, labels, unseen, lambda: p.frame(rows), rows)
        return Response(_json(out), media_type="application/json")

    @app.post("/predict/batch", summary="Predict an uploaded CSV or JSON Lines file",
              description="Send the file as the request body (Content-Type text/csv or "
                          "application/x-ndjson, or ?format=csv|jsonl). It is read in chunks; "
                          "the answer has the same format unless ?output= says otherwise: the "
                          "prediction column (named after the target), one proba_<class> column "
                          "per class, and ?id_column= echoed first.",
              responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
                         413: {"description": "more rows than the limit"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "text/csv": {"schema": {"type": "string"}},
                  "application/x-ndjson": {"schema": {"type": "string"}}}}})
    async def predict_batch(request: Request,
                            format: str | None = Query(None, pattern="^(csv|jsonl)$"),  # noqa: A002
                            output: str | None = Query(None, pattern="^(csv|jsonl)$"),
                            id_column: str | None = Query(None, max_length=200)) -> Any:
        from mlexpert.serve._batch import input_format

        fmt = input_format(request.headers.get("content-type"), format)
        spool = await _run_batch(service, request, fmt, output or fmt, id_column)
        media = "text/csv" if (output or fmt) == "csv" else "application/x-ndjson"

        def chunks() -> Any:
            with spool:
                while data := spool.read(1 << 16):
                    yield data

        return StreamingResponse(chunks(), media_type=media,
                                 headers={"X-Model-Version": service.predictor.identity.version})

    # -- operations ------------------------------------------------------------------------
    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> Any:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and warm",
             responses={503: {"description": "not ready"}})
    async def ready(request: Request) -> Any:
        p = service.predictor
        body = {"ready": service.ready, "model": {"name": p.identity.name,
                                                  "version": p.identity.version}}
        return Response(_json(body), status_code=200 if service.ready else 503,
                        media_type="application/json")

    @app.get("/metadata", summary="The model: name, version, task, input schema, metrics")
    async def metadata() -> Any:
        return Response(_json(_strict_json(_metadata(service))), media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Any:
        live = service.live
        if live is not None:
            service.metrics.set_drift(await run_in_threadpool(live.gauges))
        data, content_type = service.metrics.exposition()
        return Response(data, media_type=content_type)

    @app.get("/monitor", summary="Live drift: recent traffic against the training reference",
             description="The drift check (the same result object as `mlexpert drift --json`) "
                         "of the last rows this worker scored, with the window's state; "
                         "`result` is null until the window holds enough rows.",
             responses={409: {"description": "live monitoring is off"}})
    async def monitor() -> Any:
        live = service.live
        if live is None:
            raise Problem(409, service.live_note, reason="monitor")
        body = await run_in_threadpool(live.report)
        return Response(_json(_strict_json(body)), media_type="application/json")

    @app.post("/admin/reload", summary="Load the model again from its source and swap it in",
              description="Needs the API key (the route is off without one). In-flight requests "
                          "finish on the model they started with.",
              responses={403: {"description": "no API key configured"},
                         409: {"description": "no source to reload from, or the load failed"}})
    async def reload(request: Request) -> Any:
        if settings.api_key() is None:
            raise Problem(403, f"reload is off: it needs an API key; set {settings.api_key_env} "
                          "before starting the service.", reason="auth")
        result = await _reload(service)
        return Response(_json({**result, "request_id": rid_of(request)}),
                        media_type="application/json")

    def openapi() -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        if app.openapi_schema is None or app.state.openapi_version != service.predictor.identity.version:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            record = _record_schema(service.predictor)
            comps = doc.setdefault("components", {}).setdefault("schemas", {})
            comps["Record"] = {
                "oneOf": [record, {"type": "array", "items": record, "minItems": 1,
                                   "maxItems": settings.max_records}],
                "examples": [service.predictor.example]}
            app.openapi_schema = doc
            app.state.openapi_version = service.predictor.identity.version
        return app.openapi_schema

    app.state.openapi_version = None
    app.openapi = openapi  # type: ignore[method-assign]
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-api-key", "authorization",
                                          "x-request-id"], expose_headers=["x-request-id"])
    app.add_middleware(_Gate, service=service)
    return app


def _metadata(service: _Service) -> dict[str, Any]:
    p = service.predictor
    info = p.model.info
    prov = info.get("provenance") or {}
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
        "target": p.target, "classes": p.classes, "metric": info.get("metric"),
        "metrics": info.get("metrics", {}).get("cv", {}),
        "trained_at": prov.get("created_at"), "saved_at": info.get("saved_at"),
        "training_rows": prov.get("rows"), "mlexpert_version": info.get("mlexpert_version"),
        "ensemble": info.get("ensemble"), "input_schema": schema,
        "ignored_columns": [c.name for c in p.model.schema.columns if c not in p.features],
        "example": p.example, "fast_path": p.fast_note,
        "limits": {"max_body_bytes": s.max_body_bytes, "max_records": s.max_records,
                   "max_batch_rows": s.max_batch_rows, "max_line_bytes": s.max_line_bytes},
        "strict": s.strict, "auth": s.api_key() is not None,
        "live_monitor": {"on": service.live is not None, "window": s.monitor_window,
                         "min_rows": s.monitor_min_rows, "gauge_interval_s": s.monitor_interval,
                         "note": service.live_note or None}}


async def _reload(service: _Service) -> dict[str, Any]:
    """Load from the source, build and warm a predictor, swap it in (one reload at a time)."""
    from starlette.concurrency import run_in_threadpool

    if service.loader is None:
        raise Problem(409, "this service was given a model object, not a source to load it "
                      "from; start it with `mlexpert serve SOURCE` to reload.", reason="reload")
    if service.reload_lock.locked():
        raise Problem(409, "a reload is already running; try again when it ends.", reason="reload")
    async with service.reload_lock:
        old = service.predictor
        try:
            model = await run_in_threadpool(service.loader)
            new = await run_in_threadpool(service.build, model)
        except MlexpertError as exc:
            service.metrics.reloads.labels("failed").inc()
            raise Problem(409, f"reload failed, still serving version {old.identity.version}: "
                          f"{exc}", reason="reload") from None
        changed = new.identity.version != old.identity.version
        service.predictor = new
        if changed or service.live is None:
            await run_in_threadpool(service.start_live, new)
        service.metrics.set_model(new.identity.name, new.identity.version,
                                  previous=(old.identity.name, old.identity.version))
        service.metrics.reloads.labels("changed" if changed else "same").inc()
        log.info("reloaded %s: %s -> %s", new.identity.name, old.identity.version,
                 new.identity.version)
        return {"reloaded": True, "changed": changed, "previous": old.identity.version,
                "current": new.identity.version}


async def _watch(service: _Service) -> None:
    """Every ``watch_interval`` seconds, load from the source; swap when the version moved."""
    interval = service.settings.watch_interval
    while True:
        await asyncio.sleep(interval)
        try:
            if not service.reload_lock.locked():
                await _reload(service)
        except Problem as exc:
            log.warning("watch: %s", exc.message)
        except Exception:  # noqa: BLE001 - keep watching; the old model keeps serving
            log.exception("watch: reload failed")


async def _run_batch(service: _Service, request: Any, fmt: str, out_fmt: str,
                     id_column: str | None) -> Any:
    """Predict an upload chunk by chunk into a spooled file; returns it rewound."""
    from pydantic import ValidationError
    from starlette.concurrency import run_in_threadpool

    from mlexpert.serve._batch import line_batches, parse_csv, parse_json_line, to_json_lines

    p = service.predictor
    s = service.settings
    rid = request.scope.get("state", {}).get("request_id", "")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    header: bytes | None = None
    pending: list[bytes] = []
    total, first_line, line_no = 0, 1, 0
    wrote_header = False

    async def flush() -> None:
        nonlocal pending, first_line, wrote_header
        if not pending:
            return
        chunk, start = pending, first_line
        pending, first_line = [], line_no + 1
        if fmt == "csv":
            frame = parse_csv(header or b"", chunk, start)
        else:
            objs = [parse_json_line(line, start + i) for i, line in enumerate(chunk)]
            try:
                records = [p.one.validate_python(o) for o in objs]
            except ValidationError:
                records = _validate_lines(p, objs, start)
            frame = p.frame(p.rows(records))
            ids = [o.get(id_column) for o in objs] if id_column else None
        if id_column and fmt == "csv":
            if id_column not in frame.columns:
                raise Problem(422, f"id_column {id_column!r} is not a column of the upload; "
                              f"columns are {list(frame.columns)[:8]}.", reason="bad_option")
            ids = frame[id_column].tolist()
        try:
            raw = await run_in_threadpool(p.predict_frame, frame, "the upload")
        except MlexpertError as exc:
            raise Problem(422, f"{exc}", reason="schema") from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date pandas cannot hold
            log.info("batch rows %d-%d refused (request %s): %r", start, line_no, rid, exc)
            raise Problem(422, f"rows on lines {start}-{line_no} hold values the model cannot "
                          f"read ({type(exc).__name__}: {str(exc)[:160]}); fix or drop them.",
                          reason="bad_value") from None
        table = _output_table(p, raw)
        if id_column:
            table.insert(0, id_column, ids)
        if out_fmt == "csv":
            data = table.to_csv(index=False, header=not wrote_header, lineterminator="\n").encode()
        else:
            data = to_json_lines(table)
        wrote_header = True
        spool.write(data)
        unseen = p.unseen_in_frame(frame)
        service.observe("/predict/batch", rid, p, raw, p.labels(raw), unseen,
                        lambda: p.model.schema.prepare(frame, "the upload"))

    try:
        async for batch in line_batches(request.stream(), max_line=s.max_line_bytes,
                                        csv=fmt == "csv"):
            for line in batch:
                line_no += 1
                if fmt == "csv" and header is None:
                    header = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
                    first_line = 2
                    try:
                        names = [n.strip() for n in next(csv.reader(
                            [header.decode("utf-8", "replace")]), [])]
                    except csv.Error as exc:  # e.g. a bare carriage return in a name
                        raise Problem(400, f"the CSV header (line 1) cannot be parsed ({exc}); "
                                      "send comma-separated column names on the first line.",
                                      reason="malformed_csv") from None
                    missing = [c.name for c in p.features if c.name not in names]
                    if missing:
                        raise Problem(422, f"the upload lacks {len(missing)} column(s) the model "
                                      f"was trained on: {', '.join(map(repr, missing[:8]))}. Add "
                                      "them (values may be empty).", reason="missing")
                    continue
                if not line.strip():
                    continue
                total += 1
                if total > s.max_batch_rows:
                    raise too_large("the upload", s.max_batch_rows, "rows",
                                    "split the file into smaller uploads.")
                pending.append(line)
                if len(pending) >= s.batch_chunk_rows:
                    await flush()
        await flush()
    except BaseException:
        spool.close()
        raise
    if total == 0:
        spool.close()
        raise Problem(422, "the upload has no rows to predict" +
                      (" (only a header)." if header else "."), reason="empty")
    spool.seek(0)
    return spool


def _validate_lines(p: Predictor, objs: list[dict], start: int) -> list[Any]:
    from pydantic import ValidationError

    errors = []
    for i, o in enumerate(objs):
        try:
            p.one.validate_python(o)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                errors.append({**e, "loc": (i, *e["loc"])})
        if len(errors) > 50:
            break
    raise validation_problem(errors, p.features, list_body=True, line_offset=start)


def _output_table(p: Predictor, raw: np.ndarray) -> Any:
    import pandas as pd

    if p.task == "regression":
        return pd.DataFrame({p.target: raw})
    out = pd.DataFrame({p.target: p.labels(raw)})
    for j, c in enumerate(p.classes):
        out[f"proba_{c}"] = raw[:, j]
    return out
