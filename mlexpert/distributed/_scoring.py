"""Batch scoring at scale: the bundle mapped over the partitions (files) of a dataset.

Each input file is one task on the cluster: read it, predict, write one output Parquet part.
The model is sent to the cluster once. Parts are written into a temporary sibling folder that
is renamed into place only when every part succeeded, so a failed run leaves no partial output.
"""
from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlexpert._io import atomic_dir
from mlexpert.bundle import Model
from mlexpert.errors import DataError, MlexpertError, missing_column

PARTITION_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


@dataclass(frozen=True)
class ScoredPart:
    """One input partition and the output part written for it."""

    source: str
    output: str
    rows: int


def partitions(pattern: str) -> list[str]:
    """The files ``pattern`` names, sorted: a glob, a folder of Parquet/CSV files, or one file;
    local, or a URL fsspec reads (``s3://bucket/table/*.parquet`` with s3fs installed)."""
    if "://" in pattern:
        files = _remote_partitions(pattern)
    elif os.path.isdir(pattern):
        files = [str(p) for p in sorted(Path(pattern).iterdir())
                 if p.is_file() and p.suffix.lower() in PARTITION_SUFFIXES]
    else:
        files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else \
            ([pattern] if os.path.isfile(pattern) else [])
    if not files:
        raise DataError(f"no data files match {pattern!r}: give a file, a folder of Parquet/CSV "
                        "files or a glob such as 'data/*.parquet'.")
    return files


def _remote_partitions(pattern: str) -> list[str]:
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(pattern)
        if glob.has_magic(path):
            found = fs.glob(path)
        elif fs.isdir(path):
            found = [p for p in fs.ls(path, detail=False)
                     if Path(p).suffix.lower() in PARTITION_SUFFIXES]
        else:
            found = [path] if fs.exists(path) else []
    except ImportError as exc:  # e.g. s3:// without s3fs
        raise DataError(f"cannot read {pattern!r}: {exc}. Install the fsspec filesystem for "
                        "that scheme (s3fs for s3://, gcsfs for gs://).") from None
    return [fs.unstrip_protocol(p) for p in sorted(found)]


def _score_part(model: Model, source: str, output: str, id_column: str | None,
                invalid: str = "raise") -> int:
    """Runs on a worker: predict every row of ``source`` and write ``output`` (Parquet).
    Unreadable values refuse the part (a plain DataError: it crosses the process boundary)."""
    from mlexpert.data import InvalidValues, describe_source, read_table

    if "://" in source:  # an fsspec URL: pandas reads it through fsspec
        import pandas as pd

        reader = pd.read_csv if source.lower().endswith((".csv", ".tsv")) else pd.read_parquet
        frame = read_table(reader(source, **({"sep": "\t"} if source.lower().endswith(".tsv")
                                             else {})))
    else:
        frame = read_table(source)
    if id_column is not None and id_column not in frame.columns:
        raise missing_column(id_column, "id", frame.columns)
    model.ensemble.threads = 1  # the executor scores partitions side by side: one thread each
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # extra columns: reported once by the caller
        try:
            table = model.predict_table(frame, source=describe_source(source), invalid=invalid)
        except InvalidValues as exc:
            raise DataError(str(exc.in_file(source, "pass --invalid missing"))) from None
    if id_column is not None:
        table.insert(0, id_column, frame[id_column].to_numpy())
    table.to_parquet(output, index=False)
    return len(table)


def check_output(out_dir: str | Path, overwrite: bool) -> Path:
    """The output folder, refused when it exists and ``overwrite`` is off (checked before a
    cluster starts, and again when writing)."""
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise DataError(f"output folder {str(out)!r} already exists: choose another --out or "
                        "pass --force to replace it.")
    return out


def score_files(model: Model, pattern: str, out_dir: str | Path, executor: Any,
                id_column: str | None = None, overwrite: bool = False,
                invalid: str = "raise") -> list[ScoredPart]:
    """Score every partition ``pattern`` names on ``executor`` (a DaskExecutor, a process
    pool...) and write ``out_dir/part-00000.parquet``..., one part per input file, in order.
    ``invalid``: unreadable values refuse the run ('raise', nothing is written) or are
    predicted as missing ('missing'), as in ``Model.predict``."""
    from mlexpert.data import check_invalid

    check_invalid(invalid)
    files = partitions(pattern)
    out = check_output(out_dir, overwrite)
    with atomic_dir(out, fsync=False) as tmp:  # replaced only when every part succeeded
        remote_model = executor.scatter(model) if hasattr(executor, "scatter") else model
        futures = [executor.submit(_score_part, remote_model, src, str(tmp / f"part-{i:05d}.parquet"),
                                   id_column, invalid) for i, src in enumerate(files)]
        parts = []
        for i, (src, future) in enumerate(zip(files, futures, strict=True)):
            try:
                rows = future.result()
            except MlexpertError:
                raise
            except Exception as exc:
                raise DataError(f"scoring {src} failed: {type(exc).__name__}: "
                                f"{(str(exc).splitlines() or [''])[0][:200]}") from exc
            parts.append(ScoredPart(src, str(out / f"part-{i:05d}.parquet"), rows))
    return parts
