"""Two models scored on the same labelled rows: a paired bootstrap of their metric, and what to
do about it (promote the challenger, keep the champion, or wait for more labels).

One implementation for the service's ``GET /compare`` (labels that came back through
``/feedback``) and ``mlexpert retrain``'s gate (a recent holdout). Paired: every resample draws
the same rows for both models, so the interval of the difference is far narrower than the two
intervals side by side when the models err on the same rows.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlexpert.evaluate._intervals import _scores, resample_counts
from mlexpert.evaluate._metrics import Metric

MIN_ROWS = 30          # below this many labelled rows no verdict, whatever the difference
POWER = 0.8            # the sample size still needed: for this power at the observed difference
N_RESAMPLES = 2000
MAX_MORE_FACTOR = 100  # needing more than 100x the rows so far: the difference is too small to matter

PROMOTE, KEEP, WAIT = "promote", "keep", "not_enough_data"


@dataclass(frozen=True)
class PairedComparison:
    """Champion vs challenger on the same ``rows``: each model's ``metric`` with its interval,
    ``difference`` (challenger minus champion, in the metric's own direction: positive means
    better for a greater-is-better metric) with the paired interval and two-sided ``p_value``,
    and the ``decision`` (promote / keep / not_enough_data) with its ``reason``;
    ``more_rows_needed``: labelled rows still needed for the observed difference to be
    significant with 80 % power (None: no verdict is in reach or it is already reached)."""

    metric: str
    greater_is_better: bool
    rows: int
    champion: float
    challenger: float
    champion_interval: tuple[float, float]
    challenger_interval: tuple[float, float]
    difference: float
    difference_interval: tuple[float, float]
    p_value: float
    level: float
    decision: str
    reason: str
    more_rows_needed: int | None

    @property
    def challenger_better(self) -> bool:
        """The challenger is significantly better (the interval of the difference excludes 0)."""
        return _side(self.difference_interval, self.greater_is_better) > 0

    @property
    def challenger_worse(self) -> bool:
        return _side(self.difference_interval, self.greater_is_better) < 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(metric: Metric, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray,
                   *, level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0,
                   min_rows: int = MIN_ROWS) -> PairedComparison:
    """Compare two models' raw outputs (class probabilities or values, as the metric registry
    takes them) on the same rows ``y`` (class indices or values) by a paired bootstrap."""
    y, a, b = np.asarray(y), np.asarray(champion), np.asarray(challenger)
    n = len(y)
    nan2 = (math.nan, math.nan)
    score_a = _safe(metric, y, a)
    score_b = _safe(metric, y, b)
    diff = score_b - score_a
    if n < 2:
        return _verdict(metric, n, score_a, score_b, nan2, nan2, diff, nan2, math.nan, level,
                        min_rows, se=math.nan)
    sa, sb = [], []
    for W in resample_counts(n, n_resamples, seed):
        sa.append(_scores(metric, W, y, a))
        sb.append(_scores(metric, W, y, b))
    ra, rb = np.concatenate(sa), np.concatenate(sb)
    ok = np.isfinite(ra) & np.isfinite(rb)
    ra, rb = ra[ok], rb[ok]
    if len(ra) < 0.5 * n_resamples:  # the metric is undefined on most resamples (one class)
        return _verdict(metric, n, score_a, score_b, nan2, nan2, diff, nan2, math.nan, level,
                        min_rows, se=math.nan)
    q = ((1 - level) / 2, 1 - (1 - level) / 2)
    d = rb - ra
    interval = tuple(float(v) for v in np.quantile(d, q))
    # two-sided bootstrap p-value: how often the resampled difference lands across zero
    p = float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))) if diff else 1.0
    return _verdict(metric, n, score_a, score_b, _interval(ra, q), _interval(rb, q), diff,
                    interval, p, level, min_rows, se=float(d.std(ddof=1)))


def _side(interval: tuple[float, float], greater_is_better: bool) -> int:
    """+1 when the difference's interval lies wholly on the challenger's better side, -1 on its
    worse side, 0 when it holds zero (or is undefined)."""
    lo, hi = interval
    up, down = (lo > 0, hi < 0) if greater_is_better else (hi < 0, lo > 0)
    return 1 if up else -1 if down else 0


def _safe(metric: Metric, y: np.ndarray, pred: np.ndarray) -> float:
    try:
        return metric.score(y, pred) if len(y) else math.nan
    except ValueError:  # e.g. ROC AUC on rows of one class
        return math.nan


def _interval(s: np.ndarray, q: tuple[float, float]) -> tuple[float, float]:
    lo, hi = np.quantile(s, q)
    return float(lo), float(hi)


def _verdict(metric: Metric, n: int, a: float, b: float, ia: tuple[float, float],
             ib: tuple[float, float], diff: float, interval: tuple[float, float], p: float,
             level: float, min_rows: int, *, se: float) -> PairedComparison:
    from scipy import stats

    more = None
    if math.isfinite(se) and se > 0 and math.isfinite(diff) and diff != 0:
        z = stats.norm.ppf(1 - (1 - level) / 2) + stats.norm.ppf(POWER)
        needed = n * (z * se / abs(diff)) ** 2  # the standard error shrinks as 1/sqrt(rows)
        more = max(0, math.ceil(needed - n))
    common = dict(metric=metric.name, greater_is_better=metric.greater_is_better, rows=n,
                  champion=a, challenger=b, champion_interval=ia, challenger_interval=ib,
                  difference=diff, difference_interval=interval, p_value=p, level=level)
    lo, hi = interval
    name = metric.name
    if n < min_rows or not (math.isfinite(lo) and math.isfinite(hi)):
        wait = max(min_rows - n, more or 0)
        return PairedComparison(**common, decision=WAIT, more_rows_needed=wait or None,
                                reason=f"{n} labelled rows; a verdict needs at least {min_rows} "
                                       f"with both classes where {name} needs them.")
    side = _side(interval, metric.greater_is_better)
    span = f"{name} {b:.4g} vs {a:.4g}, difference {diff:+.4g} [{lo:+.4g}, {hi:+.4g}], p={p:.3g}"
    if side > 0:
        return PairedComparison(**common, decision=PROMOTE, more_rows_needed=None,
                                reason=f"the challenger is significantly better on {n} rows: {span}.")
    if side < 0:
        return PairedComparison(**common, decision=KEEP, more_rows_needed=None,
                                reason=f"the challenger is significantly worse on {n} rows: {span}.")
    if more is not None and more <= MAX_MORE_FACTOR * n:
        return PairedComparison(**common, decision=WAIT, more_rows_needed=more,
                                reason=f"no significant difference yet on {n} rows ({span}); "
                                       f"about {more:,} more labelled rows would show a "
                                       f"difference this size with {POWER:.0%} power.")
    return PairedComparison(**common, decision=KEEP, more_rows_needed=None,
                            reason=f"no difference that matters on {n} rows ({span}): showing "
                                   f"one this small would take over {MAX_MORE_FACTOR}x the rows.")
