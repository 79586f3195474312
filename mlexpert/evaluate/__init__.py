"""Metric registry and bootstrap intervals."""
from mlexpert.evaluate._intervals import bootstrap_interval
from mlexpert.evaluate._metrics import METRICS, Metric, default_metric, get_metric, metrics_for

__all__ = ["METRICS", "Metric", "bootstrap_interval", "default_metric", "get_metric", "metrics_for"]
