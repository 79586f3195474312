"""After the search: calibrate the out-of-fold probabilities, choose the decision threshold, and
score every metric with intervals. What ``fit`` records and ``Model.evaluate`` reports."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlexpert._clock import Deadline
from mlexpert.evaluate._calibration import choose_calibration
from mlexpert.evaluate._decision import choose_threshold, thresholded
from mlexpert.evaluate._intervals import bootstrap_intervals
from mlexpert.evaluate._metrics import metrics_for
from mlexpert.findings import Finding


class Evaluation(dict):
    """What ``Model.evaluate`` returns: a dict (``rows``, ``task``, ``metric``, ``threshold``,
    ``calibration``, ``metrics``, ``diagnostics``, ``groups``) whose repr is one line, not the
    hundreds of curve points inside; ``to_dict()`` is the plain dict for machines."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        head = self.get("metrics", {}).get(self.get("metric"), {})
        value, low, high = (head.get(k) for k in ("value", "low", "high"))
        score = "n/a" if value is None else f"{value:.4g}" + (
            "" if low is None or high is None or not np.isfinite([low, high]).all()
            else f" [{low:.4g}, {high:.4g}]")
        extra = "" if self.get("threshold") is None else f", threshold {self['threshold']:.3g}"
        checks = self.get("groups")
        groups = f", {len(checks['groups'])} groups" if isinstance(checks, dict) and \
            checks.get("groups") else ""
        return (f"Evaluation({self.get('metric')} {score} on {self.get('rows')} rows; "
                f"{self.get('task')}{extra}{groups}; {len(self.get('metrics', {}))} metrics)")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython / Jupyter
        printer.text(repr(self))


def score_all(task: str, y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None, *,
              threshold: float | None = None, n_resamples: int = 1000, seed: int = 0,
              deadline: Deadline | None = None) -> dict[str, dict[str, float]]:
    """Every metric that applies (the task's default first) with a 95 % bootstrap interval;
    label metrics (accuracy, F1, MCC...) use the decision ``threshold`` when one is set."""
    decided = thresholded(pred, threshold) if task == "binary" else pred
    values, usable = {}, []
    for metric in metrics_for(task, y):
        p = decided if metric.uses_labels else pred
        try:
            values[metric.name] = metric.score(y, p, weight)
        except ValueError:  # e.g. ROC AUC when the data holds one class
            continue
        usable.append(metric)
    out = {name: {"value": v, "low": float("nan"), "high": float("nan")} for name, v in values.items()}
    bounds = bootstrap_intervals(usable, y, pred, weight, labels=decided, n_resamples=n_resamples,
                                 seed=seed, deadline=deadline)
    for name, (lo, hi) in bounds.items():
        out[name].update(low=lo, high=hi)
    return out


@dataclass
class PostFit:
    """What fit adds after the search: the reported out-of-fold predictions (calibrated
    cross-fitted when a calibrator was applied), the calibrator, the threshold, findings."""

    oof: np.ndarray
    calibration: dict[str, Any] | None = None
    calibration_report: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def threshold(self) -> float | None:
        return None if self.decision is None else self.decision["threshold"]


def post_fit(task: str, y: np.ndarray, oof: np.ndarray, weight: np.ndarray | None = None, *,
             calibrate: bool = True, objective: str | None = None,
             costs: Sequence[Sequence[float]] | None = None, seed: int = 0,
             deadline: Deadline | None = None) -> PostFit:
    """Calibrate (classification, when it lowers out-of-fold log loss) and pick the binary
    threshold for ``objective`` on the (calibrated) out-of-fold probabilities."""
    post = PostFit(oof)
    if task == "regression":
        return post
    if calibrate:
        cal, post.oof, report = choose_calibration(oof, y, weight, seed=seed, deadline=deadline)
        post.calibration_report = report
        post.calibration = None if cal is None else cal.to_dict()
        tried = ", ".join(f"{k} {v:.4f}" for k, v in report["tried"].items())
        if cal is not None:
            post.findings.append(Finding(
                check="calibration", severity="info", columns=(),
                message=f"{cal.method} calibration, fitted out of fold, lowered the out-of-fold "
                        f"log loss from {report['log_loss_before']:.4f} to "
                        f"{report['log_loss_after']:.4f}; predicted probabilities are calibrated.",
                evidence={k: v for k, v in report.items() if k != "applied"},
                suggestion="pass calibrate=False (CLI --no-calibrate) to ship raw probabilities."))
        else:
            post.findings.append(Finding(
                check="calibration", severity="info", columns=(),
                message="probabilities are not recalibrated: "
                        f"{report.get('reason', '')} (log loss {report['log_loss_before']:.4f}"
                        + (f"; cross-fitted: {tried}" if tried else "") + ").",
                evidence=report, suggestion=""))
    if objective is not None:
        post.decision = choose_threshold(post.oof[:, 1], y, objective, costs, weight)
        d = post.decision
        what = "expected cost per row" if objective == "cost" else objective
        post.findings.append(Finding(
            check="decision_threshold", severity="info", columns=(),
            message=f"labels are predicted positive above probability {d['threshold']:.3f}, "
                    f"chosen on out-of-fold predictions for {what}: {d['value']:.4f} there vs "
                    f"{d['value_at_0.5']:.4f} at 0.5.",
            evidence=d, suggestion="predict_proba is unchanged; the threshold only sets labels."))
    return post

