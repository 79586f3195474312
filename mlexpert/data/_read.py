"""Turn what a user hands us (pandas, polars, pyarrow, CSV or Parquet path) into a pandas DataFrame.

Every failure is a :class:`~mlexpert.errors.DataError` naming the file and what to do.
"""
from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import DataError

_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
# the first bytes of common non-text files someone may name .csv by mistake
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
               (b"GIF8", "a GIF image"), (b"%PDF", "a PDF document"),
               (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
               (b"\xd0\xcf\x11\xe0", "an old Office document (e.g. an Excel .xls workbook)"),
               (b"PAR1", "a Parquet file"), (b"\x1f\x8b", "a gzip archive"),
               (b"SQLite format 3\x00", "an SQLite database"))


def _check_unique_names(names: list[object], source: str) -> None:
    dupes = [n for n, k in Counter(str(n) for n in names).items() if k > 1]
    if dupes:
        raise DataError(
            f"{source} has duplicate column names: {', '.join(map(repr, dupes))}. "
            "Rename them so that every column name is unique."
        )


def describe_source(data: Any) -> str:
    """How error messages name ``data``: the file for a path, else "the data"."""
    return f"file {str(data)!r}" if isinstance(data, str | os.PathLike) else "the data"


def _check_text(path: Path) -> None:
    """A DataError saying the file is not a CSV when its first bytes are those of a known binary
    format or hold NUL bytes (an encoding hint would mislead there); UTF-16 is named as such."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"file {str(path)!r} is UTF-16 text; re-save it as UTF-8 "
                        "(e.g. `iconv -f utf-16 -t utf-8`).")
    kind = next((what for magic, what in _SIGNATURES if head.startswith(magic)), None)
    if kind is None and b"\x00" in head:
        kind = "binary data (it holds NUL bytes), not text"
    if kind is not None:
        raise DataError(f"file {str(path)!r} is not a CSV: its content is {kind}. Pass a CSV, "
                        "TSV or Parquet file (export the data as CSV first).")


def _read_csv(path: Path) -> pd.DataFrame:
    name = str(path)
    sep = "\t" if ".tsv" in path.name.lower() else ","
    if path.stat().st_size == 0:
        raise DataError(f"file {name!r} is empty: it needs a header row and at least one data row.")
    compression = "gzip" if path.name.lower().endswith(".gz") else None
    if compression is None:
        _check_text(path)
    try:
        if compression is None:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh, delimiter=sep), [])
            _check_unique_names(header, f"file {name!r}")
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", low_memory=False,
                            compression=compression)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"file {name!r} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}). Re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"file {name!r} is empty: it needs a header row and at least one data row.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"file {name!r} is not a well-formed CSV: {str(exc).strip()}") from None
    _check_unique_names(list(frame.columns), f"file {name!r}")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"file {str(path)!r} is not a readable Parquet file ({first}). "
            "Check that it was fully written, or export it again."
        ) from None
    return _from_arrow(table, f"file {str(path)!r}")


def _from_arrow(table: Any, source: str) -> pd.DataFrame:
    _check_unique_names(list(table.column_names), source)
    return table.to_pandas()


def read_table(data: Any, *, copy: bool = True) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame with string column names; never modifies the input.

    Accepts a pandas/polars DataFrame, a pyarrow Table, or a path to a CSV/TSV/Parquet file.
    ``copy=False``: a DataFrame whose names are already unique strings is returned itself, for
    a caller that only reads it (one-row predict: ~50 µs).
    """
    if isinstance(data, pd.DataFrame):
        columns = data.columns
        if not columns.is_unique:  # cached by pandas: no pass over the names per call
            _check_unique_names(list(columns), "the DataFrame")
        # a str Index holds strings only (iterating an Arrow-backed one: 17 µs for 28 names)
        if isinstance(columns.dtype, pd.StringDtype) or all(type(c) is str for c in columns):
            return data.copy(deep=False) if copy else data  # nothing to rename
        frame = data.copy(deep=False)
    elif isinstance(data, str | os.PathLike):
        path = Path(data)
        lower = path.name.lower()
        if not path.exists():
            raise DataError(f"file {str(path)!r} does not exist. Check the path.")
        if path.is_dir() or lower.endswith(_PARQUET_SUFFIXES):
            frame = _read_parquet(path)
        elif lower.endswith(_CSV_SUFFIXES):
            frame = _read_csv(path)
        else:
            raise DataError(
                f"file {str(path)!r} has an unknown extension; use .csv, .tsv or .parquet."
            )
    elif type(data).__module__.split(".")[0] == "polars":
        if not hasattr(data, "to_pandas"):
            raise DataError("a polars LazyFrame must be collected first: pass `lazy.collect()`.")
        frame = data.to_pandas()
    elif type(data).__module__.split(".")[0] == "pyarrow" and hasattr(data, "column_names"):
        frame = _from_arrow(data, "the Arrow table")
    else:
        raise DataError(
            f"cannot read data of type {type(data).__name__}: pass a pandas or polars DataFrame, "
            "a pyarrow Table, or a path to a CSV or Parquet file."
        )
    frame.columns = [str(c) for c in frame.columns]
    _check_unique_names(list(frame.columns), describe_source(data))
    return frame


def read_rows(data: Any) -> pd.DataFrame:
    """``read_table`` that also refuses a table without columns or without rows, naming it."""
    frame = read_table(data)
    source = describe_source(data)
    if frame.shape[1] == 0:
        raise DataError(f"{source} has no columns.")
    if len(frame) == 0:
        raise DataError(f"{source} has a header but no rows; add data rows.")
    return frame


def epoch_ns(values: pd.Series, fmt: str | None = "mixed") -> np.ndarray:
    """Dates as float nanoseconds since 1970-01-01, parsed with ``fmt`` (missing or unreadable
    values: NaN): the one way a date becomes a number outside the fitted transformers."""
    parsed = pd.to_datetime(values, errors="coerce", format=fmt)
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    out[parsed.isna().to_numpy()] = np.nan
    return out


def time_values(values: pd.Series, name: str) -> np.ndarray:
    """A time column as floats (numbers as is, dates as ns); DataError naming the first bad row."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        order = values.astype(float).to_numpy()
    else:
        order = epoch_ns(values)
    bad = np.isnan(order) | values.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"time column {name!r} has a missing or unreadable value at row {row} "
                        f"({values.iloc[row]!r}); every row needs a date or a number there.")
    return order


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and row hashes: same table, same fingerprint."""
    h = hashlib.sha256()
    h.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    try:
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()
