"""The mutable state of one app: the current predictor (swapped whole on reload), the live drift
monitor, the observers every prediction is shown to, the metrics, and readiness."""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlexpert.errors import MlexpertError
from mlexpert.serve._live import LiveMonitor
from mlexpert.serve._metrics import ServiceMetrics
from mlexpert.serve._observe import ObservedBatch, Observer
from mlexpert.serve._predictor import Predictor, model_identity
from mlexpert.serve._settings import ServeSettings

log = logging.getLogger("mlexpert.serve")


def warm(p: Predictor) -> None:
    """Predict the example record once: the first call compiles the predictor's caches."""
    p.predict_rows(p.rows([p.one.validate_python(p.example)]))


class Service:
    """The mutable part of one app: the current predictor (swapped whole on reload)."""

    def __init__(self, predictor: Predictor, settings: ServeSettings,
                 loader: Callable[[], Any] | None, observers: Sequence[Observer]):
        self.predictor = predictor
        self.settings = settings
        self.loader = loader
        self.observers = list(observers)
        self.live: LiveMonitor | None = None
        self.live_note = ""
        self.start_live(predictor)
        self.metrics = ServiceMetrics()
        self.metrics.set_model(predictor.identity.name, predictor.identity.version)
        self.ready = False
        self.reload_lock = asyncio.Lock()

    def start_live(self, predictor: Predictor) -> None:
        """The live drift monitor for this predictor's model (off when the settings say so or
        the bundle keeps no training reference; ``live_note`` says why)."""
        s = self.settings
        if self.live is not None:  # a new list, never mutated: requests may be iterating it
            self.observers = [o for o in self.observers if o is not self.live]
            self.live = None
        if not s.monitor_window:
            self.live_note = "live monitoring is off (monitor_window=0; CLI: --monitor-window)."
            return
        try:
            self.live = LiveMonitor(predictor, window=s.monitor_window,
                                    min_rows=s.monitor_min_rows, interval=s.monitor_interval)
        except MlexpertError as exc:
            self.live_note = f"live monitoring is off for version {predictor.identity.version}: {exc}"
            return
        self.observers = [*self.observers, self.live]
        self.live_note = ""

    def build(self, model: Any) -> Predictor:
        """A warm predictor of ``model`` (a reload's), named after the current one's source."""
        source = self.predictor.identity.source
        p = Predictor(model, model_identity(model, source), strict=self.settings.strict)
        warm(p)
        return p

    def observe(self, route: str, request_id: str, p: Predictor, raw: np.ndarray, labels: list[Any],
                unseen: dict[str, int], features: Callable[[], Any],
                rows: list[list[Any]] | None = None) -> None:
        """Count one scored batch in the metrics and show it to every observer."""
        m = self.metrics
        m.rows.labels(route).inc(len(labels))
        for col, n in unseen.items():
            m.unseen.labels(col).inc(n)
        if p.task == "regression":
            for v in labels:
                if math.isfinite(v):
                    m.predicted_value.observe(v)
        else:
            counts = np.bincount(raw.argmax(axis=1), minlength=len(p.classes))
            for label, n in zip(p.classes, counts, strict=True):
                if n:
                    m.predicted_class.labels(str(label)).inc(int(n))
        if not self.observers:
            return
        batch = ObservedBatch(route=route, request_id=request_id, model_name=p.identity.name,
                              model_version=p.identity.version, task=p.task, classes=p.classes,
                              outputs=raw, labels=labels, unseen_categories=unseen,
                              _make_features=features, rows=rows)
        for obs in self.observers:
            try:
                obs.observe(batch)
            except Exception:  # noqa: BLE001 - an observer never fails a request
                m.observer_errors.inc()
                log.exception("observer %r failed (request %s)", obs, request_id)

    def close_observers(self) -> None:
        """Call each observer's ``close()``, if it has one (shutdown); a failure is logged."""
        for obs in self.observers:
            close = getattr(obs, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.exception("observer %r failed to close", obs)
