"""Per-row feature contributions (SHAP) of a fitted ensemble, per input column, that sum to the
prediction.

Each member part is explained in its own output space by its library's adapter
(``models.ADAPTERS``): the library's exact TreeSHAP (LightGBM ``pred_contrib``, XGBoost
``pred_contribs``, CatBoost ``ShapValues``; scikit-learn forests through
``shap.TreeExplainer``) or, for linear models, coefficient x value. Columns
the preprocessing derived from one input column (date parts, one-hot levels, text features) are
summed back to it.

Regression: values are SHAP values of the prediction itself; the ensemble's are the weighted
mean of its members' (SHAP is linear in the model), so they are exact.
Classification: boosting and linear models are additive in log-odds, not probability. Each
part's log-odds contributions are scaled per row so that they sum to its predicted probability
minus the probability at its base value (signs and ranking stay SHAP's; magnitudes are that
linearization); forests are explained in probability directly. A calibrator is folded in the
same way. The result sums exactly to ``predict_proba`` for every row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import ConfigError
from mlexpert.models import Unsupported, adapter_for


@dataclass
class Explanation:
    """Contributions (rows x input columns) to one output per row, with the base value:
    ``base_value + contributions.sum(axis=1) == prediction`` for every row."""

    contributions: pd.DataFrame
    base_value: pd.Series
    prediction: pd.Series
    output: str  # what is explained, e.g. "probability of class 'yes'" or "predicted value"

    def to_frame(self) -> pd.DataFrame:
        """One table: the contributions, then ``base_value`` and ``prediction`` columns."""
        return pd.concat([self.contributions, self.base_value.rename("base_value"),
                          self.prediction.rename("prediction")], axis=1)


def column_map(transformer: Any) -> list[str]:
    """The input column each output column of a fitted ColumnTransformer derives from."""
    width = sum(s.stop - s.start for s in transformer.output_indices_.values())
    out = [""] * width
    for name, trans, cols in transformer.transformers_:
        sl = transformer.output_indices_.get(name)
        if sl is None or sl.stop == sl.start or trans == "drop":
            continue
        cols = list(cols) if not isinstance(cols, str) else [cols]
        n_out = sl.stop - sl.start
        if len(cols) == 1:
            names = [cols[0]] * n_out
        elif trans == "passthrough" or n_out == len(cols) and not hasattr(trans, "categories_"):
            names = list(cols) if n_out == len(cols) else [cols[0]] * n_out
        else:
            names = [_source(str(f), cols) for f in trans.get_feature_names_out(cols)]
        out[sl.start:sl.stop] = names
    return out


def _source(feature: str, cols: list[str]) -> str:
    best = ""
    for c in cols:
        c = str(c)
        if (feature == c or feature.startswith(c + "_") or feature == f"missingindicator_{c}") \
                and len(c) > len(best):
            best = c
    return best or str(cols[0])


def _sigmoid(m: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-m))


def _softmax(m: np.ndarray) -> np.ndarray:
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _rescale(phi: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Scale each row of ``phi`` (n, F) to sum to ``delta`` (n,); rows summing to ~0 spread
    ``delta`` in proportion to |phi| (or evenly)."""
    total = phi.sum(axis=1)
    ok = np.abs(total) > 1e-12
    out = np.zeros_like(phi)
    out[ok] = phi[ok] * (delta[ok] / total[ok])[:, None]
    bad = ~ok
    if bad.any():
        mag = np.abs(phi[bad])
        share = np.where(mag.sum(axis=1, keepdims=True) > 0,
                         mag / np.maximum(mag.sum(axis=1, keepdims=True), 1e-300),
                         1.0 / phi.shape[1])
        out[bad] = share * delta[bad][:, None]
    return out


def _raw_contributions(fitted: Any, Xt: Any, task: str, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(phi (n, F, C), base (n, C), space) with C = 1 (binary: class 1; regression) or K, in the
    part's own output space: "margin" (log-odds / softmax input), "probability" or "value"; as
    the model's library adapter computes them (``models.ADAPTERS``)."""
    try:
        explain = adapter_for(fitted).need("contributions")
    except Unsupported:
        raise ConfigError(f"contributions are not available for {type(fitted.estimator).__name__} "
                          "models.") from None
    return explain(fitted, Xt, task, k if task == "multiclass" else 1)


def _from_change(fitted: Any, Xt: Any, phi: np.ndarray,
                 base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contributions to a model that predicts the change from an input column (an entity's last
    known target): that column gets its value's distance from the training mean (the new base),
    the others the change, rescaled to the prediction's units where it is a log ratio."""
    baseline = fitted.baseline(Xt)
    phi = phi.copy()
    if getattr(fitted, "offset_relative", False):  # base + phi was the log ratio
        phi[:, :, 0] = _rescale(phi[:, :, 0], fitted.predict(Xt) - baseline)
        base = np.zeros_like(base)
    phi[:, fitted.offset, 0] += baseline - fitted.offset_fill
    return phi, base + fitted.offset_fill


def _part_probability(phi: np.ndarray, base: np.ndarray, space: str, p: np.ndarray,
                      task: str) -> tuple[np.ndarray, np.ndarray]:
    """Contributions (n, F, K) and base (n, K) to the part's probabilities ``p`` (n, K)."""
    n, F, _ = phi.shape
    K = p.shape[1]
    if task == "binary":
        if space == "probability":
            b1 = base[:, 0]
        else:
            b1 = _sigmoid(base[:, 0])
        c1 = phi[:, :, 0] if space == "probability" else _rescale(phi[:, :, 0], p[:, 1] - b1)
        return np.stack([-c1, c1], axis=2), np.column_stack([1 - b1, b1])
    b = base if space == "probability" else _softmax(base)
    out = np.empty((n, F, K))
    for k in range(K):
        out[:, :, k] = phi[:, :, k] if space == "probability" else _rescale(phi[:, :, k], p[:, k] - b[:, k])
    return out, b


def contributions(members: list[Any], X: pd.DataFrame, task: str, n_classes: int,
                  calibrator: Any = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(phi (n, columns, K or 1), base (n, K or 1), input column names) for the weighted
    ensemble ``members`` on prepared rows ``X``; sums match the model's output (see module)."""
    columns = list(X.columns)
    pos = {c: i for i, c in enumerate(columns)}
    K = n_classes if task != "regression" else 1
    total_phi = np.zeros((len(X), len(columns), K))
    total_base = np.zeros((len(X), K))
    total_w = sum(m.weight for m in members)
    cache: dict[int, Any] = {}
    for member in members:
        share = member.weight / total_w / len(member.parts)
        for transformer, fitted in member.parts:
            key = id(transformer)
            if key not in cache:
                cache[key] = (transformer.transform(X), column_map(transformer))
            Xt, sources = cache[key]
            phi, base, space = _raw_contributions(fitted, Xt, task, K)
            if getattr(fitted, "offset", None) is not None:  # a change from an input column:
                phi, base = _from_change(fitted, Xt, phi, base)  # its value is that column's
            if task != "regression":
                phi, base = _part_probability(phi, base, space, fitted.predict(Xt), task)
            grouped = np.zeros((len(X), len(columns), phi.shape[2]))
            idx = np.array([pos.get(s, -1) for s in sources])
            for j in np.unique(idx[idx >= 0]):
                grouped[:, j, :] = phi[:, idx == j, :].sum(axis=1)
            total_phi += share * grouped
            total_base += share * base
    if calibrator is not None and task != "regression":
        p = total_base + total_phi.sum(axis=1)
        q = calibrator.apply(p)
        qb = calibrator.apply(total_base)
        for k in range(K):
            total_phi[:, :, k] = _rescale(total_phi[:, :, k], q[:, k] - qb[:, k])
        total_base = qb
    return total_phi, total_base, columns
