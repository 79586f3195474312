"""The Dask backend: search tasks on a cluster's workers, batch scoring over partitions.

Nothing here imports Dask until it is used: ``connect`` imports it inside.
"""
from mlexpert.distributed._executor import DaskExecutor, connect
from mlexpert.distributed._scoring import ScoredPart, partitions, score_files

__all__ = ["DaskExecutor", "ScoredPart", "connect", "partitions", "score_files"]
