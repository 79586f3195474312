"""The service's live drift monitor: an Observer holding the last rows it scored, checked against
the bundle's training reference (``mlexpert.monitor.OnlineMonitor``) for ``GET /monitor`` and the
drift gauges of ``/metrics``.

``observe`` runs on every prediction, so it only appends the canonical rows and outputs to a
buffer trimmed to the window (microseconds, no pandas); the table is built and checked when
asked, in a worker thread, and ``/metrics`` asks at most once per ``interval`` seconds.
"""
from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from typing import Any

import numpy as np

from mlexpert.serve._observe import ObservedBatch


class LiveMonitor:
    """The last ``window`` rows one model version scored (per worker process)."""

    def __init__(self, predictor: Any, *, window: int, min_rows: int, interval: float,
                 domain_classifier: bool = True, role: str = "champion"):
        self.window, self.min_rows, self.interval = window, min_rows, interval
        self.role = role
        self.domain_classifier = domain_classifier
        self._lock = threading.Lock()       # the buffer
        self._compute = threading.Lock()    # one check at a time
        self.reset(predictor)

    def reset(self, predictor: Any) -> None:
        """Start over for a new model version (after a reload): its own reference, empty window."""
        from mlexpert.monitor import OnlineMonitor

        online = OnlineMonitor(predictor.model, window=self.window, min_rows=self.min_rows,
                               domain_classifier=self.domain_classifier)
        with self._lock:
            self.version = predictor.identity.version
            self._frame_of = predictor.frame
            self._online = online
            self._pending: deque[tuple[Any, np.ndarray]] = deque()
            self._pending_rows = 0
            self._seen = 0
            self._checked_at = 0.0

    # -- the Observer hook: cheap ---------------------------------------------------------------
    def observe(self, batch: ObservedBatch) -> None:
        if batch.model_version != self.version or batch.role != self.role:
            return  # the other model's batch, or one that started before a reload
        outputs = batch.outputs[-self.window:]
        n = len(outputs)
        # rows of /predict as they are; an upload's table is built (prepared) only when checked
        piece: Any = batch.rows[-n:] if batch.rows is not None else (batch._make_features, n)
        with self._lock:
            self._pending.append((piece, outputs))
            self._pending_rows += n
            self._seen += len(batch.outputs)
            while self._pending_rows - len(self._pending[0][1]) >= self.window:
                self._pending_rows -= len(self._pending.popleft()[1])
            extra = self._pending_rows - self.window
            if extra > 0:  # drop the oldest rows of the oldest piece
                old, old_out = self._pending[0]
                old = old[extra:] if isinstance(old, list) else (old[0], old[1] - extra)
                self._pending[0] = (old, old_out[extra:])
                self._pending_rows = self.window

    # -- checks: in a worker thread ------------------------------------------------------------------
    def _drain(self) -> None:
        """Move the buffer into the OnlineMonitor: consecutive row lists become one table."""
        with self._lock:
            pending, self._pending, self._pending_rows = self._pending, deque(), 0
            online = self._online
        rows: list[Any] = []
        outs: list[np.ndarray] = []

        def flush_rows() -> None:
            if rows:
                online.update(self._frame_of(rows), np.concatenate(outs), prepared=True)
                rows.clear()
                outs.clear()

        for piece, outputs in pending:
            if isinstance(piece, list):
                rows.extend(piece)
                outs.append(outputs)
            else:
                flush_rows()
                make, keep = piece
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an upload's extra columns, as in predict
                    X = make().iloc[-keep:].reset_index(drop=True)
                online.update(X, outputs, prepared=True)
        flush_rows()

    def result(self, max_age: float = 0.0) -> Any:
        """The window's DriftResult (None below ``min_rows``), checked again only when rows came
        in and the last check is older than ``max_age`` seconds."""
        with self._compute:
            if self._pending and time.monotonic() - self._checked_at >= max_age:
                self._drain()
                self._checked_at = time.monotonic()
            return self._online.result()

    def report(self) -> dict[str, Any]:
        """``GET /monitor``: the drift result of the window (fresh), and the window's state."""
        result = self.result()
        body: dict[str, Any] = {
            "model_version": self.version, "role": self.role,
            "window": {"rows": self._online.rows, "capacity": self.window,
                       "min_rows": self.min_rows, "seen": self._seen},
            "result": None if result is None else result.to_dict()}
        if result is None:
            body["message"] = (f"collecting: {self._online.rows} of the {self.min_rows} rows a "
                               "check needs")
        return body

    def gauges(self) -> dict[str, float]:
        """For ``/metrics``: ``OnlineMonitor.gauges`` of a check at most ``interval`` s old."""
        self.result(self.interval)
        return self._online.gauges()
