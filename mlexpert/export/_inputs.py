r"""The exported graph's inputs: one per feature column of the schema, typed by role.

* numeric: double, shape (n, 1), NaN for missing;
* categorical: string, shape (n, 1), the canonical text of the value (``1.0`` and ``1`` are
  both ``"1"``), ``"\x00"`` (one NUL character) for missing: ``""`` is a value like any other;
  unseen values are allowed (a value that is itself NUL goes in as ``"\x00\x01"``, unseen);
* datetime: int64, shape (n, 1), nanoseconds since 1970-01-01 UTC (naive times read as UTC),
  the smallest int64 for missing: numpy's ``datetime64[ns]`` viewed as int64, NaT included.

``onnx_inputs`` builds that feed from any table ``Schema.prepare`` accepts, so Python callers
never hand-code it; other languages follow the same rules (they are in the model's metadata).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlexpert.data import Role, Schema

MISSING_CATEGORY = "\x00"  # a missing category (NUL: no real category collides with it, unlike "")
UNSEEN_CATEGORY = "\x00\x01"  # what a real value equal to MISSING_CATEGORY is fed as: unseen
INPUT_RULES = {
    "numeric": "double (n, 1); NaN for missing",
    "categorical": "string (n, 1); canonical text of the value, the NUL character '\\x00' for "
                   "missing ('\\x00\\x01', an unseen value, for a value that is itself NUL)",
    "datetime": "int64 (n, 1); nanoseconds since 1970-01-01 UTC, -9223372036854775808 (NaT) "
                "for missing",
}


def input_specs(schema: Schema) -> list[tuple[str, Role]]:
    """(input name, role) of every graph input, in training order."""
    return [(c.name, c.role) for c in schema.features]


def onnx_inputs(frame: Any, source: Any) -> dict[str, np.ndarray]:
    """The onnxruntime feed for ``frame``: validated and coerced by the schema of ``source`` (a
    Model, a Schema, an exported ``.onnx`` path or a loaded ONNX model)."""
    from mlexpert.data import read_table

    schema = _schema(source)
    columns = schema.prepare_columns(read_table(frame))
    feed: dict[str, np.ndarray] = {}
    for name, role in input_specs(schema):
        s = columns[name]
        if role == Role.NUMERIC:
            feed[name] = s.to_numpy(dtype=np.float64).reshape(-1, 1)
        elif role == Role.CATEGORICAL:
            feed[name] = category_feed(s.to_numpy(dtype=object))
        elif role == Role.DATETIME:
            feed[name] = s.to_numpy(dtype="datetime64[ns]").view(np.int64).reshape(-1, 1)
        else:
            feed[name] = s.to_numpy(dtype=object).reshape(-1, 1)
    return feed


def category_feed(values: Any) -> np.ndarray:
    """Canonical categories (str, or NaN/None for missing) as a graph input of shape (n, 1):
    missing becomes ``MISSING_CATEGORY``; a real value equal to it, ``UNSEEN_CATEGORY``."""
    return np.array([(UNSEEN_CATEGORY if v == MISSING_CATEGORY else v) if isinstance(v, str)
                     else MISSING_CATEGORY for v in values], dtype=object).reshape(-1, 1)


def _schema(source: Any) -> Schema:
    if isinstance(source, Schema):
        return source
    if hasattr(source, "schema") and isinstance(source.schema, Schema):
        return source.schema
    if not hasattr(source, "metadata_props"):
        import onnx

        source = onnx.load(str(source), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props}
    return Schema.from_dict(json.loads(props["mlexpert.schema"]))

