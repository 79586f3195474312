"""``POST /predict/batch``: a CSV or JSON Lines upload predicted chunk by chunk into a spooled
file, streamed back in the same format (memory bounded by the chunk and the spool).

No ``from __future__ import annotations`` here: FastAPI reads the route's annotations."""
import csv
import logging
import tempfile
from typing import Any

import numpy as np

from mlexpert.data import InvalidValues
from mlexpert.errors import MlexpertError
from mlexpert.serve._errors import Problem, too_large, validation_problem
from mlexpert.serve._http import request_id
from mlexpert.serve._predict import INVALID_HELP
from mlexpert.serve._predictor import Predictor
from mlexpert.serve._service import Service

log = logging.getLogger("mlexpert.serve")
SPOOL_BYTES = 8 << 20  # batch output kept in memory up to this, then spilled to a temp file


def add_batch(app: Any, service: Service) -> None:
    """Register ``POST /predict/batch``."""
    from fastapi import Query, Request
    from fastapi.responses import StreamingResponse

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
                            id_column: str | None = Query(None, max_length=200),
                            invalid: str = Query("raise", pattern="^(raise|missing)$",
                                                 description=INVALID_HELP)) -> Any:
        from mlexpert.serve._batch import input_format

        fmt = input_format(request.headers.get("content-type"), format)
        spool = await run_batch(service, request, fmt, output or fmt, id_column, invalid)
        media = "text/csv" if (output or fmt) == "csv" else "application/x-ndjson"

        def chunks() -> Any:
            with spool:
                while data := spool.read(1 << 16):
                    yield data

        return StreamingResponse(chunks(), media_type=media,
                                 headers={"X-Model-Version": service.predictor.identity.version})


async def run_batch(service: Service, request: Any, fmt: str, out_fmt: str,
                    id_column: str | None, invalid: str = "raise") -> Any:
    """Predict an upload chunk by chunk into a spooled file; returns it rewound. Values the
    coercion rule cannot read refuse the upload (422 naming columns and lines) unless
    ``invalid="missing"``."""
    from pydantic import ValidationError
    from starlette.concurrency import run_in_threadpool

    from mlexpert.serve._batch import line_batches, parse_csv, parse_json_line, to_json_lines

    p = service.predictor
    s = service.settings
    rid = request_id(request)
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
            try:  # the rule of Schema.prepare, as the library and the CLI read a table
                prepared = p.model.schema.prepare(frame, "the upload", invalid=invalid)
            except InvalidValues as exc:
                raise _invalid_problem(exc, start) from None
            except MlexpertError as exc:
                raise Problem(422, f"{exc}", reason="schema") from None
        else:
            objs = [parse_json_line(line, start + i) for i, line in enumerate(chunk)]
            context = {"invalid": invalid}
            try:
                records = [p.one.validate_python(o, context=context) for o in objs]
            except ValidationError:
                records = _validate_lines(p, objs, start, context)
            frame = prepared = p.frame(p.rows(records))
            ids = [o.get(id_column) for o in objs] if id_column else None
        if id_column and fmt == "csv":
            if id_column not in frame.columns:
                raise Problem(422, f"id_column {id_column!r} is not a column of the upload; "
                              f"columns are {list(frame.columns)[:8]}.", reason="bad_option")
            ids = frame[id_column].tolist()
        try:
            raw = await run_in_threadpool(p.predict_frame, prepared, "the upload")
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
                        lambda: prepared)

    try:
        async for batch in line_batches(request.stream(), max_line=s.max_line_bytes,
                                        csv=fmt == "csv"):
            for line in batch:
                line_no += 1
                if fmt == "csv" and header is None:
                    header = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
                    first_line = 2
                    _check_header(p, header)
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


def _check_header(p: Predictor, header: bytes) -> None:
    """A CSV header that parses and names every feature column (400, 422 otherwise)."""
    try:
        names = [n.strip() for n in next(csv.reader([header.decode("utf-8", "replace")]), [])]
    except csv.Error as exc:  # e.g. a bare carriage return in a name
        raise Problem(400, f"the CSV header (line 1) cannot be parsed ({exc}); "
                      "send comma-separated column names on the first line.",
                      reason="malformed_csv") from None
    missing = [c.name for c in p.features if c.name not in names]
    if missing:
        raise Problem(422, f"the upload lacks {len(missing)} column(s) the model "
                      f"was trained on: {', '.join(map(repr, missing[:8]))}. Add "
                      "them (values may be empty).", reason="missing")


def _invalid_problem(exc: InvalidValues, first_line: int) -> Problem:
    """The 422 of unreadable values in a CSV chunk: the message names columns and file lines,
    the detail has one entry per column (count and first lines)."""
    detail = [{"field": c.name, "problem": "bad_value", "count": c.count,
               "lines": [first_line + i for i in c.positions],
               "values": [str(v)[:40] for v in c.values]} for c in exc.columns]
    message = exc.describe(lambda i: first_line + i, "line", fix="add ?invalid=missing")
    return Problem(422, message, reason="bad_value", detail=detail)


def _validate_lines(p: Predictor, objs: list[dict], start: int, context: dict) -> list[Any]:
    """Raise the 422 of the invalid JSON lines of a chunk (at most ~50 errors gathered)."""
    from pydantic import ValidationError

    errors = []
    for i, o in enumerate(objs):
        try:
            p.one.validate_python(o, context=context)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                errors.append({**e, "loc": (i, *e["loc"])})
        if len(errors) > 50:
            break
    raise validation_problem(errors, p.features, list_body=True, line_offset=start)


def _output_table(p: Predictor, raw: np.ndarray) -> Any:
    """The answer's columns: the prediction (named after the target), then one proba_<class>."""
    import pandas as pd

    if p.task == "regression":
        return pd.DataFrame({p.target: raw})
    out = pd.DataFrame({p.target: p.labels(raw)})
    for j, c in enumerate(p.classes):
        out[f"proba_{c}"] = raw[:, j]
    return out
