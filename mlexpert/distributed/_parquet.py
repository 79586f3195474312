"""Partitioned Parquet as its footers describe it (``scan_parquet``: files, rows, columns,
types checked to agree, without reading a row), and the auto rule for whether a fit should train
on the cluster (``wants_cluster``: the data's size against this machine's and the workers'
memory)."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlexpert.data import read_table
from mlexpert.distributed._scoring import partitions
from mlexpert.errors import DataError, missing_column

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
FOOTER_THREADS = 16
MEMORY_SHARE = 0.25  # auto rule: data over this share of this machine's available memory...
WORKER_SHARE = 0.5  # ...or over this share of the smallest worker's memory limit


@dataclass(frozen=True)
class ParquetSource:
    """A partitioned Parquet dataset as its footers describe it (nothing read yet)."""

    pattern: str
    files: tuple[str, ...]
    rows: tuple[int, ...]  # per file
    nbytes: int  # uncompressed column data of every file: about its size in memory
    columns: tuple[str, ...]
    fingerprint: str = ""  # SHA-256 of the footers' facts (names, types, rows, sizes), not rows


def is_parquet_source(data: Any) -> bool:
    """Whether ``data`` is a path, folder or glob whose files are all Parquet."""
    if not isinstance(data, str | os.PathLike):
        return False
    try:
        files = partitions(str(data))
    except DataError:
        return False
    return all(f.lower().endswith(PARQUET_SUFFIXES) for f in files)


def parquet_file(path: str) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` of a local path or an fsspec URL."""
    import pyarrow.parquet as pq

    if "://" not in path:
        return pq.ParquetFile(path)
    import fsspec

    return pq.ParquetFile(fsspec.open(path, "rb").open())


def read_parquet_file(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    if "://" not in path and columns is None:
        return read_table(path)  # its errors name the file
    frame = parquet_file(path).read(columns=columns).to_pandas()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _compatible(a: Any, b: Any) -> bool:
    import pyarrow as pa

    def kind(t: Any) -> str:
        if pa.types.is_null(t):
            return "null"
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "number"
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) \
                or pa.types.is_dictionary(t):
            return "text"
        return str(t)

    ka, kb = kind(a), kind(b)
    return ka == kb or "null" in (ka, kb)


def _footer(path: str) -> Any:
    try:
        return parquet_file(path).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files
        return exc


def scan_parquet(pattern: str, target: str | None = None) -> ParquetSource:
    """Check every file's footer: Parquet, readable, the same columns with compatible types, the
    target present; DataError naming the file otherwise. Reads no rows."""
    pattern = str(pattern)
    files = partitions(pattern)
    other = [f for f in files if not f.lower().endswith(PARQUET_SUFFIXES)]
    if other:
        raise DataError(f"training on the cluster reads Parquet only, but {other[0]!r} is not a "
                        ".parquet file: convert it (pandas: read_csv(...).to_parquet(...)) or "
                        "pass data_on_cluster=False (CLI --data-local).")
    first: tuple[str, dict[str, Any]] | None = None
    rows, nbytes = [], 0
    with ThreadPoolExecutor(FOOTER_THREADS) as pool:  # footers on object storage: ~50 ms each
        footers = list(pool.map(_footer, files))
    for f, meta in zip(files, footers, strict=True):
        if isinstance(meta, Exception):
            line = (str(meta).strip().splitlines() or [type(meta).__name__])[0]
            raise DataError(f"file {f!r} is not a readable Parquet file ({line}). Check that it "
                            "was fully written, or export it again.")
        schema = meta.schema.to_arrow_schema()
        types = {n: schema.field(n).type for n in schema.names
                 if not n.startswith("__index_level_")}
        if target is not None and target not in types:
            raise DataError(f"partition {f!r}: {missing_column(target, 'target', list(types))}")
        if first is None:
            first = (f, types)
        else:
            f0, t0 = first
            missing, extra = [c for c in t0 if c not in types], [c for c in types if c not in t0]
            if missing or extra:
                raise DataError(f"partitions disagree on their columns: {f!r} "
                                + (f"lacks {', '.join(map(repr, missing[:5]))}" if missing else "")
                                + (" and " if missing and extra else "")
                                + (f"adds {', '.join(map(repr, extra[:5]))}" if extra else "")
                                + f" compared with {f0!r}. Write every partition with the same "
                                  "columns.")
            for c, t in types.items():
                if not _compatible(t0[c], t):
                    raise DataError(f"partitions disagree on column {c!r}: {f0!r} has {t0[c]}, "
                                    f"{f!r} has {t}. Write every partition with the same schema.")
        rows.append(meta.num_rows)
        nbytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if not sum(rows):
        raise DataError(f"the files {pattern!r} names have no rows.")
    assert first is not None
    facts = [(os.path.basename(f), n, str(m.num_row_groups), m.serialized_size)
             for f, n, m in zip(files, rows, footers, strict=True)]
    digest = hashlib.sha256(repr((sorted((c, str(t)) for c, t in first[1].items()),
                                  facts)).encode()).hexdigest()
    return ParquetSource(pattern, tuple(files), tuple(rows), nbytes, tuple(first[1]), digest)


# -- where the data should be trained ---------------------------------------------------------
def wants_cluster(data_bytes: int, available_bytes: int, worker_limits: Sequence[int]) -> bool:
    """The auto rule: train on the cluster when the data would take over ``MEMORY_SHARE`` of this
    machine's available memory or over ``WORKER_SHARE`` of the smallest worker's memory limit
    (a limit of 0 means none)."""
    limits = [x for x in worker_limits if x and x > 0]
    return data_bytes > MEMORY_SHARE * available_bytes or \
        bool(limits and data_bytes > WORKER_SHARE * min(limits))


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def worker_memory_limits(client: Any) -> list[int]:
    return [int(w.get("memory_limit") or 0) for w in client.scheduler_info()["workers"].values()]
