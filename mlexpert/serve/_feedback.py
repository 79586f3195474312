"""``POST /feedback`` (true labels for scored records) and ``GET /compare`` (champion vs
challenger on the same labelled records, with a recommendation).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations."""
import math
from typing import Any

import numpy as np

from mlexpert._io import jsonable
from mlexpert.serve._errors import Problem, too_large
from mlexpert.serve._http import json_bytes, request_id
from mlexpert.serve._predict import read_body
from mlexpert.serve._rollout import CHALLENGER, CHAMPION, key_text
from mlexpert.serve._service import Service

FEEDBACK_HELP = ("A JSON object or an array of objects, each {\"request_id\": ..., \"index\": "
                 "position of the record in that request (default 0), \"label\": the true "
                 "value} or {\"key\": the routing key's value, \"label\": ...} (the key's latest "
                 "record; needs --key). A second label for a record replaces the first. For a "
                 "model fitted with an entity's history (time_column and entity), each labelled "
                 "record also joins its entity's stored history, as Model.with_history adds it: "
                 "the entity's next prediction starts from this label (in this process's memory "
                 "only; the answer's history_extended counts them).")
MAX_UNKNOWN = 20  # unknown items listed in the answer


def parse_feedback(service: Service, body: bytes) -> list[tuple[str | None, int, str | None, Any]]:
    """(request id, position, key, encoded label) per item; 400/422 naming the item."""
    import json

    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise Problem(400, f"the request body is not valid JSON ({exc}); {FEEDBACK_HELP}",
                      reason="malformed_json") from None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise Problem(422, "the array holds no labels; send at least one.", reason="empty")
    limit = service.settings.max_records
    if len(items) > limit:
        raise too_large(f"a feedback request of {len(items):,} labels", limit, "labels",
                        "send them in several requests.")
    p = service.predictor
    names = {str(c): i for i, c in enumerate(p.classes or ())}
    out = []
    for n, item in enumerate(items):
        where = f"item {n}" if isinstance(parsed, list) else "the body"
        if not isinstance(item, dict) or "label" not in item:
            raise Problem(422, f"{where} needs a \"label\"; {FEEDBACK_HELP}", reason="feedback")
        rid, key, index = item.get("request_id"), item.get("key"), item.get("index", 0)
        if (rid is None) == (key is None):
            raise Problem(422, f"{where} needs exactly one of \"request_id\" or \"key\".",
                          reason="feedback")
        if rid is not None and not isinstance(rid, str):
            raise Problem(422, f"{where}: request_id must be a string, got {rid!r}.",
                          reason="feedback")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise Problem(422, f"{where}: index must be a record's position (an integer >= 0), "
                          f"got {index!r}.", reason="feedback")
        if key is not None and service.settings.route_key is None:
            raise Problem(422, f"{where} names a key, but this service routes by request "
                          "(start it with --key FIELD to label by key); send request_id.",
                          reason="feedback")
        out.append((rid, index, None if key is None else key_text(key),
                    _encoded(p, names, item["label"], where)))
    return out


def _encoded(p: Any, names: dict[str, int], label: Any, where: str) -> Any:
    """A class label as its index (its text matched against the classes), or a finite value."""
    if p.task == "regression":
        if isinstance(label, bool) or not isinstance(label, int | float) or \
                not math.isfinite(label):
            raise Problem(422, f"{where}: the label must be a finite number for this "
                          f"regression model, got {label!r}.", reason="feedback")
        return float(label)
    text = str(int(label)) if isinstance(label, float) and label.is_integer() else str(label)
    if isinstance(label, bool) or text not in names:
        raise Problem(422, f"{where}: the label {label!r} is not one of the model's classes "
                      f"{list(names)}.", reason="feedback")
    return names[text]


def labelled_arrays(service: Service, *roles: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The labels of entries holding every role's outputs, and those outputs stacked."""
    entries = service.ledger.labelled(*roles) if service.ledger is not None else []
    y = np.array([e.label for e in entries], dtype=float if service.predictor.task ==
                 "regression" else int)
    outs = [np.array([e.outputs[r] for e in entries], dtype=float) for r in roles]
    return y, outs


def realised(service: Service, role: str) -> dict[str, Any]:
    """``monitor.performance`` of the model in ``role`` on the records labelled so far: its
    metric with an interval (``current``), the cross-validated one (``validation``) and
    ``degraded``, by the same rule as ``mlexpert drift`` with labels."""
    from mlexpert.monitor import performance

    q = service.predictors()[role]
    y, (raw,) = labelled_arrays(service, role)
    if len(y) < 2:
        return {"labelled_rows": int(len(y)), "metric": q.model.manifest.metric,
                "current": None, "degraded": False}
    return {"labelled_rows": int(len(y)), **performance(q.model, raw, y)}


def extend_histories(service: Service, kept: list[tuple[dict[str, Any], Any]]
                     ) -> dict[str, Any]:
    """Add the labelled records the ledger kept history inputs for to the stored history of each
    served model that has one (``_history``), each model from the record as it read it; the
    answer's ``history_extended`` (records added to some model's history), per model beside a
    challenger, and why records were left out."""
    added: dict[str, int] = {}
    records: set[int] = set()
    notes: list[str] = []
    done: dict[int, str] = {}  # one model served in two roles shares one history
    predictors = service.predictors()
    for role, q in predictors.items():
        h = q.history
        if h is None:
            continue
        if id(h) in done:
            added[role] = added[done[id(h)]]
            continue
        done[id(h)] = role
        mine = [n for n, (inputs, _) in enumerate(kept) if role in inputs]
        at, why = h.extend([kept[n][0][role] for n in mine], [kept[n][1] for n in mine])
        added[role] = len(at)
        records.update(mine[j] for j in at)
        if why:
            notes.append(f"{role}: {why}" if len(predictors) > 1 else why)
    out: dict[str, Any] = {"history_extended": len(records)}
    if service.challenger is not None:
        out["history_extended_by_model"] = added
    if notes:
        out["history_note"] = "; ".join(notes) + " (kept as labels, not added to the history)."
    return out


def add_feedback(app: Any, service: Service) -> None:
    """Register ``POST /feedback`` and ``GET /compare``."""
    from fastapi import Request
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    @app.post("/feedback", summary="True labels for records scored earlier",
              description=FEEDBACK_HELP,
              responses={409: {"description": "feedback is off"},
                         422: {"description": "an item lacks its label, names no record or "
                                              "holds a label the model does not know"}})
    async def feedback(request: Request) -> Any:
        if service.ledger is None:
            raise Problem(409, "feedback is off (feedback_window=0; CLI: --feedback-window).",
                          reason="feedback")
        body = await read_body(request, service.settings.max_body_bytes)
        items = parse_feedback(service, body)
        found, kept = service.ledger.label_records(items)
        matched = [e is not None for e in found]
        k = sum(matched)
        service.metrics.feedback.labels("matched").inc(k)
        if k < len(items):
            service.metrics.feedback.labels("unknown").inc(len(items) - k)
        unknown = [{"item": i, "request_id": rid, "index": idx, "key": key}
                   for i, ((rid, idx, key, _), ok) in enumerate(zip(items, matched, strict=True))
                   if not ok][:MAX_UNKNOWN]
        out: dict[str, Any] = {"request_id": request_id(request), "received": len(items),
                               "matched": k}
        if any(q.history is not None for q in service.predictors().values()):
            out.update(await run_in_threadpool(extend_histories, service, kept))
        if unknown:
            out["unknown"] = unknown
            out["note"] = (f"{len(items) - k} label(s) named no record among the last "
                           f"{service.ledger.capacity:,} scored (a wrong id or position, an "
                           "evicted record, or another worker's); they were not kept.")
        return Response(json_bytes(out), media_type="application/json")

    @app.get("/compare", summary="Champion vs challenger on the same labelled records",
             description="A paired bootstrap of the champion's metric on the records both models "
                         "scored and `/feedback` labelled, and a recommendation: promote, keep "
                         "or not_enough_data (with the labelled rows still needed).",
             responses={409: {"description": "no challenger, or feedback is off"}})
    async def compare() -> Any:
        c = service.challenger
        if c is None:
            raise Problem(409, "there is no challenger to compare with; start the service with "
                          "--challenger.", reason="compare")
        if service.ledger is None:
            raise Problem(409, "feedback is off (feedback_window=0), so there are no labels to "
                          "compare on.", reason="compare")
        body = await run_in_threadpool(compare_body, service)
        return Response(json_bytes(jsonable(body)), media_type="application/json")


def compare_body(service: Service) -> dict[str, Any]:
    """``GET /compare``: the paired comparison on the labelled records both models scored."""
    from mlexpert.evaluate import compare_paired, get_metric, thresholded

    p, c = service.predictor, service.challenger
    assert c is not None
    metric = get_metric(p.model.manifest.metric, p.task)
    y, (a, b) = labelled_arrays(service, CHAMPION, CHALLENGER)
    if metric.uses_labels and len(y):
        a, b = thresholded(a, p.threshold), thresholded(b, c.threshold)
    if p.task != "regression" and not len(y):
        a = b = np.empty((0, len(p.classes)))
    result = compare_paired(metric, y, a, b)
    return {"champion": {"name": p.identity.name, "version": p.identity.version},
            "challenger": {"name": c.identity.name, "version": c.identity.version},
            "mode": service.settings.mode, "labelled_rows": int(len(y)),
            "recommendation": result.decision, "reason": result.reason,
            "more_rows_needed": result.more_rows_needed, "comparison": result.to_dict()}
