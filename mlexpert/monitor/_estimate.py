"""Performance estimated without labels: confidence-based performance estimation (CBPE, as
NannyML names it) from the model's calibrated class probabilities.

If the probabilities are calibrated on the new rows, row i's label is a draw from them: the
predicted class is right with probability ``q_i`` (the probability of the class the decision
picks), and any metric's distribution follows from labels drawn from the probabilities.

- accuracy, in closed form: the number of right rows is a sum of independent Bernoullis (a
  Poisson-binomial), so the expected accuracy is ``mean(q)`` and its standard deviation
  ``sqrt(sum q (1 - q)) / n``; its sampling interval is the normal one around it.
- every other registered classification metric (ROC AUC, one-vs-rest macro for several
  classes as the registry scores it; the bundle's metric), by simulation: ``DRAWS`` label sets
  drawn from the probabilities (seeded), each scored with the metric's vectorized form
  (``Metric.batch``) at once; the estimate is their mean, the sampling interval their
  percentiles.

The sampling interval is the spread of the *realised* metric of these rows around its
expectation from label noise alone (NannyML's "sampling error"); it holds only while the
probabilities are calibrated. They never are exactly: the interval reported (``low``,
``high``) also spans a calibration error of the size measured out of fold at fit (the
validation ECE), modelled as a temperature on the probabilities (``p ** (1 / T)``, renormalised)
that moves the expected accuracy by that ECE either way; the same draws are scored under both
temperatures and the interval covers all three sampling intervals. Beyond that, the estimate
assumes P(label | features) is what it was at fit (covariate shift only, no concept shift), as
NannyML's CBPE does: a change of that relation is invisible without labels.

Units: each metric's own (accuracy a share of rows in [0, 1], AUC in [0, 1], log loss in nats).
Cost: about ``DRAWS`` x rows x classes cells per metric and temperature (1,000 rows: ~50 ms).
Regression has no estimate here (NannyML's direct loss estimation, DLE, is out of scope).
"""
from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy.stats import rankdata

from mlexpert.evaluate import get_metric, thresholded

DRAWS = 200  # label sets simulated per estimate (the service estimates on each /monitor)
LEVEL = 0.95
CELLS = 10_000_000  # label-weight cells per simulated chunk (40 MB as float32)
MIN_WINDOW = 10  # rows: a shorter last window is left out, as in performance
TEMPERATURES = (0.02, 50.0)  # the range searched for the calibration band's temperatures
ALWAYS = ("accuracy", "roc_auc")  # estimated for every classifier, besides the bundle's metric
METHOD = ("CBPE (confidence-based performance estimation): the metric expected if each row's "
          "label were drawn from the model's calibrated probabilities")
ASSUMPTION = ("an estimate, not a measurement: it assumes the model's probabilities are about "
              "as calibrated on these rows as out of fold at fit (covariate shift only, no "
              "concept shift: P(label | features) unchanged). The interval spans label noise "
              "(sampling_low/high) and a calibration error of the validation ECE; a larger "
              "calibration error on new data moves the realised metric outside it, and only "
              "labels can show that.")
REGRESSION = ("not available for regression: estimating an error without labels needs a model "
              "of the loss (NannyML's direct loss estimation), which mlexpert does not do; pass "
              "labels for realised performance.")
_CLOSED = "closed form: mean probability of the predicted class; normal interval of the " \
          "Poisson-binomial count of right rows"
_SIMULATED = "simulated: {draws} label sets drawn from the probabilities; their mean and " \
             "percentile interval"
_EMPTY = {"value": None, "low": None, "high": None, "sampling_low": None, "sampling_high": None,
          "std": None}


def _probabilities(proba: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; rows that cannot be (non-finite, negative, all zero) dropped."""
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"class probabilities must be (rows, classes >= 2), got {p.shape}")
    total = p.sum(axis=1, keepdims=True)
    ok = np.isfinite(p).all(axis=1) & (total[:, 0] > 0) & (p >= 0).all(axis=1)
    return p[ok] / total[ok]


def tempered(p: np.ndarray, temperature: float) -> np.ndarray:
    """``p ** (1 / temperature)`` renormalised per row: sharper below 1, flatter above."""
    if temperature == 1.0:
        return p
    logp = np.log(np.clip(p, 1e-300, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def _right(p: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    return p[np.arange(len(p)), chosen]


def expected_accuracy(p: np.ndarray, chosen: np.ndarray, level: float = LEVEL) -> dict[str, float]:
    """Expected accuracy (share of rows) of the predicted classes ``chosen`` when labels follow
    ``p``, with the standard deviation and normal interval of the Poisson-binomial count."""
    n = len(p)
    q = _right(p, chosen)
    value = float(q.mean())
    std = float(np.sqrt(np.sum(q * (1 - q)))) / n
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return {"value": value, "low": max(0.0, value - z * std), "high": min(1.0, value + z * std),
            "std": std}


def band_temperatures(p: np.ndarray, chosen: np.ndarray, error: float) -> list[float]:
    """The temperatures (one sharper, one flatter) at which the expected accuracy of ``chosen``
    moves by ``error`` from its value at 1 (bisection on log T, within ``TEMPERATURES``; the
    end of the range where ``error`` cannot be reached)."""
    if not error > 0:
        return []
    base = float(_right(p, chosen).mean())

    def gap(log_t: float) -> float:
        return float(_right(tempered(p, float(np.exp(log_t))), chosen).mean()) - base

    out = []
    for end, target in ((np.log(TEMPERATURES[0]), error), (np.log(TEMPERATURES[1]), -error)):
        lo, hi = 0.0, float(end)  # gap(0) = 0; the target lies towards ``end`` when reachable
        if abs(gap(hi)) < abs(target):
            out.append(float(np.exp(hi)))
            continue
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if abs(gap(mid)) < abs(target) else (lo, mid)
        out.append(float(np.exp(hi)))
    return out


def simulated(names: Sequence[str], truths: Sequence[np.ndarray], p: np.ndarray,
              decided: np.ndarray, task: str, *, draws: int = DRAWS,
              rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """For each label distribution of ``truths`` (each (rows, classes)), each metric of the
    model's output ``p`` (``decided`` for label metrics: the probabilities at the decision
    threshold) on ``draws`` label sets drawn from it: {metric: (draws,) scores}, NaN where a
    draw leaves the metric undefined. The same uniform numbers draw every distribution's labels.

    A draw is a (rows x classes) 0/1 weight matrix: row i's copy with class k weighs 1 when the
    draw gave row i class k. The metrics' batch forms take row weights (they score bootstrap
    resamples so), so one call scores a whole chunk of draws. ROC AUC takes a shorter way to the
    same numbers (``_auc``: ranks once, one product per class).
    """
    n, k = p.shape
    metrics = [get_metric(name, task) for name in names]
    weighted = [m for m in metrics if m.name != "roc_auc"]
    y = np.tile(np.arange(k), n)
    scores_of = {m.name: np.repeat(decided if m.uses_labels else p, k, axis=0) for m in weighted}
    ranks = None if len(weighted) == len(metrics) else \
        np.column_stack([rankdata(p[:, c]) for c in range(k)])  # ties: average ranks
    cums = [np.cumsum(t, axis=1)[:, :-1] for t in truths]
    chunk = max(1, min(draws, CELLS // (n * k)))
    out: list[dict[str, list[np.ndarray]]] = [{m.name: [] for m in metrics} for _ in truths]
    done = 0
    while done < draws:
        b = min(chunk, draws - done)
        u = rng.random((b, n))
        for cum, scores in zip(cums, out, strict=True):
            # class c with probability truth[:, c]: the number of cumulative shares below u
            labels = (u > cum[:, 0]).astype(np.intp) if k == 2 else \
                (u[:, :, None] > cum[None]).sum(axis=2, dtype=np.intp)
            if ranks is not None:
                scores["roc_auc"].append(_auc(labels, ranks))
            if not weighted:
                continue
            W = np.zeros((b, n * k), dtype=np.float32)
            W[np.arange(b)[:, None], np.arange(n) * k + labels] = 1.0
            with np.errstate(invalid="ignore", divide="ignore"):
                for m in weighted:
                    scores[m.name].append(np.asarray(m.batch(W, y, scores_of[m.name]), float))
        done += b
    return [{name: np.concatenate(v) for name, v in s.items()} for s in out]


def _auc(labels: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ROC AUC of every draw (rows of ``labels``) by the Mann-Whitney statistic from the
    scores' average ranks (ties count half, as scikit-learn's): of the positive class for two
    classes, else the mean over classes present of one-vs-rest (the registry's batch form)."""
    n, k = ranks.shape
    classes = [1] if k == 2 else range(k)
    per_class = []
    for c in classes:
        pos = (labels == c).astype(np.float64)
        n1 = pos.sum(axis=1)
        n0 = n - n1
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos @ ranks[:, c] - n1 * (n1 + 1) / 2) / (n1 * n0)
        per_class.append(np.where((n1 > 0) & (n0 > 0), auc, np.nan))
    if len(per_class) == 1:
        return per_class[0]
    stacked = np.column_stack(per_class)
    present = np.isfinite(stacked).sum(axis=1)
    total = np.nansum(stacked, axis=1)
    return np.where(present > 0, total / np.maximum(present, 1), np.nan)


def _summary(s: np.ndarray, draws: int, level: float) -> dict[str, float] | None:
    ok = s[np.isfinite(s)]
    if len(ok) < 0.5 * draws:  # e.g. AUC where most draws hold one class
        return None
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return {"value": float(ok.mean()), "low": float(lo), "high": float(hi), "std": float(ok.std())}


def estimate_metrics(proba: np.ndarray, task: str, names: Sequence[str], *,
                     threshold: float | None = None, calibration_error: float = 0.0,
                     draws: int = DRAWS, level: float = LEVEL,
                     rng: np.random.Generator) -> tuple[int, dict[str, dict[str, Any]]]:
    """(rows used, {metric: value, low, high, sampling_low, sampling_high, std}) for the
    model's calibrated ``proba`` (n, classes); binary decisions at ``threshold`` (positive above
    it), argmax otherwise. ``value`` and the sampling interval assume calibration; ``low`` and
    ``high`` also span ``calibration_error`` (an accuracy gap, see ``band_temperatures``)."""
    p = _probabilities(proba)
    if len(p) == 0:
        return 0, {name: dict(_EMPTY) for name in names}
    decided = thresholded(p, threshold)
    chosen = decided.argmax(axis=1)
    truths = [p] + [tempered(p, t) for t in band_temperatures(p, chosen, calibration_error)]
    rest = [name for name in names if name != "accuracy"]
    sims = simulated(rest, truths, p, decided, task, draws=draws, rng=rng) if rest else []
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == "accuracy":
            parts = [expected_accuracy(t, chosen, level) for t in truths]
        else:
            parts = [_summary(s[name], draws, level) for s in sims]
        if parts[0] is None:
            out[name] = dict(_EMPTY)
            continue
        lows = [e["low"] for e in parts if e is not None]
        highs = [e["high"] for e in parts if e is not None]
        out[name] = {"value": parts[0]["value"], "low": min(lows), "high": max(highs),
                     "sampling_low": parts[0]["low"], "sampling_high": parts[0]["high"],
                     "std": parts[0]["std"]}
    return len(p), out


def _finite(x: Any) -> bool:
    return x is not None and bool(np.isfinite(x))


def worse_than_validation(entry: dict[str, Any], validation: dict[str, Any] | None,
                          greater_is_better: bool) -> bool:
    """Degraded: ``entry``'s whole interval (``low``, ``high``) on the worse side of the
    validation (cross-validated) interval, or of its value where the interval is undefined. The
    one rule for realised performance (``performance``) and the estimate."""
    if validation is None:
        return False
    lo, hi = entry.get("low"), entry.get("high")
    v_lo = validation.get("low") if _finite(validation.get("low")) else validation.get("value")
    v_hi = validation.get("high") if _finite(validation.get("high")) else validation.get("value")
    if lo is None or hi is None or not _finite(v_lo) or not _finite(v_hi):
        return False
    return bool(hi < v_lo) if greater_is_better else bool(lo > v_hi)


def estimate_performance(proba: np.ndarray, task: str, *, metric: str | None = None,
                         threshold: float | None = None,
                         validation: dict[str, dict[str, float]] | None = None,
                         window: int | None = None, draws: int = DRAWS, level: float = LEVEL,
                         seed: int = 0) -> dict[str, Any]:
    """The ``performance_estimate`` section of a drift result, for the model's calibrated
    probabilities ``proba`` (n, classes) on unlabelled rows.

    ``metric``: the bundle's metric, estimated besides accuracy and ROC AUC. ``validation``: the
    bundle's cross-validated metrics (``Model.metrics``): shown beside each estimate as what was
    expected, and their ``ece`` sizes the calibration band (none without it); an estimate whose
    whole interval is worse than the validation interval is flagged ``degraded``. ``window``:
    also estimate each consecutive window of that many rows. Regression: ``available`` False.
    """
    if task == "regression":
        return {"available": False, "estimate": True, "note": REGRESSION}
    validation = validation or {}
    ece = (validation.get("ece") or {}).get("value")
    error = float(ece) if _finite(ece) else 0.0
    names = list(dict.fromkeys([*(m for m in (metric,) if m), *ALWAYS]))
    rng = np.random.default_rng(seed)

    def run(rows_proba: np.ndarray) -> tuple[int, dict[str, dict[str, Any]]]:
        return estimate_metrics(rows_proba, task, names, threshold=threshold,
                                calibration_error=error, draws=draws, level=level, rng=rng)

    rows, values = run(proba)
    metrics: dict[str, dict[str, Any]] = {}
    for name in names:
        m = get_metric(name, task)
        val = validation.get(name)
        entry = {**values[name], "greater_is_better": m.greater_is_better,
                 "how": _CLOSED if name == "accuracy" else _SIMULATED.format(draws=draws),
                 "validation": None if val is None else
                 {k: val.get(k) for k in ("value", "low", "high")}}
        entry["degraded"] = worse_than_validation(entry, val, m.greater_is_better)
        metrics[name] = entry
    out: dict[str, Any] = {
        "available": rows > 0, "estimate": True, "method": METHOD, "assumption": ASSUMPTION,
        "rows": rows, "level": level, "draws": draws, "threshold": threshold,
        "metrics": metrics, "windows": [],
        "calibration_error": {
            "ece": error if _finite(ece) else None,
            "note": "out-of-fold expected calibration error (top-label confidence) at fit: "
                    "the interval spans probabilities tempered until the expected accuracy "
                    "moves this much either way" if _finite(ece) else
                    "no validation ECE in the bundle: the interval is label noise only"},
        "degraded": any(e["degraded"] for e in metrics.values())}
    if rows == 0:
        out["note"] = "no row had usable probabilities"
    if window is not None:
        proba = np.asarray(proba, dtype=float)
        for start in range(0, len(proba), window):
            stop = min(start + window, len(proba))
            if stop - start < MIN_WINDOW:
                break
            n, vals = run(proba[start:stop])
            out["windows"].append({
                "start": start, "end": stop, "rows": n, "metrics": vals,
                "degraded": any(worse_than_validation(v, validation.get(name),
                                       get_metric(name, task).greater_is_better)
                                for name, v in vals.items())})
    return out


def realised_check(estimate: dict[str, Any], realised: dict[str, float | None], rows: int,
                   note: str = "") -> dict[str, Any]:
    """Labels arrived: each estimated metric beside its realised value on ``rows`` labelled
    rows, and whether it fell inside the estimate's interval (and its sampling interval)."""
    out = {}
    for name, e in estimate["metrics"].items():
        r = realised.get(name)
        known = r is not None and e["low"] is not None
        out[name] = {"estimate": e["value"], "low": e["low"], "high": e["high"], "realised": r,
                     "within": bool(e["low"] <= r <= e["high"]) if known else None,
                     "within_sampling": bool(e["sampling_low"] <= r <= e["sampling_high"])
                     if known else None}
    check: dict[str, Any] = {"rows": rows, "metrics": out}
    if note:
        check["note"] = note
    return check


__all__ = ["ASSUMPTION", "DRAWS", "REGRESSION", "band_temperatures", "estimate_metrics",
           "estimate_performance", "expected_accuracy", "realised_check", "simulated",
           "tempered", "worse_than_validation"]
