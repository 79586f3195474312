"""The mutable state of one app: the current predictor (swapped whole on reload), the challenger
and its rollout, the live drift monitors, the observers every prediction is shown to, the ledger
that feedback labels, the metrics, and readiness."""
from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlexpert.errors import MlexpertError
from mlexpert.serve._ledger import Ledger
from mlexpert.serve._live import LiveMonitor
from mlexpert.serve._metrics import ServiceMetrics
from mlexpert.serve._observe import ObservedBatch, Observer
from mlexpert.serve._predictor import Predictor, model_identity
from mlexpert.serve._rollout import CHALLENGER, CHAMPION, check_pair
from mlexpert.serve._settings import ServeSettings

log = logging.getLogger("mlexpert.serve")


def warm(p: Predictor) -> None:
    """Predict the example record once: the first call compiles the predictor's caches."""
    p.predict_rows(p.rows([p.one.validate_python(p.example)]))


class Service:
    """The mutable part of one app: the current predictor (swapped whole on reload) and, when
    given, the challenger that shares its traffic (``settings.mode``)."""

    def __init__(self, predictor: Predictor, settings: ServeSettings,
                 loader: Callable[[], Any] | None, observers: Sequence[Observer],
                 challenger: Predictor | None = None):
        if challenger is not None:
            check_pair(predictor, challenger)
            if challenger.model is predictor.model:  # one Model in two roles: one history
                challenger.history = predictor.history
        self.predictor = predictor
        self.challenger = challenger
        self.settings = settings
        self.loader = loader
        self.observers = list(observers)
        self.lives: dict[str, LiveMonitor] = {}
        self.live_notes: dict[str, str] = {}
        self.start_live(predictor)
        if challenger is not None:
            self.start_live(challenger, CHALLENGER)
        self.ledger = Ledger(settings.feedback_window) if settings.feedback_window else None
        self.metrics = ServiceMetrics()
        self.metrics.set_model(predictor.identity.name, predictor.identity.version)
        if challenger is not None:
            self.metrics.set_challenger(challenger.identity.name, challenger.identity.version,
                                        settings.mode)
        self.ready = False
        self.reload_lock = asyncio.Lock()

    @property
    def live(self) -> LiveMonitor | None:
        """The champion's live drift monitor (None: off, ``live_note`` says why)."""
        return self.lives.get(CHAMPION)

    @property
    def live_note(self) -> str:
        return self.live_notes.get(CHAMPION, "")

    def predictors(self) -> dict[str, Predictor]:
        """The models served, by role (one reference each: a reload swaps, never mixes)."""
        out = {CHAMPION: self.predictor}
        if self.challenger is not None:
            out[CHALLENGER] = self.challenger
        return out

    def start_live(self, predictor: Predictor, role: str = CHAMPION) -> None:
        """The live drift monitor for the model in ``role`` (off when the settings say so or
        the bundle keeps no training reference; ``live_notes[role]`` says why)."""
        s = self.settings
        old = self.lives.pop(role, None)
        if old is not None:  # a new list, never mutated: requests may be iterating it
            self.observers = [o for o in self.observers if o is not old]
        if not s.monitor_window:
            self.live_notes[role] = ("live monitoring is off (monitor_window=0; CLI: "
                                     "--monitor-window).")
            return
        try:
            live = LiveMonitor(predictor, window=s.monitor_window, min_rows=s.monitor_min_rows,
                               interval=s.monitor_interval, role=role)
        except MlexpertError as exc:
            self.live_notes[role] = (f"live monitoring is off for version "
                                     f"{predictor.identity.version}: {exc}")
            return
        self.lives[role] = live
        self.observers = [*self.observers, live]
        self.live_notes[role] = ""

    def build(self, model: Any) -> Predictor:
        """A warm predictor of ``model`` (a reload's), named after the current one's source."""
        source = self.predictor.identity.source
        p = Predictor(model, model_identity(model, source), strict=self.settings.strict)
        for q in self.predictors().values():
            if q.model is model:  # the loader gave the Model already served: one history
                p.history = q.history
        warm(p)
        return p

    def observe(self, route: str, request_id: str, p: Predictor, raw: np.ndarray, labels: list[Any],
                unseen: dict[str, int], features: Callable[[], Any],
                rows: list[list[Any]] | None = None, role: str = CHAMPION,
                answered: bool = True) -> None:
        """Count one scored batch in the metrics and show it to every observer. With a
        challenger, each model's batch comes here once, ``answered`` when its answers were
        returned (the route's counters count only those)."""
        m = self.metrics
        if answered:
            self.count_answers(route, p, labels, unseen)
        if self.challenger is not None:
            m.model_rows.labels(role).inc(len(labels))
            if p.task == "regression":
                for v in labels:
                    if math.isfinite(v):
                        m.model_value.labels(role).observe(v)
            else:
                for label, n in Counter(map(str, labels)).items():
                    m.model_class.labels(role, label).inc(n)
        if not self.observers:
            return
        batch = ObservedBatch(route=route, request_id=request_id, model_name=p.identity.name,
                              model_version=p.identity.version, task=p.task, classes=p.classes,
                              outputs=raw, labels=labels, unseen_categories=unseen,
                              _make_features=features, rows=rows, role=role)
        for obs in self.observers:
            try:
                obs.observe(batch)
            except Exception:  # noqa: BLE001 - an observer never fails a request
                m.observer_errors.inc()
                log.exception("observer %r failed (request %s)", obs, request_id)

    def count_answers(self, route: str, p: Predictor, labels: list[Any],
                      unseen: dict[str, int]) -> None:
        """Count the answers a client got: rows, unseen categories, labels or values."""
        m = self.metrics
        m.rows.labels(route).inc(len(labels))
        for col, n in unseen.items():
            m.unseen.labels(col).inc(n)
        if p.task == "regression":
            for v in labels:
                if math.isfinite(v):
                    m.predicted_value.observe(v)
        else:
            for label, n in Counter(map(str, labels)).items():
                m.predicted_class.labels(label).inc(n)

    def close_observers(self) -> None:
        """Call each observer's ``close()``, if it has one (shutdown); a failure is logged."""
        for obs in self.observers:
            close = getattr(obs, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.exception("observer %r failed to close", obs)
