"""Drift and performance monitoring: one implementation for ``mlexpert.drift``, the
``mlexpert drift`` command and the service's rolling window (``OnlineMonitor``); a classifier's
performance estimated without labels (``estimate_performance``, CBPE) in each of them."""
from mlexpert.evaluate import prediction_values
from mlexpert.monitor._drift import compare, drift, model_reference, performance
from mlexpert.monitor._estimate import estimate_performance
from mlexpert.monitor._online import OnlineMonitor
from mlexpert.monitor._reference import PREDICTION, Reference, build_reference
from mlexpert.monitor._result import ColumnTest, DriftResult, Thresholds
from mlexpert.monitor._tests import TESTS, DriftTest, Outcome

__all__ = ["PREDICTION", "TESTS", "ColumnTest", "DriftResult", "DriftTest", "OnlineMonitor", "Outcome",
           "Reference", "Thresholds", "build_reference", "compare", "drift",
           "estimate_performance", "model_reference", "performance", "prediction_values"]
