"""Panels and event logs: which column names an entity observed over time (a state over years, a
customer over purchase dates). The one rule fit's ``entity`` inference and the audit's panel hint
share."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mlexpert.data._read import time_values
from mlexpert.data._schema import Role, Schema
from mlexpert.errors import DataError

UNIQUE_PAIRS = 0.9  # share of rows whose (entity, time) pair is their own: one row per period
MIN_TIMES = 3  # median distinct times per entity: enough history to learn from
MAX_ENTITY_SHARE = 1 / 3  # at most this many entities per row (else rows rarely repeat one)
MIN_EVENT_ENTITIES = 20  # where times are unique per row (an event log), every column's pairs
# are: the entity must then have this many values (email_spam's 2-valued flag over its
# timestamps is no entity)
TIME_NAME = re.compile(r"(^|[_\W])(year|date|time|period|month|week|quarter|day)s?([_\W]|$)",
                       re.IGNORECASE)


def repeats(keys: pd.Series, order: np.ndarray) -> tuple[int, float]:
    """(entities, median distinct times per entity) of ``keys`` over time ``order``."""
    pairs = pd.DataFrame({"e": keys.to_numpy(), "t": order}).dropna()
    per = pairs.drop_duplicates().groupby("e", sort=False)["t"].size()
    return int(len(per)), float(per.median()) if len(per) else 0.0


def entity_keys(values: pd.Series) -> pd.Series:
    """A column's values as hashable keys, missing as None."""
    return values.astype(object).where(values.notna(), None)


def panel_entity(frame: pd.DataFrame, schema: Schema, time_column: str,
                 order: np.ndarray) -> str | None:
    """The coarsest column that names an entity observed once per time over several times: a
    categorical (or, where several rows share a time, whole-number) column whose (value, time)
    pairs are nearly all unique and whose values each recur at ``MIN_TIMES`` times or more (a
    panel, or an event log of at least ``MIN_EVENT_ENTITIES`` entities)."""
    n = len(frame)
    event_log = pd.Series(order).nunique() > n / 2
    best: tuple[int, str] | None = None
    for col in schema.features:
        if col.name == time_column or col.role not in (Role.CATEGORICAL, Role.NUMERIC):
            continue
        values = frame[col.name]
        if col.role == Role.NUMERIC and event_log:
            continue  # with a time per row any count's pairs are unique: only codes name entities
        if col.role == Role.NUMERIC:
            numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
            if not len(numbers) or np.any(np.mod(numbers, 1) != 0):
                continue
        n_levels = int(values.nunique())
        if n_levels < (MIN_EVENT_ENTITIES if event_log else 2) or n_levels > MAX_ENTITY_SHARE * n:
            continue
        keys = entity_keys(values)
        pairs = pd.DataFrame({"e": keys.to_numpy(), "t": order}).dropna()
        if len(pairs) < 0.95 * n or (~pairs.duplicated()).mean() < UNIQUE_PAIRS:
            continue
        if repeats(keys, order)[1] < MIN_TIMES:
            continue
        if best is None or n_levels < best[0]:
            best = (n_levels, col.name)
    return None if best is None else best[1]


def time_candidates(frame: pd.DataFrame, schema: Schema) -> list[str]:
    """Columns that may order rows in time: dates, and whole numbers named like a period
    (``year``, ``month``...) of at least ``MIN_TIMES`` values."""
    out = []
    for col in schema.features:
        if col.role == Role.DATETIME:
            out.append(col.name)
        elif col.role in (Role.NUMERIC, Role.CATEGORICAL) and TIME_NAME.search(col.name):
            numbers = pd.to_numeric(frame[col.name], errors="coerce")
            if numbers.notna().mean() >= 0.95 and numbers.nunique() >= MIN_TIMES and bool(
                    np.all(np.mod(numbers.dropna().to_numpy(dtype=float), 1) == 0)):
                out.append(col.name)
    return out


def as_time(frame: pd.DataFrame, column: str, schema: Schema) -> np.ndarray | None:
    """A candidate time column as numbers (None where a value does not read as a time)."""
    info = next(c for c in schema.columns if c.name == column)
    values = frame[column]
    if info.role == Role.DATETIME and not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, errors="coerce", format=info.datetime_format)
    elif info.role != Role.DATETIME:
        values = pd.to_numeric(values, errors="coerce")
    try:
        return time_values(values, column)
    except DataError:  # a missing or unreadable time
        return None
