"""The reference a drift check compares against: per-column statistics computed on every
reference row (missing rate, quantile bins, category counts) plus a bounded row sample (for the
tests that need values: KS, Wasserstein, text). Built at fit time from the training rows and
stored in the bundle (``manifest["reference"]`` + ``reference.parquet``), or from any table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.data import Role, Schema

REFERENCE_ROWS = 5_000  # rows kept in the bundle's sample (about 0.1-2 MB as Parquet)
PSI_BINS = 10  # quantile bins of a numeric column for PSI
TOP_CATEGORIES = 1_000  # category counts kept per column; the rest are pooled as "other"
PREDICTION = "__mlexpert_prediction__"  # the sample's column of validation-time predictions
DISTRIBUTION_ROLES = (str(Role.NUMERIC), str(Role.CATEGORICAL), str(Role.TEXT))


@dataclass
class ColumnReference:
    """One reference column: statistics over all reference rows, values from the sample."""

    name: str
    role: str
    rows: int  # reference rows the statistics were computed on
    missing_rate: float
    sample: np.ndarray  # non-missing sample values (floats for numeric, strings otherwise)
    mean: float = 0.0
    std: float = 0.0
    iqr: float = 0.0
    edges: list[float] = field(default_factory=list)  # numeric: interior PSI cut points
    proportions: list[float] = field(default_factory=list)  # numeric: share of values per bin
    counts: dict[str, int] = field(default_factory=dict)  # categorical: top categories
    other: int = 0  # categorical: values in categories beyond the top ones
    singletons: int = 0  # categorical: categories seen once (Good-Turing rate of new ones)

    @property
    def nonmissing(self) -> int:
        return int(round(self.rows * (1 - self.missing_rate)))

    def to_dict(self) -> dict[str, Any]:
        d = {"role": self.role, "rows": self.rows, "missing_rate": self.missing_rate}
        if self.role == Role.NUMERIC:
            d.update(mean=self.mean, std=self.std, iqr=self.iqr, edges=self.edges,
                     proportions=self.proportions)
        elif self.role == Role.CATEGORICAL:
            d.update(counts=self.counts, other=self.other, singletons=self.singletons)
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any], sample: np.ndarray) -> ColumnReference:
        return cls(name=name, sample=sample, **d)


def missing_mask(values: pd.Series, role: str) -> np.ndarray:
    """Missing cells of a prepared column (text is prepared with "" for missing)."""
    if role == Role.TEXT:
        return (values.astype(str).str.len() == 0).to_numpy()
    return values.isna().to_numpy()


def present_values(values: pd.Series, role: str) -> np.ndarray:
    """The non-missing values of a prepared column, as floats (numeric) or strings."""
    kept = values[~missing_mask(values, role)]
    if role == Role.NUMERIC:
        return kept.to_numpy(dtype=float)
    return kept.astype(str).to_numpy(dtype=object)


def column_reference(name: str, role: str, values: pd.Series, sample: pd.Series) -> ColumnReference:
    """Statistics of one prepared column over all its rows, with its sample's values."""
    n = len(values)
    missing = float(missing_mask(values, role).mean()) if n else 0.0
    ref = ColumnReference(name=name, role=str(role), rows=int(n), missing_rate=missing,
                          sample=present_values(sample, role))
    v = present_values(values, role)
    if role == Role.NUMERIC and len(v):
        ref.mean, ref.std = float(np.mean(v)), float(np.std(v))
        q25, q75 = np.quantile(v, [0.25, 0.75])
        ref.iqr = float(q75 - q25)
        cuts = np.unique(np.quantile(v, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
        ref.edges = [float(c) for c in cuts]
        counts = np.bincount(np.searchsorted(cuts, v, side="right"), minlength=len(cuts) + 1)
        ref.proportions = [float(c) for c in counts / counts.sum()]
    elif role == Role.CATEGORICAL and len(v):
        counts = pd.Series(v).value_counts()
        top = counts.head(TOP_CATEGORIES)
        ref.counts = {str(k): int(c) for k, c in top.items()}
        ref.other = int(counts.iloc[TOP_CATEGORIES:].sum())
        ref.singletons = int((counts == 1).sum())
    return ref


@dataclass
class Reference:
    """Everything a drift check needs about the reference data (bounded in size)."""

    columns: dict[str, ColumnReference]
    rows: int
    sample: pd.DataFrame  # the prepared sample rows (feature columns, and PREDICTION if any)
    prediction: ColumnReference | None = None
    source: str = "training data"

    def to_manifest(self) -> dict[str, Any]:
        """The JSON part stored in the bundle manifest (the sample goes to reference.parquet)."""
        return {"rows": self.rows, "sample_rows": int(len(self.sample)), "source": self.source,
                "columns": {n: c.to_dict() for n, c in self.columns.items()},
                "prediction": None if self.prediction is None else self.prediction.to_dict()}

    @classmethod
    def from_manifest(cls, d: dict[str, Any], sample: pd.DataFrame) -> Reference:
        cols = {n: ColumnReference.from_dict(n, c, present_values(sample[n], c["role"]))
                for n, c in d["columns"].items()}
        pred = None
        if d.get("prediction") is not None and PREDICTION in sample.columns:
            role = d["prediction"]["role"]
            pred = ColumnReference.from_dict("prediction", d["prediction"],
                                             present_values(sample[PREDICTION], role))
        return cls(columns=cols, rows=int(d["rows"]), sample=sample, prediction=pred,
                   source=d.get("source", "training data"))


def build_reference(schema: Schema, X: pd.DataFrame, *, seed: int = 0,
                    predictions: pd.Series | None = None,
                    source: str = "training data") -> Reference:
    """The reference of prepared rows ``X`` (``schema.prepare`` output): statistics over every
    row and a seeded sample of at most ``REFERENCE_ROWS``. ``predictions``: the model's
    validation-time outputs for those rows (see ``prediction_values``; NaN where a row has none)."""
    rng = np.random.default_rng(seed)
    n = len(X)
    take = np.sort(rng.choice(n, REFERENCE_ROWS, replace=False)) if n > REFERENCE_ROWS \
        else np.arange(n)
    sample = X.iloc[take].reset_index(drop=True)
    columns = {c.name: column_reference(c.name, c.role, X[c.name], sample[c.name])
               for c in schema.features}
    pred = None
    if predictions is not None:
        predictions = pd.Series(np.asarray(predictions, dtype=object)).reset_index(drop=True)
        kept = predictions[predictions.notna()]
        role = Role.NUMERIC if _is_number(kept) else Role.CATEGORICAL
        kept = kept.astype(float) if role == Role.NUMERIC else kept.astype(str)
        pred_sample = predictions.iloc[take].reset_index(drop=True)
        pred_sample = pred_sample.astype(float) if role == Role.NUMERIC else pred_sample
        pred = column_reference("prediction", role, kept, pred_sample.dropna())
        pred.missing_rate = 0.0
        sample = sample.assign(**{PREDICTION: pred_sample.to_numpy()})
        if role == Role.CATEGORICAL:
            sample[PREDICTION] = sample[PREDICTION].astype(object)
    return Reference(columns=columns, rows=int(n), sample=sample, prediction=pred, source=source)


def _is_number(values: pd.Series) -> bool:
    return len(values) > 0 and all(isinstance(v, float | int | np.floating | np.integer)
                                   and not isinstance(v, bool) for v in values.head(50))
