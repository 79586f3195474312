"""Schema: the role of every input column, inferred once at fit and used to validate later input.

Roles: numeric, categorical (strings, bools, low-cardinality integers), datetime, text (free text),
id (unique per row: excluded), constant (one value or none: excluded). ``Schema.prepare`` is the one
validator every later input goes through (predict, evaluate, serve, drift).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.data._coerce import (
    FLOAT32_MAX,  # noqa: F401  (imported from here before the rule had its module)
    InvalidValues,
    check_invalid,
    dates,
    finite_float32_range,
    numbers,
    scalars_only,
)
from mlexpert.data._coerce import bad_column as _bad_column
from mlexpert.errors import missing_features
from mlexpert.findings import Finding

LOW_CARDINALITY_INT = 10  # integer columns with at most this many values are categorical
TEXT_MIN_TOKENS = 3.0  # mean words per value for a high-cardinality string column to be text
NUMERIC_STRING_SHARE = 0.95  # share of parseable values for a string column to be numeric
KNOWN_CATEGORIES_CAP = 1000  # categories kept in the schema (for validation and serving)
_ID_NAME = re.compile(r"(^|[_\W])id$|^id([_\W]|$)|uuid|guid", re.IGNORECASE)


class Role(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"
    CONSTANT = "constant"


FEATURE_ROLES = (Role.NUMERIC, Role.CATEGORICAL, Role.DATETIME, Role.TEXT)
_EXPECTED = {Role.NUMERIC: "a number", Role.CATEGORICAL: "a category",
             Role.DATETIME: "a date", Role.TEXT: "text"}


@dataclass
class ColumnInfo:
    """One input column: its role, why, and training statistics (JSON-able)."""

    name: str
    role: Role
    dtype: str
    reason: str = ""
    missing_rate: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    datetime_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["role"] = str(self.role)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnInfo:
        return cls(**{**d, "role": Role(d["role"])})


def _is_stringlike(s: pd.Series) -> bool:
    return (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)
            or isinstance(s.dtype, pd.CategoricalDtype))


def category_value(v: Any) -> Any:
    """Canonical string form of one categorical value (see ``category_text``); missing is NaN."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return np.nan
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    return str(v)


def category_text(values: pd.Series) -> pd.Series:
    """Canonical string form of categorical values: 1.0 and 1 both become '1'; missing stays NaN."""
    return pd.Series(category_array(values.to_numpy(dtype=object)), index=values.index,
                     name=values.name, dtype=object)


def category_array(values: np.ndarray) -> np.ndarray:
    """``category_value`` of every element of an object array, computed per distinct value (or
    not at all for strings) rather than per element (telco, 10,000 rows, 16 categorical
    columns: ``Schema.prepare`` 160 -> 33 ms); below 64 values one by one, as before."""
    out = np.empty(len(values), dtype=object)
    if len(values) == 1:  # a column of a one-row predict
        out[0] = category_value(values[0])
        return out
    kind = "short" if len(values) < 64 else pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):  # strings stay as they are; only missing-looking ones vary
        out[:] = values
        odd = pd.isna(values)
    elif kind in ("short", "boolean") or kind.startswith("mixed"):  # a few values, or True == 1
        out[:] = [category_value(v) for v in values]  # when hashed: one by one, no grouping
        return out
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = np.empty(len(uniques), dtype=object)
        texts[:] = [category_value(v) for v in np.asarray(uniques, dtype=object)]
        odd = codes < 0
        out[~odd] = texts[codes[~odd]]
    out[odd] = [category_value(v) for v in values[odd]]  # None, NaN, NA, NaT: as one by one
    return out


def _to_numeric(values: pd.Series) -> pd.Series:
    """Numbers as float64 by the coercion rule (``_coerce.numbers``), unreadable as missing."""
    out, _ = numbers(values.to_numpy())
    return pd.Series(out, index=values.index, name=values.name)


def _to_text(values: pd.Series) -> pd.Series:
    """Text as strings, missing as the empty string."""
    return values.astype(object).where(values.notna(), "").astype(str).astype(object)


def _to_datetime(values: pd.Series, fmt: str | None) -> pd.Series:
    """Dates as datetime64[ns] by the coercion rule (``_coerce.dates``), unreadable as missing."""
    out, _ = dates(values.to_numpy(), fmt)
    return pd.Series(out, index=values.index, name=values.name)


def _guess_datetime_format(nonnull: pd.Series) -> str | None:
    sample = nonnull.astype(str).head(500)
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:T ]").all():
        return None
    from pandas.tseries.api import guess_datetime_format

    fmt = guess_datetime_format(sample.iloc[0])
    if fmt is None:
        return None
    parsed = _to_datetime(sample, fmt)
    return fmt if parsed.notna().mean() >= 0.95 else None


KEY_COLLISIONS = 5.0  # repeats a measurement over the range would show; none seen: a key
KEY_UNIQUE = 0.99  # share of distinct values from which a column ordered like the rows is a key
KEY_LINEAR = 0.99  # R^2 of the values on the row position: nothing in them but the order
KEY_SPAN = 20  # ... spanning at most this many values per row (a 5 % sample of row numbers)


def _integer_key(name: str, nonnull: pd.Series, n_unique: int, n_rows: int) -> str | None:
    """Why an integer column is a row identifier, or None. Unique per row and named like a key,
    or unique where a measurement over that range would repeat (n^2 / 2 range >= 5 expected
    repeats: a row number after a random split); or near-unique and rising (or falling) with the
    row order, evenly and densely enough that it carries nothing beyond the order (``rownames``)."""
    n = len(nonnull)
    if n_rows < 10 or n < 0.95 * n_rows:
        return None
    values = nonnull.to_numpy(dtype=float)
    span = float(values.max() - values.min()) + 1
    if n_unique == n_rows and (_ID_NAME.search(name) or span <= 1.1 * n_rows
                               or n * n / (2 * span) >= KEY_COLLISIONS):
        return "integer, unique per row, like a row number or key"
    if n_unique < KEY_UNIQUE * n or span > KEY_SPAN * n:
        return None
    steps = np.diff(values)
    if not ((steps >= 0).all() or (steps <= 0).all()):
        return None
    r = np.corrcoef(np.arange(n), values)[0, 1]
    if not np.isfinite(r) or r * r < KEY_LINEAR:
        return None
    return "integer, near-unique and in row order, like a row number (nothing beyond the order)"


def _infer_column(name: str, s: pd.Series, n_rows: int) -> ColumnInfo:
    dtype = str(s.dtype)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        s = s.replace([np.inf, -np.inf], np.nan)
    nonnull = s.dropna()
    missing = float(1 - len(nonnull) / max(n_rows, 1))
    info = ColumnInfo(name=name, role=Role.NUMERIC, dtype=dtype, missing_rate=missing)
    n_unique = int(nonnull.astype(str).nunique()) if _is_stringlike(s) else int(nonnull.nunique())
    if n_unique <= 1:
        info.role = Role.CONSTANT
        info.reason = "all values missing" if n_unique == 0 else "a single value"
        return info
    if pd.api.types.is_bool_dtype(s.dtype):
        info.role = Role.CATEGORICAL
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        info.role = Role.DATETIME
    elif pd.api.types.is_numeric_dtype(s.dtype):
        integral = bool(np.all(np.mod(nonnull.to_numpy(dtype=float), 1) == 0))
        key = _integer_key(name, nonnull, n_unique, n_rows) if integral else None
        if key is not None:
            info.role, info.reason = Role.ID, key
        elif integral and n_unique <= LOW_CARDINALITY_INT:
            info.role, info.reason = Role.CATEGORICAL, f"integer with only {n_unique} values"
    else:
        strings = nonnull.astype(str)
        parsed = pd.to_numeric(strings, errors="coerce")
        numeric = parsed.notna().mean() >= NUMERIC_STRING_SHARE
        if numeric and strings.str.fullmatch(r"\d+").mean() >= NUMERIC_STRING_SHARE:
            # digit strings kept as text (pupil, school, zip codes): a level each, as AutoGluon
            # reads them; fit also gives trees the code's value, should its order carry signal
            if n_unique == n_rows and n_rows >= 10:
                info.role, info.reason = Role.ID, "integer codes as text, unique per row, like a key"
            else:
                info.role = Role.CATEGORICAL
                info.reason = f"integer codes stored as text ({n_unique} levels)"
        elif numeric and n_unique > LOW_CARDINALITY_INT:
            info.role, info.reason = Role.NUMERIC, "numbers stored as text"
        elif (fmt := _guess_datetime_format(strings)) is not None:
            info.role, info.datetime_format = Role.DATETIME, fmt
            info.reason = f"text parsed as dates ({fmt})"
        else:
            tokens = float(strings.head(2000).str.split().str.len().mean())
            if tokens >= TEXT_MIN_TOKENS and n_unique > 0.3 * len(nonnull) and n_unique > 20:
                info.role, info.reason = Role.TEXT, f"free text ({tokens:.1f} words per value)"
            elif n_unique == n_rows and n_rows >= 10:
                info.role, info.reason = Role.ID, "text, unique per row, like a key or name"
            else:
                info.role = Role.CATEGORICAL
    info.stats, info.categories = column_stats(info, s)
    return info


def column_stats(info: ColumnInfo, s: pd.Series) -> tuple[dict[str, Any], list[str]]:
    """The training statistics of one column in its role, and its categories (categorical)."""
    if info.role == Role.NUMERIC:
        v = _to_numeric(s).dropna()
        if v.empty:
            return {}, []
        with np.errstate(all="ignore"):
            q = v.quantile([0.01, 0.25, 0.5, 0.75, 0.99]).to_numpy()
            stats = {"mean": v.mean(), "std": v.std(ddof=0), "min": v.min(), "max": v.max(),
                     "q01": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q99": q[4]}
        # JSON has no inf/NaN: a statistic that overflows is recorded as unknown
        return {k: (float(x) if np.isfinite(x) else None) for k, x in stats.items()}, []
    if info.role == Role.CATEGORICAL:
        counts = category_text(s).value_counts()
        top = counts.head(20)
        stats = {"n_categories": int(len(counts)),
                 "top": {str(k): int(v) for k, v in top.items()}}
        return stats, [str(c) for c in counts.index[:KNOWN_CATEGORIES_CAP]]
    if info.role == Role.DATETIME:
        v = _to_datetime(s, info.datetime_format).dropna()
        return ({"min": str(v.min()), "max": str(v.max())} if not v.empty else {}), []
    if info.role == Role.TEXT:
        lengths = s.dropna().astype(str).str.len()
        return {"mean_length": float(lengths.mean()), "max_length": int(lengths.max())}, []
    return {}, []


@dataclass
class Schema:
    """The input columns in training order, each with its role and statistics."""

    columns: list[ColumnInfo]

    @property
    def features(self) -> list[ColumnInfo]:
        """Columns the model uses, in training order."""
        return [c for c in self.columns if c.role in FEATURE_ROLES]

    def names(self, *roles: Role) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        return cls([ColumnInfo.from_dict(c) for c in d["columns"]])

    def findings(self) -> list[Finding]:
        """What inference decided that a user should know (excluded columns, coercions)."""
        out = []
        for c in self.columns:
            if c.role in (Role.ID, Role.CONSTANT):
                out.append(Finding(
                    check=f"{c.role}_column", severity="info", columns=(c.name,),
                    message=f"column {c.name!r} is excluded: {c.reason}.",
                    evidence={"missing_rate": round(c.missing_rate, 4)},
                    suggestion="nothing to do if that is right; otherwise fix the column's values."))
            elif c.reason == "numbers stored as text":
                out.append(Finding(
                    check="numbers_as_text", severity="warning", columns=(c.name,),
                    message=f"column {c.name!r} holds numbers stored as text; values that are not "
                            "numbers are treated as missing.",
                    suggestion="clean the column at the source so every value is a number."))
        return out

    def prepare(self, frame: pd.DataFrame, source: str = "the data", *,
                invalid: str = "missing") -> pd.DataFrame:
        """Validate ``frame`` against the schema and return the feature columns, coerced to canon.

        Missing feature columns raise SchemaError naming them; extra columns are dropped; values
        are coerced per role by the one rule of ``_coerce`` (numbers as float64 with inf as
        missing, categories as strings, dates as datetime64, text as strings); unseen categories
        pass through. Unreadable values ('abc' or true for a number, a date in year 3000) raise
        ``InvalidValues`` naming columns and rows with ``invalid="raise"`` (what predict does),
        and are missing with ``invalid="missing"`` (the default here: fit reads its training
        data so, where a finding reports numbers stored as text).
        """
        return pd.DataFrame(self.prepare_columns(frame, source, invalid=invalid), index=frame.index)

    def prepare_columns(self, frame: pd.DataFrame, source: str = "the data", *,
                        invalid: str = "missing") -> dict[str, pd.Series]:
        """``prepare`` as one Series per feature column, without building a DataFrame (what a
        caller converting the columns to arrays needs, e.g. ``export.onnx_inputs``)."""
        arrays = self._arrays(frame, source, invalid)
        return {c.name: pd.Series(a, index=frame.index, name=c.name)
                for c, a in zip(self.features, arrays, strict=True)}

    def prepare_arrays(self, frame: pd.DataFrame, source: str = "the data", *,
                       invalid: str = "missing") -> list[np.ndarray]:
        """``prepare`` as one numpy array per feature, in schema order, read from one object
        matrix of the frame rather than a Series per column (~15 µs each), for the compiled
        small-batch path of ``Model``."""
        return self._arrays(frame, source, invalid)

    def _arrays(self, frame: pd.DataFrame, source: str, invalid: str) -> list[np.ndarray]:
        """The feature columns coerced by the rule, in schema order (``prepare_arrays``)."""
        check_invalid(invalid)
        feats = self.features
        missing = [c.name for c in feats if c.name not in frame.columns]
        if missing:
            raise missing_features(missing, source)
        position = {name: j for j, name in enumerate(frame.columns)}
        dtypes = list(frame.dtypes)
        # a few rows: one object matrix (a pandas access per column cost more than boxing a
        # few values: one row of saratoga_price's 15 columns 392 -> 219 µs); more: column by
        # column (no boxing)
        matrix = object_rows(frame, dtypes) if len(frame) <= 64 else None
        out, bad_columns = [], []
        for c in feats:
            j = position[c.name]
            dtype = dtypes[j]
            column = frame.iloc[:, j].to_numpy() if matrix is None else matrix[:, j]
            bad = None
            if c.role == Role.NUMERIC:
                if isinstance(dtype, np.dtype) and dtype.kind in "fiu":  # plain numpy numbers
                    values = finite_float32_range(np.asarray(column, dtype="float64"))
                else:
                    values, bad = numbers(column)
            elif c.role == Role.CATEGORICAL:
                bad = scalars_only(column)
                values = category_array(np.asarray(column, dtype=object))
            elif c.role == Role.DATETIME:
                values, bad = dates(column, c.datetime_format)
            else:
                bad = scalars_only(column)
                values = _to_text(pd.Series(column)).to_numpy()
            if bad is not None:
                bad_columns.append(_bad_column(c.name, _EXPECTED[c.role], column, bad))
                if c.role in (Role.CATEGORICAL, Role.TEXT):
                    values = values.copy()
                    values[bad] = np.nan if c.role == Role.CATEGORICAL else ""
            out.append(values)
        if bad_columns and invalid == "raise":
            raise InvalidValues(bad_columns, source, lambda i: frame.index[i])
        return out

    def narrowed(self, features: list[str]) -> Schema:
        """This schema with only ``features`` among its feature columns (the others it
        describes, identifiers and constants, kept as they are)."""
        keep = set(features)
        return Schema([c for c in self.columns if c.role not in FEATURE_ROLES or c.name in keep])

    def extra_columns(self, frame: pd.DataFrame) -> list[str]:
        """Columns of ``frame`` that the model does not use (ignored at predict time)."""
        known = {c.name for c in self.columns}
        return [c for c in frame.columns if c not in known]


def object_rows(frame: pd.DataFrame, dtypes: list[Any] | None = None) -> np.ndarray:
    """``frame.to_numpy(dtype=object)``, the same values of the same types; one row with string
    columns (and numpy ones) is read through ``iloc`` (a third of the cost on Arrow strings,
    which ``to_numpy`` converts one by one: delivery_time's 28, 337 -> 118 µs), its numpy
    scalars as the Python values ``to_numpy`` gives (other extension dtypes, or numbers only:
    ``iloc`` gives the row their common type, a category's NaN becoming NA beside a nullable
    integer, an integer a float beside a float)."""
    dtypes = list(frame.dtypes) if dtypes is None else dtypes
    strings = [isinstance(d, pd.StringDtype) and d.na_value is np.nan for d in dtypes]
    if len(frame) != 1 or not any(strings) or not all(
            s or isinstance(d, np.dtype) for s, d in zip(strings, dtypes, strict=True)):
        return frame.to_numpy(dtype=object)
    row = frame.iloc[0]
    if row.dtype != object:  # numbers only: the row was given their common type
        return frame.to_numpy(dtype=object)
    out = np.empty((1, frame.shape[1]), dtype=object)
    for j, v in enumerate(row.to_numpy(dtype=object)):
        out[0, j] = v.item() if isinstance(v, np.generic) else v
    return out


def infer_schema(frame: pd.DataFrame) -> Schema:
    """Infer the role and training statistics of every column of ``frame`` (target excluded)."""
    n = len(frame)
    return Schema([_infer_column(str(name), frame[name], n) for name in frame.columns])
