"""Request models generated from the bundle's Schema, and the canonical value of every field.

One pydantic model per service: a field per feature column (aliased to the column's name, so any
column name works), typed by its role, nullable where training had missing values, with the
known categories and an example from the training statistics in the OpenAPI document. Values
come out canonical, as ``Schema.prepare`` would make them: numbers as float (inf as missing),
categories as strings, dates as datetime64[ns], text as strings.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any

import numpy as np

from mlexpert.data import ColumnInfo, Role, Schema, category_value

EXPECTED = {Role.NUMERIC: "a number", Role.CATEGORICAL: "a category (string, number or boolean)",
            Role.DATETIME: "a date string (ISO 8601 or the training format)",
            Role.TEXT: "a string"}
_NAT = np.datetime64("NaT", "ns")
_FIRST_YEAR, _LAST_YEAR = 1678, 2261  # datetime64[ns] holds these years whole
_ENUM_IN_DOCS = 200  # known categories listed in the OpenAPI document per field


def _number(v: float | None) -> float:
    if v is None or not math.isfinite(v):
        return math.nan
    return float(v)


def _category(v: Any) -> Any:
    return category_value(v)


def _text(v: str | None) -> str:
    return "" if v is None else v


def _date_parser(fmt: str | None) -> Any:
    def parse(v: str | None) -> np.datetime64:
        if v is None:
            return _NAT
        t = None
        if fmt:
            try:
                t = datetime.strptime(v, fmt)
            except ValueError:
                t = None
        if t is None:
            try:
                t = datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v[:40]!r} is not a date; send ISO 8601 "
                                 f"({'or ' + fmt if fmt else 'e.g. 2024-01-31'})") from None
        if t.tzinfo is not None:
            t = t.astimezone(timezone.utc).replace(tzinfo=None)
        if not _FIRST_YEAR <= t.year <= _LAST_YEAR:
            raise ValueError(f"{v[:40]!r} is outside the dates the model handles "
                             f"({_FIRST_YEAR}-{_LAST_YEAR})")
        return np.datetime64(t, "ns")

    return parse


def nullable(col: ColumnInfo) -> bool:
    """A field may be null (or NaN) when training had missing values in that column."""
    return col.missing_rate > 0


def example_value(col: ColumnInfo) -> Any:
    """A typical training value for the OpenAPI example: median, most frequent category, first
    date; None when the statistics hold none."""
    stats = col.stats or {}
    if col.role == Role.NUMERIC:
        return stats.get("median")
    if col.role == Role.CATEGORICAL:
        top = stats.get("top") or {}
        return next(iter(top), col.categories[0] if col.categories else None)
    if col.role == Role.DATETIME:
        first = stats.get("min")
        return str(first)[:10] if first else None
    if col.role == Role.TEXT:
        return "some text"
    return None


def example_record(schema: Schema) -> dict[str, Any]:
    """One record built from the training statistics (a valid request body)."""
    out = {}
    for c in schema.features:
        v = example_value(c)
        if v is None and not nullable(c):
            v = {Role.NUMERIC: 0.0, Role.CATEGORICAL: "a", Role.DATETIME: "2020-01-01",
                 Role.TEXT: ""}[c.role]
        out[c.name] = v
    return out


def build_record_model(schema: Schema, *, strict: bool) -> type:
    """The pydantic model of one record; fields are named ``f0..fN`` in schema order, aliased to
    the column names (so ``record.__dict__.values()`` is the canonical row in schema order)."""
    from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema, create_model

    fields: dict[str, Any] = {}
    for i, c in enumerate(schema.features):
        null = nullable(c)
        desc = f"{c.role} column{' (may be null)' if null else ''}"
        if c.role == Role.NUMERIC:
            if null:
                ann: Any = Annotated[float | None, AfterValidator(_number)]
            else:
                ann = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_number)]
            schema_json = {"type": "number"}
        elif c.role == Role.CATEGORICAL:
            cat: Any = str | int | float | bool
            ann = Annotated[(cat | None) if null else cat, AfterValidator(_category)]
            known = c.categories[:_ENUM_IN_DOCS]
            schema_json = {"anyOf": [{"enum": known, "description": "categories seen in training"},
                                     {"type": ["string", "number", "boolean"],
                                      "description": "any other value: accepted, counted as unseen"}]}
            desc += f"; {len(c.categories)} known categories"
        elif c.role == Role.DATETIME:
            ann = Annotated[(str | None) if null else str, AfterValidator(_date_parser(c.datetime_format))]
            schema_json = {"type": "string", "format": "date-time"}
        else:
            ann = Annotated[(str | None) if null else str, AfterValidator(_text)]
            schema_json = {"type": "string"}
        if null:
            schema_json = {"anyOf": [schema_json, {"type": "null"}]}
        example = example_value(c)
        if example is not None:
            schema_json["examples"] = [example]
        schema_json["description"] = desc
        ann = Annotated[ann, WithJsonSchema(schema_json)]
        fields[f"f{i}"] = (ann, Field(..., alias=c.name))
    config = ConfigDict(extra="forbid" if strict else "ignore", populate_by_name=False,
                        json_schema_extra={"examples": [example_record(schema)]})
    return create_model("Record", __config__=config, **fields)
