"""High-cardinality categoricals as numbers: each level's share of the training rows, its smoothed
target mean (one column per class for multiclass) and, for integer codes, the code's value.

The target means are fitted out of fold on the training rows (scikit-learn's ``TargetEncoder``:
K-fold cross fitting in ``fit_transform``, empirical-Bayes shrinkage towards the overall mean), so
a model never trains on an encoding that saw its own row's target. Once fitted, the step is a
lookup table per column: a known level gives its row, a missing value the missing row (the
overall statistics when no training row was missing), an unseen level the default row (share 0,
the overall target mean, no number). The compiled numpy path and the ONNX graph read the same
tables (held as float32 values), so every predict path gives the same numbers.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}
DIGITS = re.compile(r"\d+")
NUMBER_SHARE = 0.95  # share of a column's levels that must be digit strings for the number view
SMOOTH = 10.0  # m-estimate weight of the overall mean, in rows (AutoGluon's alpha; sklearn's
# "auto" trusts a level seen once completely: its variance is 0)
DICT_LOOKUP_ROWS = 64  # up to this many rows a dict lookup beats building an Index


class LevelEncoding(TransformerMixin, BaseEstimator):
    """Per column: [share of training rows, target mean(s)..., code value (``as_number``)].

    ``task``: binary | multiclass | regression; None (or no ``y``) keeps only the shares.
    ``cv``: folds of the out-of-fold target means. ``as_number``: add the value of integer codes
    stored as text (``"0417"`` -> 417) where most levels are digit strings, so a tree can use an
    order the codes may carry."""

    def __init__(self, task: str | None = None, cv: int = 5, seed: int = 0,
                 as_number: bool = False):
        self.task = task
        self.cv = cv
        self.seed = seed
        self.as_number = as_number

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """The training rows' encodings, target means out of fold; the tables for new rows."""
        X = pd.DataFrame(X)
        self.columns_ = list(X.columns)
        values = [_keys(X[c].to_numpy(dtype=object)) for c in self.columns_]
        n = max(len(X), 1)
        levels = [np.unique(v, return_inverse=True, return_counts=True) for v in values]
        target = None
        if y is not None and self.task is not None and len(X) >= 2 * self.cv and (
                self.task == "regression" or len(np.unique(y)) > 1):
            target = self._fit_target(values, [keys for keys, _, _ in levels], np.asarray(y))
        self.keys_, self.tables_, self.defaults_, self.missing_ = [], [], [], []
        self.names_: list[str] = []
        out = []
        for j, (keys, inverse, counts) in enumerate(levels):
            name = self.columns_[j]
            parts = [(counts / n)[:, None]]
            default = [0.0]
            self.names_.append(f"{name}__share")
            if target is not None:
                means, overall = target["tables"][j]
                parts.append(means)
                default += list(overall)
                self.names_ += [f"{name}__target{k}" for k in range(means.shape[1])]
            if self.as_number and _digit_share(keys) >= NUMBER_SHARE:
                parts.append(np.array([[_number(k)] for k in keys]))
                default.append(np.nan)
                self.names_.append(f"{name}__number")
            table = _float32(np.hstack(parts))
            default_row = _float32(np.asarray(default, dtype=float))
            missing_at = np.flatnonzero(keys == _MISSING)
            missing_row = table[missing_at[0]] if len(missing_at) else default_row
            train = table[inverse]
            if target is not None:  # the rows' own target means, as fitted out of fold
                train[:, 1:1 + target["width"]] = _float32(target["train"][j])
            self.keys_.append(pd.Index(keys, dtype=object))
            self.tables_.append(table)
            self.defaults_.append(default_row)
            self.missing_.append(missing_row)
            out.append(train)
        return np.hstack(out) if out else np.empty((len(X), 0))

    def _fit_target(self, values: list[np.ndarray], levels: list[np.ndarray],
                    y: np.ndarray) -> dict[str, Any]:
        """TargetEncoder on the columns: per column the (levels x width) means in the order of
        ``levels`` (each column's sorted keys), the overall mean(s), and the training rows'
        out-of-fold means."""
        from sklearn.preprocessing import TargetEncoder

        frame = pd.DataFrame({i: v for i, v in enumerate(values)}, dtype=object)
        kind = TARGET_TYPES[self.task]
        if kind == "multiclass" and len(np.unique(y)) == 2:  # a fold that saw two classes
            kind = "binary"
        encoder = TargetEncoder(target_type=kind, smooth=SMOOTH, cv=self.cv,
                                shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class rarer than the folds: still encoded
            train = encoder.fit_transform(frame, y)
        width = train.shape[1] // max(len(values), 1)
        overall = np.atleast_1d(np.asarray(encoder.target_mean_, dtype=float))
        tables = []
        for j, keys in enumerate(levels):
            cats = np.asarray(encoder.categories_[j], dtype=object)
            enc = np.column_stack([encoder.encodings_[j * width + k] for k in range(width)])
            index = pd.Index(cats, dtype=object).get_indexer(keys)
            means = np.where(index[:, None] >= 0, enc[np.maximum(index, 0)], overall[None, :])
            tables.append((means, overall))
        return {"tables": tables, "width": width,
                "train": [train[:, j * width:(j + 1) * width] for j in range(len(values))]}

    # -- new rows --------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        values = pd.DataFrame(X).to_numpy(dtype=object)
        return self.transform_values([values[:, j] for j in range(values.shape[1])])

    def transform_values(self, columns: list[Any]) -> np.ndarray:
        """The encodings of one sequence of canonical values per column (missing: NaN/None)."""
        out = []
        for j, column in enumerate(columns):
            keys = _keys(np.asarray(column, dtype=object))
            if len(keys) <= DICT_LOOKUP_ROWS:
                lookup = self._lookup(j)
                at = np.array([lookup.get(k, -1) for k in keys], dtype=np.int64)
            else:
                at = self.keys_[j].get_indexer(keys)
            rows = self._table(j)[at]  # -1: the default row, appended last
            rows[keys == _MISSING] = self.missing_[j]
            out.append(rows)
        return np.hstack(out) if out else np.empty((0, 0))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the lookups built on use (they would double the bundle's tables)."""
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k not in ("_tables", "_lookups")}

    def _table(self, j: int) -> np.ndarray:
        """Column ``j``'s rows with the default row appended, built on first use (not per call:
        a 10,000-level table copied for each one-row predict costs ~0.1 ms)."""
        tables = self.__dict__.setdefault("_tables", {})
        if j not in tables:
            tables[j] = np.vstack([self.tables_[j], self.defaults_[j][None, :]])
        return tables[j]

    def _lookup(self, j: int) -> dict[Any, int]:
        lookups = self.__dict__.setdefault("_lookups", {})
        if j not in lookups:
            lookups[j] = {k: i for i, k in enumerate(self.keys_[j])}
        return lookups[j]

    def lookup_table(self, j: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Column ``j`` as (real levels, their rows, the unseen row, the missing row), for
        paths that rebuild the lookup (the ONNX graph)."""
        real = np.asarray([k != _MISSING for k in self.keys_[j]], dtype=bool)
        keys = [str(k) for k, r in zip(self.keys_[j], real, strict=True) if r]
        return keys, self.tables_[j][real], self.defaults_[j], self.missing_[j]

    def widths(self) -> list[int]:
        """Output columns per input column."""
        return [t.shape[1] for t in self.tables_]

    def get_feature_names_out(self, input_features=None):
        return np.array(self.names_, dtype=object)


_MISSING = "\x00missing"  # the key of a missing value (no real level is NUL-led)


def _keys(values: np.ndarray) -> np.ndarray:
    """Levels as lookup keys: missing (None, NaN) as ``_MISSING``; the rest as they are."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = _MISSING
    return out


def _float32(values: np.ndarray) -> np.ndarray:
    """Values rounded to float32 and kept as float64: the ONNX lookup holds float32, and every
    path must see the same numbers (a tree split between two close values would differ)."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _digit_share(keys: np.ndarray) -> float:
    real = [k for k in keys if k != _MISSING]
    return sum(isinstance(k, str) and DIGITS.fullmatch(k) is not None for k in real) / max(len(real), 1)


def _number(key: Any) -> float:
    return float(key) if isinstance(key, str) and DIGITS.fullmatch(key) else np.nan
