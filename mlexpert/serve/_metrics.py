"""Prometheus metrics of one service, in its own registry (no process-global state).

With several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``run``) makes every worker
write its values to shared files and ``/metrics`` adds them up across workers.
"""
from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)  # seconds


class ServiceMetrics:
    """Requests by route and status, latency, rows, validation failures, unseen categories and
    the distribution of predictions."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mlexpert_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("mlexpert_request_duration_seconds",
                                 "Time from request to last response byte, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter("mlexpert_rows_predicted", "Rows predicted, by route", ["route"],
                            registry=r)
        self.validation_failures = Counter(
            "mlexpert_validation_failures", "Requests refused for their input, by route and reason",
            ["route", "reason"], registry=r)
        self.unseen = Counter("mlexpert_unseen_categories",
                              "Category values not seen in training (accepted), by column",
                              ["column"], registry=r)
        self.predicted_class = Counter("mlexpert_predicted_class",
                                       "Predicted labels (classification), by class", ["label"],
                                       registry=r)
        self.predicted_value = Histogram(
            "mlexpert_predicted_value", "Predicted values (regression)",
            buckets=(-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e6), registry=r)
        self.model_info = Gauge("mlexpert_model_info", "The model served (value 1)",
                                ["name", "version"], registry=r, multiprocess_mode="liveall")
        self.reloads = Counter("mlexpert_reloads", "Model reloads by result", ["result"],
                               registry=r)
        self.observer_errors = Counter("mlexpert_observer_errors",
                                       "Exceptions raised by prediction observers (ignored)",
                                       registry=r)

        # champion and challenger (created always, filled only when a challenger is served)
        self.model_rows = Counter("mlexpert_model_rows", "Rows each model scored, whether its "
                                  "answer was returned or not, by role", ["role"], registry=r)
        self.model_answered = Counter("mlexpert_model_answered_rows", "Rows whose returned "
                                      "answer came from each model, by role", ["role"],
                                      registry=r)
        self.model_latency = Histogram("mlexpert_model_predict_seconds", "Time one model took "
                                       "to score a request's records, by role", ["role"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.model_errors = Counter("mlexpert_model_errors", "Requests a model could not score "
                                    "(its input check refused them or it failed), by role",
                                    ["role"], registry=r)
        self.model_class = Counter("mlexpert_model_predicted_class", "Predicted labels of each "
                                   "model, by role and class", ["role", "label"], registry=r)
        self.model_value = Histogram("mlexpert_model_predicted_value", "Predicted values of "
                                     "each model (regression), by role", ["role"],
                                     buckets=(-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e6),
                                     registry=r)
        self.challenger_info = Gauge("mlexpert_challenger_info", "The challenger served beside "
                                     "the model (value 1)", ["name", "version", "mode"],
                                     registry=r, multiprocess_mode="liveall")
        self.feedback = Counter("mlexpert_feedback_labels", "Labels sent to POST /feedback, by "
                                "result (matched: joined to a scored record; unknown: no such "
                                "record in the ledger)", ["result"], registry=r)

        self.drift = {
            "window_rows": Gauge("mlexpert_drift_window_rows", "Rows in the live drift window",
                                 registry=r, multiprocess_mode="liveall"),
            "drift_detected": Gauge("mlexpert_drift_detected", "1 when the live window drifted "
                                    "from the training reference", registry=r,
                                    multiprocess_mode="liveall"),
            "drift_share": Gauge("mlexpert_drift_share", "Share of columns drifted in the live "
                                 "window", registry=r, multiprocess_mode="liveall"),
            "prediction_drift": Gauge("mlexpert_prediction_drift", "1 when the predictions of "
                                      "the live window drifted", registry=r,
                                      multiprocess_mode="liveall")}
        self.feature_score = Gauge("mlexpert_feature_drift_score", "Per feature: largest effect "
                                   "size over its threshold (>= 1 and significant: drift)",
                                   ["feature"], registry=r, multiprocess_mode="liveall")
        self.estimated = Gauge("mlexpert_estimated_performance", "The live window's metric "
                               "estimated without labels from the model's probabilities (CBPE: "
                               "an estimate, assuming no concept shift), by metric", ["metric"],
                               registry=r, multiprocess_mode="liveall")
        self.feature_drift = Gauge("mlexpert_feature_drifted", "Per feature: 1 when it drifted",
                                   ["feature"], registry=r, multiprocess_mode="liveall")

    def set_drift(self, gauges: dict[str, float]) -> None:
        """Export ``OnlineMonitor.gauges()`` (keys absent before the first check stay unset)."""
        for key, value in gauges.items():
            if key in self.drift:
                self.drift[key].set(value)
            elif key.startswith("feature_score:"):
                self.feature_score.labels(key.split(":", 1)[1]).set(value)
            elif key.startswith("feature_drift:"):
                self.feature_drift.labels(key.split(":", 1)[1]).set(value)
            elif key.startswith("estimated:"):
                self.estimated.labels(key.split(":", 1)[1]).set(value)

    def set_model(self, name: str, version: str, previous: tuple[str, str] | None = None) -> None:
        if previous is not None:
            try:
                self.model_info.remove(*previous)
            except KeyError:
                pass
        self.model_info.labels(name, version).set(1)

    def set_challenger(self, name: str, version: str, mode: str) -> None:
        self.challenger_info.labels(name, version, mode).set(1)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format, across workers when running several."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        registry: Any = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
