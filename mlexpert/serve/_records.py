"""Request models generated from the bundle's Schema, and the canonical value of every field.

One pydantic model per service: a field per feature column (aliased to the column's name, so any
column name works), typed by its role, nullable where training had missing values, with the
known categories and an example from the training statistics in the OpenAPI document. Values
come out canonical by the one coercion rule of ``mlexpert.data`` (what ``Schema.prepare`` applies
to a table): numbers as float (inf as missing), categories as strings, dates as datetime64[ns],
text as strings; a value the rule cannot read is a 422 unless the request opts in.
"""
from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np

from mlexpert.data import (
    BadValue,
    ColumnInfo,
    Role,
    Schema,
    category_value,
    date_value,
    is_missing,
    number_value,
    scalar_value,
)

EXPECTED = {Role.NUMERIC: "a number", Role.CATEGORICAL: "a category (string, number or boolean)",
            Role.DATETIME: "a date string (ISO 8601 or the training format)",
            Role.TEXT: "a string"}
_MISSING = {Role.NUMERIC: math.nan, Role.CATEGORICAL: math.nan,
            Role.DATETIME: np.datetime64("NaT", "ns"), Role.TEXT: ""}
_ENUM_IN_DOCS = 200  # known categories listed in the OpenAPI document per field


def field_validator(col: ColumnInfo) -> Any:
    """The validator of one record field: the value read by the one coercion rule of
    ``mlexpert.data`` (what ``Schema.prepare`` applies to a table), null refused where training
    had no missing values; an unreadable value is an error unless the validation context says
    ``{"invalid": "missing"}``."""
    from pydantic_core import PydanticCustomError

    fmt = col.datetime_format
    convert = {Role.NUMERIC: number_value,
               Role.CATEGORICAL: lambda v: category_value(scalar_value(v, "a category")),
               Role.DATETIME: lambda v: date_value(v, fmt),
               Role.TEXT: lambda v: _text(scalar_value(v, "a string"))}[col.role]
    missing = _MISSING[col.role]
    null = nullable(col)

    def validate(v: Any, info: Any) -> Any:
        if v is None:
            if null:
                return missing
            raise PydanticCustomError("null", "may not be null")
        try:
            out = convert(v)
        except BadValue as exc:
            if info.context and info.context.get("invalid") == "missing":
                return missing
            raise PydanticCustomError(exc.kind, str(exc)) from None
        if not null and col.role == Role.NUMERIC and out != out:  # inf, NaN, 'nan'
            raise PydanticCustomError("finite_number", "must be a finite number")
        return out

    return validate


def _text(v: Any) -> str:
    return "" if is_missing(v) else str(v)


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
    from pydantic import ConfigDict, Field, PlainValidator, WithJsonSchema, create_model

    fields: dict[str, Any] = {}
    for i, c in enumerate(schema.features):
        null = nullable(c)
        desc = f"{c.role} column{' (may be null)' if null else ''}"
        if c.role == Role.NUMERIC:
            schema_json: dict[str, Any] = {"type": "number"}
        elif c.role == Role.CATEGORICAL:
            known = c.categories[:_ENUM_IN_DOCS]
            schema_json = {"anyOf": [{"enum": known, "description": "categories seen in training"},
                                     {"type": ["string", "number", "boolean"],
                                      "description": "any other value: accepted, counted as unseen"}]}
            desc += f"; {len(c.categories)} known categories"
        elif c.role == Role.DATETIME:
            schema_json = {"type": "string", "format": "date-time"}
        else:
            schema_json = {"type": "string"}
        if null:
            schema_json = {"anyOf": [schema_json, {"type": "null"}]}
        example = example_value(c)
        if example is not None:
            schema_json["examples"] = [example]
        schema_json["description"] = desc
        ann = Annotated[Any, PlainValidator(field_validator(c)), WithJsonSchema(schema_json)]
        fields[f"f{i}"] = (ann, Field(..., alias=c.name))
    config = ConfigDict(extra="forbid" if strict else "ignore", populate_by_name=False,
                        json_schema_extra={"examples": [example_record(schema)]})
    return create_model("Record", __config__=config, **fields)
