"""What a drift check returns: per-column test rows, the dataset verdict, prediction drift,
performance on labels and performance estimated without them, as one object with
``to_dict()`` (strict JSON) and ``to_html()``."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlexpert._io import jsonable, write_text
from mlexpert.errors import bad_option
from mlexpert.monitor._html import render


@dataclass(frozen=True)
class Thresholds:
    """Effect sizes from which a significant difference counts as drift (one field per test),
    the false-discovery rate of the Benjamini-Hochberg correction, and the dataset rules."""

    alpha: float = 0.05  # false-discovery rate over all column tests of one check
    ks: float = 0.1  # Kolmogorov-Smirnov D
    wasserstein: float = 0.1  # in reference standard deviations
    psi: float = 0.1  # population stability index (0.1 moderate, 0.25 large by convention)
    chi_square: float = 0.1  # total variation distance between category shares
    new_categories: float = 0.05  # share of values in unseen categories
    missing_rate: float = 0.1  # Cohen's h of the missing rates (0 -> 0.25 % is h = 0.1)
    text_length: float = 0.1  # Kolmogorov-Smirnov D of text lengths
    vocabulary: float = 0.1  # Jensen-Shannon distance of token shares
    drift_share: float = 0.0  # the dataset drifts when more than this share of columns drift
    domain_auc: float = 0.6  # ... or when the domain classifier's AUC interval is above this

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not math.isfinite(value) or value < 0:
                raise bad_option(f"thresholds.{f.name}", value, "a finite number >= 0")
        if not 0 < self.alpha < 1:
            raise bad_option("thresholds.alpha", self.alpha, "a number between 0 and 1")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class ColumnTest:
    """One test on one column: statistic, p-value (None where the test has none), the BH
    adjusted p-value, the effect size, its threshold and the verdict."""

    column: str
    test: str
    statistic: float
    p_value: float | None
    effect_size: float
    drifted: bool
    role: str = ""
    p_adjusted: float | None = None
    threshold: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "test": self.test, "statistic": _num(self.statistic),
                "p_value": _num(self.p_value), "effect_size": _num(self.effect_size),
                "drifted": bool(self.drifted), "role": self.role,
                "p_adjusted": _num(self.p_adjusted), "threshold": self.threshold}


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class DriftResult:
    """The outcome of one drift check (``mlexpert.drift``, ``mlexpert drift``, the service)."""

    drift_detected: bool
    drift_share: float
    columns: list[ColumnTest]
    prediction_drift: dict[str, Any] | None
    performance: dict[str, Any] | None
    domain_classifier: dict[str, Any] | None
    rows: dict[str, int]
    reference: str
    thresholds: Thresholds
    plots: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # a classifier's performance estimated without labels (CBPE; see monitor._estimate), beside
    # the realised performance when labels came; a regression model's says it is not available
    performance_estimate: dict[str, Any] | None = None

    @property
    def drifted_columns(self) -> list[str]:
        """Columns with at least one drifted test, most drifted (largest effect ratio) first."""
        worst: dict[str, float] = {}
        for t in self.columns:
            if t.drifted:
                ratio = t.effect_size / t.threshold if t.threshold else math.inf
                worst[t.column] = max(worst.get(t.column, 0.0), ratio)
        return sorted(worst, key=lambda c: -worst[c])

    @property
    def degraded(self) -> bool:
        """Whether labelled current data scored worse than the validation interval."""
        return bool(self.performance and self.performance.get("degraded"))

    @property
    def estimated_degraded(self) -> bool:
        """Whether the performance estimated without labels (an estimate: it assumes the
        model's calibration holds) lies wholly worse than the validation interval."""
        return bool(self.performance_estimate and self.performance_estimate.get("degraded"))

    def column_scores(self) -> dict[str, float]:
        """Per column: the largest effect size over threshold among its tests (>= 1 with a
        significant difference means drift); for dashboards and Prometheus gauges."""
        out: dict[str, float] = {}
        for t in self.columns:
            if t.threshold:
                out[t.column] = max(out.get(t.column, 0.0), float(t.effect_size) / t.threshold)
        return out

    def to_dict(self) -> dict[str, Any]:
        """One strict-JSON object: drift_detected, drift_share, columns, prediction_drift,
        performance, performance_estimate (and the domain classifier, row counts, reference and
        thresholds)."""
        return jsonable({
            "drift_detected": bool(self.drift_detected), "drift_share": float(self.drift_share),
            "columns": [t.to_dict() for t in self.columns],
            "prediction_drift": self.prediction_drift, "performance": self.performance,
            "performance_estimate": self.performance_estimate,
            "domain_classifier": self.domain_classifier, "drifted_columns": self.drifted_columns,
            "rows": self.rows, "reference": self.reference,
            "thresholds": self.thresholds.to_dict()})

    def to_html(self) -> str:
        """A self-contained HTML report (inline SVG plots, no scripts, no network)."""
        return render(self)

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write ``to_html()`` to ``path`` atomically (temp file + rename)."""
        return write_text(path, self.to_html())
