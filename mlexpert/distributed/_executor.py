"""A Dask client in the search's executor slot: fold fits (portfolio candidates and Optuna
trials alike) run as tasks on the cluster's workers.

The scheduler needs only ``submit`` (returning a future with ``result()``), ``workers`` and
``shutdown``. Large arrays are scattered to the cluster once and referenced by every later task
(the same fold matrices serve every candidate of a kind), so a trial ships its parameters, not
the data. A worker lost mid-task makes Dask retry the task elsewhere; if it keeps failing, that
fold's candidate fails and the search goes on. Deadlines travel as seconds left (see ``Deadline``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlexpert.errors import ConfigError

SCATTER_BYTES = 1 << 20  # arrays at least this large are sent to the cluster once, not per task
LOCAL = "local"


class DaskExecutor:
    """Runs tasks on a ``distributed.Client``; ``workers`` = the cluster's worker threads."""

    def __init__(self, client: Any, cluster: Any = None):
        self.client, self._cluster = client, cluster
        self._scattered: dict[int, tuple[Any, Any]] = {}  # id(array) -> (array, its future)

    @property
    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    threads_per_task = 1  # each task uses one of a worker's threads

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        args = tuple(self._remote(a) for a in args)
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def _remote(self, value: Any) -> Any:
        """A scattered future for a large array (cached by identity), else the value itself."""
        if getattr(value, "nbytes", 0) < SCATTER_BYTES and not _is_sparse_and_large(value):
            return value
        key = id(value)
        if key not in self._scattered:  # the value is kept, so its id cannot be reused
            self._scattered[key] = (value, self.client.scatter(value, broadcast=False, hash=False))
        return self._scattered[key][1]

    def scatter(self, value: Any) -> Any:
        """Send ``value`` (e.g. the model) to every worker once; tasks take the returned future."""
        return self.client.scatter(value, broadcast=True, hash=False)

    def shutdown(self) -> None:
        """Forget scattered data; close the client and the cluster if this executor started them."""
        if self._scattered:
            self.client.cancel([f for _, f in self._scattered.values()])
            self._scattered.clear()
        if self._cluster is not None:
            self.client.close()
            self._cluster.close()


def _is_sparse_and_large(value: Any) -> bool:
    data = getattr(value, "data", None)  # scipy.sparse matrices
    return hasattr(value, "tocsr") and getattr(data, "nbytes", 0) >= SCATTER_BYTES


def connect(address: str, workers: int | None = None) -> DaskExecutor:
    """``"local"``: start a LocalCluster on this machine (loopback only, one thread per worker,
    ``workers`` processes, default one per core); else the scheduler address of a running
    cluster, e.g. ``"tcp://10.0.0.5:8786"`` (optionally prefixed ``dask://``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of mlexpert
        raise ConfigError("Dask is not installed: pip install 'dask[distributed]'.") from exc

    address = address.removeprefix("dask://")
    if address == LOCAL:
        from mlexpert.search import cpu_count

        cluster = LocalCluster(n_workers=workers or cpu_count(), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None)
        return DaskExecutor(Client(cluster), cluster)
    if "://" not in address:
        raise ConfigError(f"Dask address {address!r} is not 'local' or a scheduler address like "
                          "'tcp://host:8786'.")
    _refused(address)
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}. Check that it "
                          "runs and that this machine can reach its port.") from exc
    return DaskExecutor(client)


def _refused(address: str) -> None:
    """A ConfigError at once when a tcp:// scheduler's port refuses connections (Dask's own
    connect retries for its whole timeout first); other failures are left to Dask."""
    import socket
    from urllib.parse import urlsplit

    if not address.startswith("tcp://"):
        return
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if host is None or port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=5):
            return
    except ConnectionRefusedError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}. Check that it "
                          "runs and that this machine can reach its port.") from None
    except OSError:  # a timeout or a name Dask may resolve otherwise: its own check decides
        return
