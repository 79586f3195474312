"""One real distributed.LocalCluster for every Dask test: 2 workers, 1 thread each, loopback,
no dashboard (started once per session: ~2 s)."""
import pytest


@pytest.fixture(scope="session")
def dask_executor():
    from distributed import Client, LocalCluster

    from mlexpert.distributed import DaskExecutor

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    executor = DaskExecutor(Client(cluster), cluster)
    yield executor
    executor.shutdown()
