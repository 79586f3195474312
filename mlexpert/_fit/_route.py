"""``fit``'s route: in this process (``fit_local``) or on a Dask cluster's workers, where the
data stays in partitioned Parquet (``distributed.train_on_cluster``)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from mlexpert._clock import Deadline
from mlexpert._fit._compile import compile_within
from mlexpert._fit._inputs import read_glob
from mlexpert._fit._local import fit_local
from mlexpert._fit._options import FitOptions
from mlexpert._fit._record import measure_latency
from mlexpert._manifest import Manifest
from mlexpert.bundle import Model
from mlexpert.ensemble import with_shipped_predictions
from mlexpert.errors import ConfigError
from mlexpert.monitor import build_reference, prediction_values


def fit(data: Any, target: str, started: float | None = None, **options: Any) -> Model:
    """``fit_local`` in this process, or on the Dask cluster's workers (``_cluster_route``)
    when the data should stay there: ``data_on_cluster=True``, or None with Parquet input, a
    Dask executor, no local-only option and data too big for this machine or one worker.
    Every option is checked first (``FitOptions``), whichever route runs. ``started``: the
    monotonic time the time limit counts from (the caller's first line: importing this
    package takes ~1.6 s of it), now when None."""
    started = time.monotonic() if started is None else started
    opts = FitOptions.of(options)
    return compile_within(_fitted(data, target, started, opts), started + float(opts.time_limit))


def _fitted(data: Any, target: str, started: float, opts: FitOptions) -> Model:
    """The fitted Model of ``fit``'s chosen route, its compiled path not built yet."""
    from mlexpert.distributed import is_parquet_source

    data_on_cluster, executor, dask = opts.data_on_cluster, opts.executor, opts.dask
    if data_on_cluster is False or (data_on_cluster is None and not (
            dask and is_parquet_source(data) and not opts.local_only())):
        return fit_local(read_glob(data), target, opts, started)
    if not isinstance(data, str | os.PathLike):
        raise ConfigError("data_on_cluster=True needs Parquet files on storage the workers "
                          f"reach (a path, folder or glob), but got a {type(data).__name__}.")
    if not dask:
        raise ConfigError("data_on_cluster=True needs a Dask executor: pass executor="
                          "'dask://local' or 'dask://tcp://host:8786' (CLI: --dask).")
    local_only = opts.local_only()
    if local_only:
        raise ConfigError(f"data_on_cluster=True does not support {', '.join(local_only)}: "
                          "drop it, or pass data_on_cluster=False (CLI --data-local) to fit in "
                          "one process.")
    from mlexpert.distributed import (
        available_memory,
        connect,
        scan_parquet,
        wants_cluster,
        worker_memory_limits,
    )

    source = scan_parquet(str(data), target)  # bad files: an error before a cluster starts
    owned = connect(executor) if isinstance(executor, str) else None
    try:
        runner = owned or executor
        if data_on_cluster is None and not wants_cluster(
                source.nbytes, available_memory(), worker_memory_limits(runner.client)):
            return fit_local(read_glob(data), target, replace(opts, executor=runner), started)
        return _cluster_route(source, target, runner, started, opts)
    finally:
        if owned is not None:
            owned.shutdown()


def _cluster_route(source: Any, target: str, executor: Any, started: float,
                   opts: FitOptions) -> Model:
    """Train on the cluster (``distributed.train_on_cluster``) and assemble the bundle's model."""
    from mlexpert.distributed import train_on_cluster

    time_limit, seed = opts.time_limit, opts.seed
    out = train_on_cluster(source, target, executor,
                           deadline=Deadline(started + float(time_limit)), time_limit=time_limit,
                           seed=seed, task=opts.task, metric=opts.metric,
                           ignore_columns=opts.ignore_columns, keep_columns=opts.keep_columns,
                           progress=opts.progress)
    reference = build_reference(out.schema, out.sample, seed=seed, predictions=prediction_values(
        out.sample_raw, out.task, out.classes))
    manifest = Manifest.from_dict({
        **out.manifest,
        "findings": [f.to_dict() for f in out.findings],
        "provenance": {"data_fingerprint": source.fingerprint,
                       "data_fingerprint_of": "the Parquet footers (names, types, rows, sizes)",
                       "rows": out.manifest["cluster"]["rows"],
                       "columns": len(source.columns) - 1 - len(set(opts.ignore_columns)),
                       "seed": seed,
                       "time_limit": float(time_limit),
                       "fit_seconds": round(time.monotonic() - started, 3),
                       "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "source": source.pattern, "command": " ".join(sys.argv),
                       "call": {"target": target, **opts.record()}},
        "reference": reference.to_manifest(),
    })
    latency = measure_latency(manifest, out.members, reference, out.sample.iloc[:1],
                       Deadline(started + float(time_limit)))
    return with_shipped_predictions(Model(manifest.with_sections(inference={
        "latency_ms_per_row": latency, "estimated_ms_per_row": None, "infer_limit_seconds": None,
        "note": "median of single-row predict calls at the end of fit (batch size 1)"}),
        out.members, reference.sample))
