"""The Dask backend: search tasks on a cluster's workers, batch scoring over partitions, and
training on partitioned Parquet bigger than one worker's memory.

Nothing here imports Dask until it is used: ``connect`` and ``train_on_cluster`` import it inside.
"""
from mlexpert.distributed._executor import DaskExecutor, connect
from mlexpert.distributed._parquet import (
    ParquetSource,
    available_memory,
    is_parquet_source,
    scan_parquet,
    wants_cluster,
    worker_memory_limits,
)
from mlexpert.distributed._scoring import ScoredPart, check_output, partitions, score_files
from mlexpert.distributed._train import ClusterFit, train_on_cluster

__all__ = ["ClusterFit", "DaskExecutor", "ParquetSource", "ScoredPart", "available_memory", "check_output",
           "connect", "is_parquet_source", "partitions", "scan_parquet", "score_files",
           "train_on_cluster", "wants_cluster", "worker_memory_limits"]
