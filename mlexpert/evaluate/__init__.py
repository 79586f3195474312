"""Metric registry, bootstrap intervals, paired model comparison, calibration, the decision
threshold and diagnostics (curves, confusion matrix, residuals)."""
from mlexpert.evaluate._calibration import (
    Calibrator,
    choose_calibration,
    fit_calibrator,
    reliability_curve,
)
from mlexpert.evaluate._compare import corrected_t_test
from mlexpert.evaluate._decision import (
    OBJECTIVES,
    check_cost_matrix,
    choose_threshold,
    objective_values,
    thresholded,
)
from mlexpert.evaluate._diagnostics import diagnostics
from mlexpert.evaluate._intervals import bootstrap_interval, bootstrap_intervals, resample_counts
from mlexpert.evaluate._metrics import METRICS, Metric, default_metric, get_metric, metrics_for
from mlexpert.evaluate._outputs import prediction_values
from mlexpert.evaluate._paired import MIN_ROWS as MIN_LABELLED_ROWS
from mlexpert.evaluate._paired import PairedComparison, compare_paired
from mlexpert.evaluate._post import Evaluation, PostFit, post_fit, score_all

__all__ = ["METRICS", "MIN_LABELLED_ROWS", "OBJECTIVES", "Calibrator", "Evaluation", "Metric", "PairedComparison", "PostFit", "bootstrap_interval",
           "bootstrap_intervals", "check_cost_matrix", "choose_calibration", "compare_paired", "choose_threshold",
           "corrected_t_test", "default_metric", "diagnostics", "fit_calibrator", "get_metric",
           "metrics_for", "objective_values", "post_fit", "prediction_values", "reliability_curve",
           "resample_counts", "score_all", "thresholded"]
