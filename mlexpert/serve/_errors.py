"""The service's error bodies: what was wrong, where, and what to send instead.

Every refusal is a ``Problem`` (status, one-line message, per-field details, a metric reason);
handlers turn it into ``{"error", "detail", "request_id"}``. Pydantic's errors are rewritten here
into messages that name the row, the field and the expected type.
"""
from __future__ import annotations

from typing import Any

from mlexpert.serve._records import EXPECTED, nullable

MAX_DETAILS = 20


class Problem(Exception):
    """A request the service refuses, with the HTTP status and a message saying what to fix."""

    def __init__(self, status: int, message: str, *, reason: str,
                 detail: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.detail = status, message, reason, detail or []

    def body(self, request_id: str) -> dict[str, Any]:
        """The response body: the message, the request id and, when there are any, the details."""
        body: dict[str, Any] = {"error": self.message, "request_id": request_id}
        if self.detail:
            body["detail"] = self.detail
        return body


def too_large(what: str, limit: int, unit: str, fix: str) -> Problem:
    return Problem(413, f"{what} is over the limit of {limit:,} {unit}; {fix}", reason="too_large")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validation_problem(errors: list[dict[str, Any]], features: list[Any], *, list_body: bool,
                       line_offset: int | None = None) -> Problem:
    """A 422 from pydantic errors: one entry per (row, field), each saying what to send.

    ``line_offset``: for JSON Lines uploads, rows are reported as line numbers (1-based)."""
    by_name = {c.name: c for c in features}
    seen: set[tuple[Any, Any]] = set()
    detail: list[dict[str, Any]] = []
    for e in errors:
        loc = list(e.get("loc") or ())
        row = loc.pop(0) if list_body and loc and isinstance(loc[0], int) else (0 if not list_body else None)
        field = loc[0] if loc and isinstance(loc[0], str) else None
        if (row, field) in seen:
            continue  # a union field reports once per member type: keep the first
        seen.add((row, field))
        kind = e.get("type", "")
        col = by_name.get(field) if field is not None else None
        where = f"row {row}" if line_offset is None else f"line {row + line_offset}"
        if field is None:
            msg = f"{where}: each record must be a JSON object of field: value pairs."
            problem = "not_an_object"
        elif kind == "missing":
            null = " (null allowed)" if col is not None and nullable(col) else ""
            expected = EXPECTED.get(col.role, "a value") if col is not None else "a value"
            msg = f"{where}: field {field!r} is missing; send {expected}{null}."
            problem = "missing"
        elif kind == "extra_forbidden":
            msg = (f"{where}: field {field!r} is not an input of this model and the service runs "
                   "with --strict; remove it (GET /metadata lists the fields).")
            problem = "extra_field"
        elif col is not None and e.get("input", 0) is None:
            msg = (f"{where}: field {field!r} may not be null: it had no missing values in "
                   f"training; send {EXPECTED[col.role]}.")
            problem = "null"
        elif kind == "finite_number":
            msg = (f"{where}: field {field!r} must be a finite number (it had no missing values in "
                   "training).")
            problem = "not_finite"
        elif kind in ("value_error", "bad_value") and col is not None:
            text = str(e.get("msg", "")).removeprefix("Value error, ")
            msg = f"{where}: field {field!r}: {text}."
            problem = "bad_value"
        else:
            expected = EXPECTED.get(col.role, "a value") if col is not None else "a value"
            msg = (f"{where}: field {field!r} must be {expected}, but got "
                   f"{_short(e.get('input'))}.")
            problem = "wrong_type"
        item = {"row": row, "field": field, "problem": problem, "message": msg}
        if line_offset is not None:
            item["line"] = row + line_offset
            item.pop("row")
        detail.append(item)
    n = len(detail)
    head = detail[0]["message"] if detail else "the input does not match the model's schema."
    more = f" (and {n - 1} more problem(s), listed in detail)" if n > 1 else ""
    reasons = {d["problem"] for d in detail}
    return Problem(422, head + more, reason=reasons.pop() if len(reasons) == 1 else "mixed",
                   detail=detail[:MAX_DETAILS])
