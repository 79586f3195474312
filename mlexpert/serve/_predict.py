"""``POST /predict``: one record or a list of records as JSON, answered in the same request.

No ``from __future__ import annotations`` here: FastAPI reads the route's annotations."""
import math
from typing import Any

from mlexpert._io import jsonable
from mlexpert.serve._errors import Problem, too_large, validation_problem
from mlexpert.serve._http import json_bytes, request_id
from mlexpert.serve._predictor import FAST_MAX_ROWS, Predictor
from mlexpert.serve._service import Service

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
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    settings = service.settings

    @app.post("/predict", summary="Predict one record or a list of records",
              responses={200: {"description": "predictions, probabilities, model version and "
                                              "request id"},
                         400: {"description": "malformed JSON"},
                         413: {"description": "body or record count over the limit"},
                         422: {"description": "a field is missing, null or of the wrong type"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}}})
    async def predict(request: Request, invalid: str = Query(
            "raise", pattern="^(raise|missing)$", description=INVALID_HELP)) -> Any:
        p = service.predictor  # one reference for the whole request: a reload swaps, never mixes
        rid = request_id(request)
        body = await read_body(request, settings.max_body_bytes)
        records = parse_records(p, body, settings.max_records, invalid)
        rows = p.rows(records)
        if p.fast is not None and len(rows) <= FAST_MAX_ROWS:
            raw = p.predict_rows(rows)
        else:
            raw = await run_in_threadpool(p.predict_rows, rows)
        labels = p.labels(raw)
        unseen = p.unseen(rows)
        predictions = labels  # walked only when a value is NaN or infinite (strict JSON: null)
        if p.task == "regression" and not all(map(math.isfinite, labels)):
            predictions = jsonable(labels)
        out: dict[str, Any] = {"request_id": rid,
                               "model": {"name": p.identity.name, "version": p.identity.version},
                               "predictions": predictions}
        if p.task != "regression":
            names = [str(c) for c in p.classes]
            out["probabilities"] = [dict(zip(names, map(float, r), strict=True)) for r in raw]
        if unseen:
            out["unseen_categories"] = unseen
        service.observe("/predict", rid, p, raw, labels, unseen, lambda: p.frame(rows), rows)
        return Response(json_bytes(out), media_type="application/json")
