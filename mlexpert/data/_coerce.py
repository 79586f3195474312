"""The one coercion rule: how a value given for a feature becomes its canonical form, and which
values are unreadable. ``Schema.prepare`` (library, CLI, batch uploads) and the service's record
fields both call it, so a value gets the same outcome on every path.

Per role: numbers are numbers or numeric strings ('1.5', ' 2 ', '1e3'; 'nan' is missing), never
booleans or other strings ('abc', ''); inf is missing and magnitudes are clipped to float32's
range. Dates are datetimes, or strings in the training format or ISO 8601 (time zones to UTC),
within 1678-2261; never numbers. Categories and text take any scalar; a list or object is
unreadable. Missing (None, NaN, NA, NaT) is missing. Unreadable values raise ``InvalidValues``
(every column, count and first rows) unless ``invalid="missing"`` makes them missing.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import DataError, bad_option

INVALID = ("raise", "missing")  # what an unreadable value does: refuse the input, or be missing
FLOAT32_MAX = float(np.finfo(np.float32).max)
FIRST_YEAR, LAST_YEAR = 1678, 2261  # datetime64[ns] holds these years whole
_FIRST_NS = np.datetime64(pd.Timestamp.min.ceil("s").to_datetime64(), "s")
_LAST_NS = np.datetime64(pd.Timestamp.max.floor("s").to_datetime64(), "s")
_NAT = np.datetime64("NaT", "ns")
_SCALARS = (str, int, float, bool, np.generic)
SMALL_SCALARS = 8  # up to this many values, ``scalars_only`` checks each rather than infer a kind
SHOWN = 5  # unreadable rows named per column in a message


class BadValue(ValueError):
    """One unreadable value: ``kind`` is 'wrong_type' (a value of the wrong kind, e.g. true for a
    number) or 'bad_value' (the right kind, unreadable, e.g. 'abc' or a date in year 3000)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class BadColumn:
    """The unreadable values of one column: how many, and the first rows (positions) and values."""

    name: str
    expected: str
    count: int
    positions: tuple[int, ...]
    values: tuple[Any, ...]


class InvalidValues(DataError):
    """Input holding values the model cannot read, per column; refused unless the caller opts in
    (``invalid="missing"``). ``columns`` holds the details; the message names columns and rows."""

    def __init__(self, columns: Sequence[BadColumn], source: str,
                 row: Callable[[int], Any] = lambda i: i, noun: str = "row",
                 fix: str = "pass invalid='missing' (CLI --invalid missing)"):
        self.columns, self.source = list(columns), source
        super().__init__(self.describe(row, noun, fix))

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    def describe(self, row: Callable[[int], Any] = lambda i: i, noun: str = "row",
                 fix: str = "pass invalid='missing' (CLI --invalid missing)") -> str:
        """One line naming each column, its count and its first rows (``row`` names a position:
        an index label, a file line...), and how to opt in (``fix``)."""
        parts = []
        for c in self.columns:
            shown = ", ".join(f"{row(p)} ({_short(v)})"
                              for p, v in zip(c.positions, c.values, strict=True))
            more = f", ... ({c.count} in all)" if c.count > len(c.positions) else ""
            parts.append(f"column {c.name!r} ({c.expected} expected) at {noun}"
                         f"{'s' if c.count > 1 else ''} {shown}{more}")
        return (f"{self.source} holds {self.count} value(s) the model cannot read: "
                + "; ".join(parts) + f". Fix them, or {fix} to predict them as missing.")

    def at(self, row: Callable[[int], Any], noun: str, fix: str) -> InvalidValues:
        """The same error with rows named otherwise (e.g. ``noun='line'`` for a CSV file)."""
        return InvalidValues(self.columns, self.source, row, noun, fix)

    def in_file(self, path: Any, fix: str) -> InvalidValues:
        """The same error for rows read from the file ``path``: lines of a text file (the header
        is line 1), rows of a Parquet file."""
        if str(path).lower().endswith((".csv", ".tsv", ".txt")):
            return self.at(lambda i: i + 2, "line", fix)
        return self.at(lambda i: i, "row", fix)


def _short(v: Any) -> str:
    text = repr(v.item() if isinstance(v, np.generic) else v)
    return text if len(text) <= 30 else text[:27] + "..."


def check_invalid(invalid: Any) -> str:
    """``invalid`` checked: 'raise' or 'missing' (ConfigError otherwise)."""
    if invalid not in INVALID:
        raise bad_option("invalid", invalid, "'raise' (refuse unreadable values) or 'missing'")
    return invalid


def is_missing(v: Any) -> bool:
    """None, NaN, pandas' NA and NaT."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float | np.floating)
                                                        and v != v)


def finite_float32_range(out: np.ndarray) -> np.ndarray:
    """inf as missing, magnitudes clipped to float32's largest finite value (a new array): forests
    and XGBoost compare float32, where a larger number would be infinite."""
    out = np.where(np.isinf(out), np.nan, out)  # numpy: pandas' replace/clip cost ms per call
    np.clip(out, -FLOAT32_MAX, FLOAT32_MAX, out=out)
    return out


# -- numbers ---------------------------------------------------------------------------------
def numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(float64 values, mask of unreadable values or None when there are none) of one column."""
    values = np.asarray(values)
    if values.dtype.kind in "fiu":
        return finite_float32_range(values.astype("float64")), None
    if values.dtype.kind == "b":
        return np.full(len(values), np.nan), _none_if_clean(np.ones(len(values), dtype=bool))
    values = values.astype(object)
    kind = pd.api.types.infer_dtype(values, skipna=True) if len(values) else "empty"
    if kind in ("floating", "integer", "mixed-integer-float", "decimal", "empty"):
        try:
            out = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy("float64",
                                                                             na_value=np.nan)
            return finite_float32_range(out), None
        except OverflowError:  # an integer beyond float64: value by value below
            pass
    out = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    if kind == "string":  # strings and missing only
        strings = ~pd.isna(values)
    else:
        strings = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
    if strings.any():
        text = values[strings]
        parsed = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy("float64",
                                                                         na_value=np.nan)
        unread = np.isnan(parsed)
        if unread.any():  # 'nan' is a number (missing); anything else unparsed is unreadable
            unread[unread] = [t.strip().lower() != "nan" for t in text[unread]]
        out[strings] = parsed
        bad[strings] = unread
    if kind == "string":
        return finite_float32_range(out), _none_if_clean(bad)
    for i in np.flatnonzero(~strings):  # numbers, missing, booleans and anything else
        v = values[i]
        if is_missing(v):
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
            bad[i] = True
        else:
            try:
                out[i] = float(v)
            except OverflowError:  # beyond float64, like '1e400': infinite, so missing
                out[i] = math.inf if v > 0 else -math.inf
    return finite_float32_range(out), _none_if_clean(bad)


def number_value(v: Any) -> float:
    """One value as a number (NaN: missing); ``BadValue`` when it is not one."""
    if type(v) is int:  # JSON's integers, without numpy
        try:
            v = float(v)
        except OverflowError:  # beyond float64: infinite, so missing
            return math.nan
    if type(v) is float:  # the common case, without numpy
        return v if -FLOAT32_MAX <= v <= FLOAT32_MAX else \
            (math.nan if v != v or math.isinf(v) else math.copysign(FLOAT32_MAX, v))
    out, bad = numbers(_one(v))
    if bad is not None:
        raise BadValue("wrong_type", f"{_short(v)} is not a number")
    return float(out[0])


# -- dates -----------------------------------------------------------------------------------
SMALL_DATES = 16  # up to this many values, strings in the training format skip pandas


def dates(values: np.ndarray, fmt: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(datetime64[ns] values, mask of unreadable values or None) of one column: strings in
    ``fmt`` or ISO 8601, datetimes (time zones to UTC), years 1678-2261."""
    if len(values) <= SMALL_DATES:
        quick = _datetime_dates(values)
        if quick is None and fmt is not None and fmt != "ISO8601":
            quick = _strptime_dates(values, fmt)
        if quick is not None:
            return quick
    return _pandas_dates(values, fmt)


def _datetime_dates(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``dates`` for a few datetimes (Python's or pandas' Timestamps, whole microseconds, time
    zones to UTC) or missing values, without pandas: a one-row frame with a datetime column
    holds Timestamps (18 µs a value against 251 µs through ``pd.to_datetime``). None as soon as a
    value is anything else: pandas' path decides those."""
    from datetime import datetime, timezone

    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    for i, v in enumerate(values):
        if is_missing(v):
            continue
        if not isinstance(v, datetime) or getattr(v, "nanosecond", 0):
            return None
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        if v.tzinfo is not None:
            v = v.astimezone(timezone.utc).replace(tzinfo=None)
        out[i] = np.datetime64(v, "us")
    return _in_range(out)


def _strptime_dates(values: np.ndarray, fmt: str
                    ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``dates`` for a few strings all in ``fmt`` (or missing), by ``datetime.strptime``: ~5 us
    a value where ``pd.to_datetime`` costs ~500 us a call (a service's one-row predict). None as
    soon as a value is anything else: pandas' path decides those, so the outcome is the same
    (pandas' format parser is a port of the same ``_strptime``; ``test_coerce`` compares both)."""
    from datetime import datetime, timezone

    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    for i, v in enumerate(values):
        if is_missing(v):
            continue
        if type(v) is not str:
            return None
        try:
            t = datetime.strptime(v, fmt)
        except ValueError:
            return None
        if t.tzinfo is not None:
            t = t.astimezone(timezone.utc).replace(tzinfo=None)
        out[i] = np.datetime64(t, "us")
    return _in_range(out)


def _in_range(out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Microsecond datetimes as ``dates`` gives them: nanoseconds, NaT (and unreadable) where
    beyond what nanoseconds hold."""
    seconds = out.astype("datetime64[s]")
    far = (seconds < _FIRST_NS) | (seconds > _LAST_NS)
    out[far] = np.datetime64("NaT")
    return out.astype("datetime64[ns]"), _none_if_clean(far)


def _pandas_dates(values: np.ndarray, fmt: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``dates`` through pandas: any number of values of any kind."""
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = series if getattr(series.dt, "tz", None) is None else \
            series.dt.tz_convert("UTC").dt.tz_localize(None)
        bad = np.zeros(len(values), dtype=bool)
    else:
        parsed, bad = _parse_dates(series.astype(object), fmt)
    seconds = parsed.to_numpy().astype("datetime64[s]")
    far = (seconds < _FIRST_NS) | (seconds > _LAST_NS)
    if far.any():
        bad = bad | far
        parsed = parsed.mask(pd.Series(far, index=parsed.index))
    out = parsed.to_numpy().astype("datetime64[ns]")
    return out, _none_if_clean(bad)


def _parse_dates(values: pd.Series, fmt: str | None) -> tuple[pd.Series, np.ndarray]:
    """Naive UTC datetimes (any resolution) and the unreadable mask of an object Series."""
    objs = values.to_numpy()
    missing = pd.isna(objs)
    kind = pd.api.types.infer_dtype(objs, skipna=True) if len(objs) else "empty"
    if kind == "string":  # the usual case: strings and missing only
        out = _strings_to_dates(values, fmt)
        return out, ~missing & out.isna().to_numpy()
    if kind in ("datetime", "datetime64", "date", "empty"):
        out = _to_utc(values, None)
        return out, ~missing & out.isna().to_numpy()
    stamps = np.fromiter((isinstance(v, pd.Timestamp | np.datetime64) or
                          type(v).__name__ in ("datetime", "date") for v in objs), bool, len(objs))
    strings = np.fromiter((isinstance(v, str) for v in objs), bool, len(objs))
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    if stamps.any():
        out[stamps] = _to_utc(pd.Series(objs[stamps]), None).to_numpy()
    if strings.any():
        out[strings] = _strings_to_dates(pd.Series(objs[strings]), fmt).to_numpy()
    missing = np.fromiter((is_missing(v) for v in objs), bool, len(objs))
    bad = ~missing & (~(stamps | strings) | out.isna().to_numpy())
    return out, bad


def _strings_to_dates(text: pd.Series, fmt: str | None) -> pd.Series:
    """Strings in ``fmt``, else ISO 8601, as naive UTC datetimes (NaT where neither reads)."""
    got = _to_utc(text, fmt or "ISO8601")
    retry = (got.isna() & text.notna()).to_numpy()
    if fmt and retry.any():  # not in the training format: ISO 8601
        got[retry] = _to_utc(text[retry], "ISO8601").to_numpy()
    return got


def _to_utc(values: pd.Series, fmt: str | None) -> pd.Series:
    """``pd.to_datetime`` to naive UTC at microseconds (NaT where unreadable); value by value
    where pandas before 3 overflows on far dates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
        except (OverflowError, ValueError):
            got = pd.Series([_one_date(v, fmt) for v in values], index=values.index,
                            dtype="datetime64[us, UTC]")
    got = got.dt.tz_localize(None)
    try:
        return got.astype("datetime64[us]")
    except (OverflowError, ValueError):  # pragma: no cover - beyond microseconds' range
        return got


def _one_date(v: Any, fmt: str | None) -> Any:
    try:
        t = pd.to_datetime(v, format=fmt, utc=True)
        return pd.NaT if pd.isna(t) else t
    except (OverflowError, ValueError, TypeError):
        return pd.NaT


def date_value(v: Any, fmt: str | None) -> np.datetime64:
    """One value as a datetime64[ns] (NaT: missing); ``BadValue`` when it is not a date."""
    out, bad = dates(_one(v), fmt)
    if bad is not None:
        if not isinstance(v, str) and not is_missing(v) and not hasattr(v, "year"):
            raise BadValue("wrong_type", f"{_short(v)} is not a date")
        parsed, _ = _parse_dates(pd.Series(_one(v)), fmt)
        if parsed.notna().iloc[0]:
            raise BadValue("bad_value", f"{_short(v)} is outside the dates the model handles "
                                        f"({FIRST_YEAR}-{LAST_YEAR})")
        raise BadValue("bad_value", f"{_short(v)} is not a date; send ISO 8601 "
                                    f"({'or ' + fmt if fmt else 'e.g. 2024-01-31'})")
    return out[0]


# -- categories and text ---------------------------------------------------------------------
def scalars_only(values: np.ndarray) -> np.ndarray | None:
    """Mask of values that are neither missing nor scalars (lists, dicts...: unreadable as a
    category or text), or None; typed arrays are skipped."""
    if values.dtype != object or len(values) == 0:
        return None
    if len(values) == 1:  # a column of a one-row predict: no array of flags to build and scan
        v = values[0]
        return None if is_missing(v) or isinstance(v, _SCALARS) else np.ones(1, dtype=bool)
    # a few values are checked one by one (the same answer as the kinds below; pandas' kind
    # inference costs ~2 µs a call, one per column of a one-row predict)
    if len(values) > SMALL_SCALARS and pd.api.types.infer_dtype(values, skipna=True) in (
            "string", "integer", "floating", "boolean", "mixed-integer-float", "empty"):
        return None
    bad = np.fromiter((not (is_missing(v) or isinstance(v, _SCALARS)) for v in values), bool,
                      len(values))
    return _none_if_clean(bad)


def scalar_value(v: Any, what: str) -> Any:
    """``v`` itself when it is missing or a scalar (a category or text); ``BadValue`` otherwise."""
    if is_missing(v) or isinstance(v, _SCALARS):
        return v
    raise BadValue("wrong_type", f"{_short(v)} is not {what}")


def _one(v: Any) -> np.ndarray:
    """A one-element object array holding ``v`` as it is (a list stays one element)."""
    out = np.empty(1, dtype=object)
    out[0] = v
    return out


def _none_if_clean(bad: np.ndarray) -> np.ndarray | None:
    return bad if bad.any() else None


def bad_column(name: str, expected: str, values: np.ndarray, bad: np.ndarray) -> BadColumn:
    """The ``BadColumn`` of one column's unreadable mask (first ``SHOWN`` rows)."""
    where = np.flatnonzero(bad)
    first = where[:SHOWN]
    return BadColumn(name, expected, int(len(where)), tuple(int(i) for i in first),
                     tuple(values[i] for i in first))
