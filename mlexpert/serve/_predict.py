"""``POST /predict``: one record or a list of records as JSON, answered in the same request; with
a challenger, answered by the model the rollout picks (``_rollout``), the other scoring off path.

No ``from __future__ import annotations`` here: FastAPI reads the route's annotations."""
import json
import logging
import math
import time
from typing import Any

import numpy as np

from mlexpert._io import jsonable
from mlexpert.serve._errors import Problem, too_large, validation_problem
from mlexpert.serve._http import json_bytes, request_id
from mlexpert.serve._predictor import FAST_MAX_ROWS, Predictor
from mlexpert.serve._rollout import CHALLENGER, CHAMPION, routed, routing_keys
from mlexpert.serve._service import Service

log = logging.getLogger("mlexpert.serve")
predictions_log = logging.getLogger("mlexpert.serve.predictions")  # JSON lines, beside a challenger

_CONTEXTS = {"raise": None, "missing": {"invalid": "missing"}}  # pydantic validation contexts
INVALID_HELP = ("what a value the model cannot read does ('abc' or true for a number, a date in "
                "year 3000): 'raise' refuses the request (422, naming rows and fields), "
                "'missing' predicts it as a missing value")


async def read_body(request: Any, limit: int) -> bytes:
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


def parse_records(p: Predictor, body: bytes, max_records: int,
                  invalid: str = "raise") -> list[Any]:
    """Validated records from a JSON object or array body (400: not JSON; 422: wrong fields);
    with ``invalid="missing"`` values the coercion rule cannot read are missing instead."""
    from pydantic import ValidationError

    text = body.lstrip()
    if not text:
        raise Problem(400, "the request body is empty; send a JSON object (one record) or an "
                      "array of objects.", reason="malformed_json")
    many = text[:1] == b"["
    try:
        context = _CONTEXTS[invalid]
        out = p.many.validate_json(body, context=context) if many else \
            [p.one.validate_json(body, context=context)]
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


def add_predict(app: Any, service: Service) -> None:
    """Register ``POST /predict`` (its body schema is the ``Record`` of the custom OpenAPI)."""
    from fastapi import Query, Request

    settings = service.settings

    @app.post("/predict", summary="Predict one record or a list of records",
              description="With a challenger (`mlexpert serve --challenger`), shadow mode answers "
                          "exactly as the champion alone; canary mode says which model answered "
                          "each record (`answered_by`, header `X-Model-Role`).",
              responses={200: {"description": "predictions, probabilities, model version and "
                                              "request id"},
                         400: {"description": "malformed JSON"},
                         413: {"description": "body or record count over the limit"},
                         422: {"description": "a field is missing, null or of the wrong type"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}}})
    async def predict(request: Request, invalid: str = Query(
            "raise", pattern="^(raise|missing)$", description=INVALID_HELP)) -> Any:
        rid = request_id(request)
        body = await read_body(request, settings.max_body_bytes)
        if service.challenger is None:
            return await _predict_one(service, rid, body, invalid)
        return await predict_two(service, rid, body, invalid)


async def _scored(service: Service, role: str, p: Predictor, rows: list[list[Any]]) -> Any:
    """``p``'s outputs for canonical rows: inline on the fast path, else in a worker thread."""
    from starlette.concurrency import run_in_threadpool

    started = time.perf_counter()
    raw = p.try_predict_rows(rows) if p.fast is not None and len(rows) <= FAST_MAX_ROWS else None
    if raw is None:  # a large request, or a feedback extending the history holds the model
        raw = await run_in_threadpool(p.predict_rows, rows)
    if service.challenger is not None:
        service.metrics.model_latency.labels(role).observe(time.perf_counter() - started)
    return raw


def _answer(p: Predictor, rid: str, labels: list[Any], raw: Any) -> dict[str, Any]:
    """The body of one model's answer (without ``unseen_categories``)."""
    predictions = labels  # walked only when a value is NaN or infinite (strict JSON: null)
    if p.task == "regression" and not all(map(math.isfinite, labels)):
        predictions = jsonable(labels)
    out: dict[str, Any] = {"request_id": rid,
                           "model": {"name": p.identity.name, "version": p.identity.version},
                           "predictions": predictions}
    if p.task != "regression":
        names = [str(c) for c in p.classes]
        out["probabilities"] = [dict(zip(names, map(float, r), strict=True)) for r in raw]
    return out


def _headers(*answered: tuple[str, Predictor]) -> dict[str, str]:
    """Which model answered: ``X-Model-Name``/``-Version`` (and ``-Role`` beside a challenger);
    comma-separated when a canary request's records went to both."""
    return {"x-model-name": ",".join(p.identity.name for _, p in answered),
            "x-model-version": ",".join(p.identity.version for _, p in answered),
            **({"x-model-role": ",".join(r for r, _ in answered)} if answered[0][0] else {})}


async def _predict_one(service: Service, rid: str, body: bytes, invalid: str) -> Any:
    """One model: validate, predict, answer (and keep the outputs for ``/feedback``)."""
    from fastapi.responses import Response

    p = service.predictor  # one reference for the whole request: a reload swaps, never mixes
    records = parse_records(p, body, service.settings.max_records, invalid)
    rows = p.rows(records)
    raw = await _scored(service, CHAMPION, p, rows)
    labels = p.labels(raw)
    unseen = p.unseen(rows)
    out = _answer(p, rid, labels, raw)
    if unseen:
        out["unseen_categories"] = unseen
    ledger = service.ledger
    if ledger is not None:
        keys = routing_keys(service.settings.route_key, rid, body, rows, p.feature_index) \
            if service.settings.route_key else [None] * len(rows)
        ledger.start(rid, keys)
        ledger.add(rid, CHAMPION, raw, None if p.history is None else p.history.inputs(rows))
    service.observe("/predict", rid, p, raw, labels, unseen, lambda: p.frame(rows), rows)
    return Response(json_bytes(out), media_type="application/json",
                    headers=_headers(("", p)))


async def predict_two(service: Service, rid: str, body: bytes, invalid: str) -> Any:
    """Champion and challenger (``settings.mode``): the records each answers are scored on the
    response path; the other model scores them after the response is sent (a background task),
    so a shadow response is byte-for-byte the champion's alone. The champion's input rule
    decides what is refused; a record the challenger cannot read is answered by the champion."""
    from fastapi.responses import Response
    from starlette.background import BackgroundTask

    p, c = service.predictor, service.challenger
    assert c is not None
    s = service.settings
    records = parse_records(p, body, s.max_records, invalid)
    rows = p.rows(records)
    n = len(rows)
    keys = routing_keys(s.route_key, rid, body, rows, p.feature_index)
    mask = routed(keys, s.share) if s.mode == "canary" else np.zeros(n, dtype=bool)
    c_rows, refused = None, False
    if mask.any():
        c_rows = _challenger_rows(service, c, body, invalid, rid)
        if c_rows is None:
            mask[:], refused = False, True
    raw_p = await _scored(service, CHAMPION, p, rows) if not mask.all() else None
    raw_c = await _scored(service, CHALLENGER, c, c_rows) if c_rows is not None else None
    unseen = p.unseen(rows)
    if not mask.any():
        labels, raw, answered = p.labels(raw_p), raw_p, ((CHAMPION, p),)
        out = _answer(p, rid, labels, raw)
    elif mask.all():
        labels, raw, answered = c.labels(raw_c), raw_c, ((CHALLENGER, c),)
        out = _answer(c, rid, labels, raw)
    else:  # a canary request whose records' keys went to both models
        lp, lc = p.labels(raw_p), c.labels(raw_c)
        labels = [lc[i] if m else lp[i] for i, m in enumerate(mask)]
        raw = np.where(mask[:, None] if raw_p.ndim == 2 else mask, raw_c, raw_p)
        answered = ((CHAMPION, p), (CHALLENGER, c))
        out = _answer(p, rid, labels, raw)
        out["model"] = [{"name": q.identity.name, "version": q.identity.version, "role": r}
                        for r, q in answered]
    if s.mode == "canary":
        if len(answered) == 1:
            out["model"]["role"] = answered[0][0]
        out["answered_by"] = [CHALLENGER if m else CHAMPION for m in mask]
    if unseen:
        out["unseen_categories"] = unseen
    ledger = service.ledger
    if ledger is not None:
        ledger.start(rid, keys if s.route_key else [None] * n)
    service.count_answers("/predict", p, labels, unseen)
    to_challenger = int(mask.sum())
    service.metrics.model_answered.labels(CHAMPION).inc(n - to_challenger)
    if to_challenger:
        service.metrics.model_answered.labels(CHALLENGER).inc(to_challenger)
    if raw_p is not None:
        _keep(service, "/predict", rid, CHAMPION, p, raw_p, rows, [not m for m in mask])
    if raw_c is not None:
        _keep(service, "/predict", rid, CHALLENGER, c, raw_c, c_rows, [bool(m) for m in mask])
    later = BackgroundTask(_off_path, service, rid, body, invalid, p if raw_p is None else None,
                           c if raw_c is None and not refused else None, rows)
    return Response(json_bytes(out), media_type="application/json", headers=_headers(*answered),
                    background=later)


def _challenger_rows(service: Service, c: Predictor, body: bytes, invalid: str,
                     rid: str) -> list[list[Any]] | None:
    """The challenger's canonical rows for the body, None (counted, logged) when its own input
    rule refuses it (a challenger trained on other columns)."""
    try:
        return c.rows(parse_records(c, body, service.settings.max_records, invalid))
    except Problem as exc:
        service.metrics.model_errors.labels(CHALLENGER).inc()
        log.warning("challenger %s could not read request %s: %s", c.identity.version, rid,
                    exc.message)
        return None


def _keep(service: Service, route: str, rid: str, role: str, q: Predictor, raw: Any,
          rows: list[list[Any]], answered: list[bool]) -> None:
    """Record one model's outputs: the ledger, its metrics, the observers (its live monitor) and
    one JSON line per request on the ``mlexpert.serve.predictions`` log (the answers a client
    did not get included: what a shadow model said is kept there for offline analysis)."""
    if service.ledger is not None:
        service.ledger.add(rid, role, raw, None if q.history is None else q.history.inputs(rows))
    labels = q.labels(raw)
    service.observe(route, rid, q, raw, labels, q.unseen(rows), lambda: q.frame(rows),
                    rows, role=role, answered=False)
    if predictions_log.isEnabledFor(logging.INFO):
        predictions_log.info(json.dumps(jsonable({
            "ts": round(time.time(), 3), "request_id": rid, "role": role,
            "model": q.identity.name, "version": q.identity.version, "answered": answered,
            "predictions": labels}), default=str))


def _off_path(service: Service, rid: str, body: bytes, invalid: str, p: Predictor | None,
              c: Predictor | None, rows: list[list[Any]]) -> None:
    """After the response: the model(s) that did not answer score the records too."""
    for role, q in ((CHAMPION, p), (CHALLENGER, c)):
        if q is None:
            continue
        try:
            q_rows = rows if role == CHAMPION else _challenger_rows(service, q, body, invalid, rid)
            if q_rows is None:
                continue
            started = time.perf_counter()
            raw = q.predict_rows(q_rows)
            service.metrics.model_latency.labels(role).observe(time.perf_counter() - started)
            _keep(service, "/predict", rid, role, q, raw, q_rows, [False] * len(q_rows))
        except Exception:  # noqa: BLE001 - off the response path: count, log, go on
            service.metrics.model_errors.labels(role).inc()
            log.exception("%s failed to score request %s off the response path", role, rid)
