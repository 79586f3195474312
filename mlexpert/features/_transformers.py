"""Transformers for the roles scikit-learn does not cover directly: dates and free text."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

_CYCLES = {"month": 12, "day_of_week": 7, "hour": 24}


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Expand each datetime column into calendar parts, cyclical sin/cos pairs and days since epoch.

    Hour and cyclical hour are produced only for columns that carried a time of day at fit.
    """

    def fit(self, X: pd.DataFrame, y=None):
        X = pd.DataFrame(X)
        self.columns_ = list(X.columns)
        self.has_time_ = {c: bool((X[c].dropna().dt.hour != 0).any() or
                                  (X[c].dropna().dt.minute != 0).any()) for c in self.columns_}
        return self

    def _parts(self, col: str) -> list[str]:
        parts = ["year", "month", "day", "day_of_week", "day_of_year", "epoch_days",
                 "month_sin", "month_cos", "day_of_week_sin", "day_of_week_cos"]
        if self.has_time_[col]:
            parts += ["hour", "hour_sin", "hour_cos"]
        return parts

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        out = []
        for c in self.columns_:
            t = pd.to_datetime(X[c])
            for part in self._parts(c):
                if part == "epoch_days":
                    v = (t - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
                elif part.endswith(("_sin", "_cos")):
                    base = part[:-4]
                    angle = 2 * np.pi * getattr(t.dt, base).astype(float) / _CYCLES[base]
                    v = np.sin(angle) if part.endswith("_sin") else np.cos(angle)
                else:
                    v = getattr(t.dt, part)
                out.append(np.asarray(v, dtype=float))
        return np.column_stack(out) if out else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"{c}__{p}" for c in self.columns_ for p in self._parts(c)], dtype=object)


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
