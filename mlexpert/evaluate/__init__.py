"""Metric registry, bootstrap intervals and paired model comparison."""
from mlexpert.evaluate._compare import corrected_t_test
from mlexpert.evaluate._intervals import bootstrap_interval, bootstrap_intervals, resample_counts
from mlexpert.evaluate._metrics import METRICS, Metric, default_metric, get_metric, metrics_for

__all__ = ["METRICS", "Metric", "bootstrap_interval", "bootstrap_intervals", "resample_counts",
           "corrected_t_test", "default_metric",
           "get_metric", "metrics_for"]
