"""Reading tables and the Schema: column roles inferred once, then used to validate every input."""
from mlexpert.data._calendar import CYCLES, calendar_parts
from mlexpert.data._coerce import (
    INVALID,
    BadValue,
    InvalidValues,
    check_invalid,
    date_value,
    is_missing,
    number_value,
    scalar_value,
)
from mlexpert.data._panel import as_time, entity_keys, panel_entity, repeats, time_candidates
from mlexpert.data._read import (
    describe_source,
    epoch_ns,
    fingerprint,
    read_rows,
    read_table,
    time_values,
)
from mlexpert.data._schema import (
    FEATURE_ROLES,
    ColumnInfo,
    Role,
    Schema,
    category_text,
    category_value,
    column_stats,
    infer_schema,
)

__all__ = ["CYCLES", "calendar_parts", "INVALID", "BadValue", "InvalidValues", "check_invalid", "date_value", "is_missing",
           "number_value",
           "scalar_value",
           "FEATURE_ROLES", "ColumnInfo", "Role", "Schema", "category_text", "category_value", "column_stats",
           "describe_source", "epoch_ns", "fingerprint",
           "infer_schema", "read_rows", "read_table", "time_values",
           "as_time", "entity_keys", "panel_entity", "repeats", "time_candidates"]
