"""Transformers for the roles scikit-learn does not cover directly: dates and free text."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mlexpert.data import calendar_parts

# A level "reads as a number" when it matches this, on every predict path (the ONNX graph tests
# it with RegexFullMatch before casting: onnxruntime's cast throws on other text, and on a value
# beyond double's range, which the digit limits rule out)
NUMBER_PATTERN = r"[-+]?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})([eE][-+]?\d{1,2})?"
_NUMBER = re.compile(NUMBER_PATTERN)
DICT_LOOKUP_ROWS = 256  # up to this many rows, categories are coded by a dict, not pandas


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Expand each datetime column into calendar parts, cyclical sin/cos pairs and days since epoch.

    Hour and cyclical hour are produced only for columns that carried a time of day at fit.
    ``cyclic=False`` (tree families): year, month, day, day of week, days since 1970 and hour,
    the parts AutoGluon gives its trees, without day of year and the sin/cos pairs: a tree splits
    those no better than the parts themselves, and with random feature subsets they crowd out
    other columns (email_spam, 5-fold AUC over 3 seeds, all 13 parts -> these 6: extra trees
    0.937 -> 0.950, random forest 0.938 -> 0.946, LightGBM 0.945 -> 0.947).
    Computed with numpy datetime arithmetic (a pandas ``.dt`` call per part is ~10x slower on the
    single rows a service predicts).
    """

    def __init__(self, cyclic: bool = True):
        self.cyclic = cyclic

    def fit(self, X: pd.DataFrame, y=None):
        X = pd.DataFrame(X)
        self.columns_ = list(X.columns)
        self.has_time_ = {}
        for c in self.columns_:
            t = _as_datetime64(X[c])
            t = t[~np.isnat(t)]
            self.has_time_[c] = bool((t != t.astype("datetime64[D]")).any())
        return self

    def parts(self, col: str) -> list[str]:
        """The calendar parts column ``col`` expands to, in output order."""
        if not self.__dict__.get("cyclic", True):  # bundles before the option: cyclic
            return ["year", "month", "day", "day_of_week", "epoch_days"] + \
                (["hour"] if self.has_time_[col] else [])
        parts = ["year", "month", "day", "day_of_week", "day_of_year", "epoch_days",
                 "month_sin", "month_cos", "day_of_week_sin", "day_of_week_cos"]
        if self.has_time_[col]:
            parts += ["hour", "hour_sin", "hour_cos"]
        return parts

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        return self.transform_arrays([_as_datetime64(X[c]) for c in self.columns_], len(X))

    def transform_arrays(self, arrays: list[np.ndarray], n_rows: int) -> np.ndarray:
        """``transform`` on one datetime64[ns] array per fitted column (no pandas): the service's
        single-row path calls it directly."""
        out = [v for c, t in zip(self.columns_, arrays, strict=True)
               for v in calendar_parts(t, self.parts(c))]
        return np.column_stack(out) if out else np.empty((n_rows, 0))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"{c}__{p}" for c in self.columns_ for p in self.parts(c)], dtype=object)


def _as_datetime64(s: pd.Series) -> np.ndarray:
    return pd.to_datetime(s).to_numpy(dtype="datetime64[ns]")


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Categories to integer codes for trees, missing stays NaN. ``order="frequency"``: the
    ``max_categories`` most frequent levels get codes 0..K-1 (most frequent first), rarer and
    unseen levels share code K, for a tree's native categorical splits. ``order="value"``: every
    level in sorted order (numerically where a level reads as a number, then the others as text),
    a number for a tree to split in ranges, for columns of more levels than
    native splits take (flight, zip or pupil codes, whose numbering often groups alike rows). An
    unseen level that reads as a number goes between the known ones around it (a code ending in
    .5): a new flight number sits beside its neighbours, where a code past the last level put it
    beside the highest-numbered flights (flights_origin's 5-fold log loss, LightGBM's defaults
    on the ``native`` preprocessing: 0.0030 top levels as categories, 0.0090 unseen levels
    missing, 0.0020 unseen numbers placed). Any other unseen level is missing (the ONNX graph
    cannot order text).

    A hash lookup per value (``Index.get_indexer``); scikit-learn's OrdinalEncoder rebuilds a set of
    all known levels on every call, which costs milliseconds per row on high-cardinality columns.
    """

    def __init__(self, max_categories: int | None = 254, order: str = "frequency"):
        self.max_categories = max_categories
        self.order = order

    def fit(self, X, y=None):
        X = pd.DataFrame(X)
        self.columns_ = list(X.columns)
        self.categories_, self.numbers_ = [], []  # numbers_: value order's known numbers, sorted
        for c in self.columns_:
            counts = X[c].value_counts()
            if self.order == "value":
                ranked = sorted(counts.index, key=_value_order)
                self.numbers_.append(np.array(sorted(n for n in map(_number, ranked)
                                                     if n is not None), dtype=float))
            else:
                ranked = [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))]
            self.categories_.append(pd.Index(ranked[: self.max_categories], dtype=object))
        return self

    def transform(self, X) -> np.ndarray:
        values = pd.DataFrame(X).to_numpy(dtype=object)  # one conversion, not a Series a column
        out = np.empty((len(values), len(self.columns_)))
        for j, cats in enumerate(self.categories_):
            column = values[:, j]
            if len(column) <= DICT_LOOKUP_ROWS:  # get_indexer first makes the values an Index
                lookup = self._lookup(j)  # (pandas 3: an Arrow string array), ~0.4 ms a call
                codes = np.array([lookup.get(v, -1) for v in column], dtype=float)
            else:
                codes = cats.get_indexer(column).astype(float)
            missing = pd.isna(column)
            unseen = np.flatnonzero((codes < 0) & ~missing)
            codes[unseen] = [self.unseen_code(j, v) for v in column[unseen]] if self.by_value \
                else len(cats)
            codes[missing] = np.nan
            out[:, j] = codes
        return out

    @property
    def by_value(self) -> bool:
        """Whether levels are coded in value order (bundles saved before ``order`` existed
        count by frequency)."""
        return getattr(self, "order", "frequency") == "value"

    def unseen_code(self, j: int, value: Any) -> float:
        """The code of a level column ``j`` never saw in training: its rare levels' code, or in
        value order the place of a number among the known ones."""
        if not self.by_value:
            return float(len(self.categories_[j]))
        number = _number(value)
        if number is None:
            return np.nan
        return float(np.searchsorted(self.numbers_[j], number, side="left")) - 0.5

    def _lookup(self, j: int) -> dict[Any, int]:
        """Column ``j``'s codes as a dict, built on first use (bundles saved before it existed
        load without it)."""
        lookups = self.__dict__.setdefault("_lookups", {})
        if j not in lookups:
            lookups[j] = {v: i for i, v in enumerate(self.categories_[j])}
        return lookups[j]

    def get_feature_names_out(self, input_features=None):
        return np.array(self.columns_, dtype=object)


def _number(level: Any) -> float | None:
    """The value of a level that reads as a number (``NUMBER_PATTERN``), else None."""
    return float(level) if isinstance(level, str) and _NUMBER.fullmatch(level) else None


def _value_order(level: Any) -> tuple[int, float, str]:
    """Sort key: levels that read as numbers first, by value ("9" before "10"), then as text."""
    number = _number(level)
    return (1, 0.0, str(level)) if number is None else (0, number, str(level))


class TextFeatures(TransformerMixin, BaseEstimator):
    """Free text to features: log length and word count, plus TF-IDF (sparse, for linear models)
    or TF-IDF reduced by truncated SVD to ``n_components`` dense columns (for trees, ``reduce``).
    Falls back to the length features alone when the vocabulary is empty (tiny or odd text)."""

    def __init__(self, reduce: bool = True, n_components: int = 32, max_features: int = 20000,
                 seed: int = 0):
        self.reduce = reduce
        self.n_components = n_components
        self.max_features = max_features
        self.seed = seed

    @staticmethod
    def _texts(X) -> pd.Series:
        s = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X).ravel())
        return s.fillna("").astype(str)

    def fit(self, X, y=None):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = self._texts(X)
        self.tfidf_, self.svd_ = None, None
        try:
            tfidf = TfidfVectorizer(max_features=self.max_features, ngram_range=(1, 2),
                                    min_df=2, sublinear_tf=True, dtype=np.float32)
            m = tfidf.fit_transform(texts)
        except ValueError:  # empty vocabulary
            return self
        self.tfidf_ = tfidf
        if not self.reduce:
            return self
        k = min(self.n_components, m.shape[1] - 1, m.shape[0] - 1)
        if k < 1:
            self.tfidf_ = None
        else:
            self.tfidf_ = tfidf
            self.svd_ = TruncatedSVD(n_components=k, random_state=self.seed).fit(m)
        return self

    def transform(self, X):
        texts = self._texts(X)
        base = np.log1p(np.column_stack([texts.str.len().to_numpy(float),
                                         texts.str.split().str.len().fillna(0).to_numpy(float)]))
        if self.tfidf_ is None:
            return base
        m = self.tfidf_.transform(texts)
        if self.svd_ is not None:
            return np.hstack([base, self.svd_.transform(m)])
        import scipy.sparse as sp

        return sp.hstack([sp.csr_matrix(base), m], format="csr")

    def get_feature_names_out(self, input_features=None):
        if self.tfidf_ is None:
            extra = []
        elif self.svd_ is not None:
            extra = [f"svd{i}" for i in range(self.svd_.n_components)]
        else:
            extra = [f"tfidf_{w}" for w in self.tfidf_.get_feature_names_out()]
        return np.array(["length", "words"] + extra, dtype=object)
