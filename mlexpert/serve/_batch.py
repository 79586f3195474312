"""Batch uploads: CSV or JSON Lines read from the request stream in chunks of rows, so memory is
bounded by the chunk size and the output spool, never by the upload."""
from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

from mlexpert.serve._errors import Problem, too_large

FORMATS = {"text/csv": "csv", "application/csv": "csv", "application/x-ndjson": "jsonl",
           "application/jsonl": "jsonl", "application/json-lines": "jsonl",
           "application/x-jsonlines": "jsonl", "application/jsonlines": "jsonl"}


def input_format(content_type: str | None, query: str | None) -> str:
    """'csv' or 'jsonl', from ``?format=`` or the Content-Type; a 415 naming both otherwise."""
    if query:
        if query not in ("csv", "jsonl"):
            raise Problem(422, f"format must be 'csv' or 'jsonl', but got {query!r}.",
                          reason="bad_option")
        return query
    media = (content_type or "").split(";")[0].strip().lower()
    if media in FORMATS:
        return FORMATS[media]
    raise Problem(415, f"cannot tell the upload's format from Content-Type {media or '(none)'!r}; "
                  "send Content-Type: text/csv or application/x-ndjson, or add ?format=csv|jsonl.",
                  reason="bad_format")


async def line_batches(stream: AsyncIterator[bytes], *, max_line: int,
                       csv: bool) -> AsyncIterator[list[bytes]]:
    """The upload's complete lines (without newlines), a list per received chunk. For CSV a
    newline inside a quoted field does not end the line. A line over ``max_line`` bytes is a
    413."""
    tail = b""          # the unfinished last line of the previous chunk
    carry: bytes | None = None  # a CSV record whose quoted field spans lines

    def too_long() -> Problem:
        return too_large("a line of the upload", max_line, "bytes",
                         "split long values or send fewer columns.")

    async for chunk in stream:
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        if len(tail) > max_line:
            raise too_long()
        out = []
        for line in parts:
            if carry is not None:
                line = carry + b"\n" + line
                carry = None
            if len(line) > max_line:
                raise too_long()
            if csv and line.count(b'"') % 2:  # inside a quoted field: keep reading
                carry = line
                continue
            out.append(line[:-1] if line.endswith(b"\r") else line)
        if out:
            yield out
    last = tail if carry is None else carry + b"\n" + tail
    if len(last) > max_line:
        raise too_long()
    if last.strip():
        yield [last[:-1] if last.endswith(b"\r") else last]


def parse_csv(header: bytes, rows: list[bytes], first_line: int) -> Any:
    """One chunk of CSV lines as a DataFrame (types inferred per chunk, as ``read_table`` does)."""
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(header + b"\n" + b"\n".join(rows)), low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        last = first_line + len(rows) - 1
        msg = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise Problem(400, f"CSV lines {first_line}-{last} cannot be parsed ({msg}); check the "
                      "quoting and that every line has as many fields as the header.",
                      reason="malformed_csv") from None


def parse_json_line(line: bytes, number: int) -> Any:
    """One JSON Lines record: a JSON object, or a 400 naming the line."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"line {number} is not valid JSON ({exc}); send one JSON object per "
                      "line.", reason="malformed_json") from None
    if not isinstance(obj, dict):
        raise Problem(422, f"line {number} is a JSON {type(obj).__name__}, not an object; send one "
                      "JSON object per line.", reason="not_an_object")
    return obj


def to_json_lines(table: Any) -> bytes:
    """A DataFrame as JSON Lines (NaN as null)."""
    if len(table) == 0:
        return b""
    return table.to_json(orient="records", lines=True, force_ascii=False).encode() \
        .rstrip(b"\n") + b"\n"
