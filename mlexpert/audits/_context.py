"""AuditData: what every check reads (table, target, schema, options) and the shared, cached views
the model-based checks need (a row sample, an encoded feature matrix, out-of-fold predictions).

Large tables are subsampled here, once, so that each check stays cheap: an audit of 100k x 50 takes
a few seconds (``bench/audit_time.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.data import Role, Schema, category_text, epoch_ns

MODEL_ROWS = 15_000  # rows the quick models and the label-issue check see at most
SHIFT_ROWS = 10_000  # rows per side of the adversarial (train vs test) model
MAX_BINS = 256  # bins of a numeric column in the single-feature scores
ROUNDS = 100  # boosting rounds of the quick models (early-stopped)
ROWS_LISTED = 1_000  # row positions a finding lists at most


@dataclass
class Oof:
    """Out-of-fold predictions of the quick model on the sample rows with a target."""

    pred: np.ndarray  # (n, K) probabilities, or (n,) values for regression
    rows: np.ndarray  # positions in the table
    y: np.ndarray  # encoded target of those rows
    seconds: float


@dataclass
class AuditData:
    """The inputs of one audit. ``frame`` holds the feature columns in the caller's row order
    (positions are the row numbers findings report); ``y`` the target, aligned."""

    frame: pd.DataFrame
    y: pd.Series
    target: str
    task: str
    schema: Schema
    deadline: Deadline
    seed: int = 0
    test: pd.DataFrame | None = None  # test table (features, and the target when it has it)
    time: np.ndarray | None = None  # time order per row (float), when a time column was given
    time_column: str | None = None
    groups: np.ndarray | None = None
    groups_column: str | None = None
    max_rows: int = MODEL_ROWS
    skipped: list[str] = field(default_factory=list)  # checks that did not run, and why
    cache: dict[str, Any] = field(default_factory=dict)  # results shared between checks

    # ---- rows -------------------------------------------------------------------------------
    @cached_property
    def labelled(self) -> np.ndarray:
        """Positions of rows whose target is present."""
        return np.flatnonzero(self.y.notna().to_numpy())

    @cached_property
    def sample(self) -> np.ndarray:
        """Labelled positions the model-based checks use (all of them up to ``max_rows``;
        a class-stratified random subsample beyond)."""
        rows = self.labelled
        if len(rows) <= self.max_rows:
            return rows
        rng = np.random.default_rng(self.seed)
        if self.task == "regression":
            return np.sort(rng.choice(rows, self.max_rows, replace=False))
        codes = self.codes_of(rows)
        keep = []
        for k in np.unique(codes):  # keep every class, in proportion, at least 20 rows each
            members = rows[codes == k]
            take = max(min(len(members), 20), int(round(len(members) * self.max_rows / len(rows))))
            keep.append(rng.choice(members, min(take, len(members)), replace=False))
        return np.sort(np.concatenate(keep))

    # ---- target -----------------------------------------------------------------------------
    @cached_property
    def classes(self) -> list[str]:
        return sorted(self._target_text.dropna().unique().tolist()) if self.task != "regression" else []

    @cached_property
    def _target_text(self) -> pd.Series:
        return category_text(self.y)

    def codes_of(self, rows: np.ndarray) -> np.ndarray:
        """Encoded target at ``rows``: class index (sorted labels) or float value."""
        if self.task == "regression":
            return pd.to_numeric(self.y.iloc[rows], errors="coerce").to_numpy(dtype=float)
        return np.searchsorted(np.asarray(self.classes, dtype=object),
                               self._target_text.iloc[rows].to_numpy(dtype=object))

    # ---- features ---------------------------------------------------------------------------
    @cached_property
    def model_columns(self) -> list[str]:
        """Columns a quick model uses: the schema's features minus free text."""
        return [c.name for c in self.schema.features if c.role != Role.TEXT]

    def encode(self, frame: pd.DataFrame, columns: list[str] | None = None,
               categories: dict[str, list[str]] | None = None) -> np.ndarray:
        """A float matrix for tree models: numbers as is, dates as seconds, categories as codes
        in ``categories`` (default: those of the training table; unseen and missing: NaN)."""
        columns = self.model_columns if columns is None else columns
        categories = self._categories if categories is None else categories
        out = np.full((len(frame), len(columns)), np.nan)
        for j, name in enumerate(columns):
            if name not in frame.columns:
                continue
            out[:, j] = self._encode_column(name, frame[name], categories)
        return out

    def _encode_column(self, name: str, values: pd.Series,
                       categories: dict[str, list[str]]) -> np.ndarray:
        info = self._info[name]
        if info.role == Role.CATEGORICAL:
            lookup = pd.Index(categories[name])
            codes = lookup.get_indexer(category_text(values).to_numpy(dtype=object)).astype(float)
            codes[codes < 0] = np.nan
            return codes
        prepared = Schema([info]).prepare(values.to_frame(name))[name]
        if info.role == Role.NUMERIC:
            return np.array(prepared, dtype=float)
        if info.role == Role.DATETIME:
            return epoch_ns(prepared) / 1e9
        raise ValueError(f"column {name!r} ({info.role}) is not encoded")

    def schema_role(self, name: str) -> Role:
        return self._info[name].role

    @cached_property
    def _info(self) -> dict[str, Any]:
        return {c.name: c for c in self.schema.columns}

    @cached_property
    def _categories(self) -> dict[str, list[str]]:
        out = {}
        for c in self.schema.columns:
            if c.role == Role.CATEGORICAL:
                out[c.name] = list(pd.unique(category_text(self.frame[c.name]).dropna()))
        return out

    @cached_property
    def X(self) -> np.ndarray:
        """The encoded sample (rows of ``sample``, columns of ``model_columns``)."""
        return self.encode(self.frame.iloc[self.sample])

    # ---- the quick model --------------------------------------------------------------------
    @cached_property
    def oof(self) -> Oof | None:
        """3-fold out-of-fold predictions of a small LightGBM on the sample; None when the
        deadline leaves no time or there is nothing to learn from."""
        import time

        started = time.monotonic()
        rows = self.sample
        y = self.codes_of(rows)
        if not self.model_columns or len(rows) < 30 or self.deadline.expired():
            return None
        if self.task != "regression" and len(np.unique(y)) < 2:
            return None
        pred = quick_oof(self.X, y, self.task, len(self.classes), self.seed, self.deadline)
        if pred is None:
            return None
        return Oof(pred, rows, y, time.monotonic() - started)

    def oof_without(self, left_out: tuple[str, ...]) -> Oof | None:
        """``oof`` with the columns ``left_out`` out (the quick model fit would train once it
        drops leaks); the same object when nothing is left out, None when no column remains."""
        if not left_out:
            return self.oof
        key = ("oof_without", tuple(sorted(left_out)))
        if key not in self.cache:
            import time

            started = time.monotonic()
            keep = [j for j, c in enumerate(self.model_columns) if c not in left_out]
            rows = self.sample
            y = self.codes_of(rows)
            pred = None
            if keep and self.oof is not None and not self.deadline.expired():
                pred = quick_oof(self.X[:, keep], y, self.task, len(self.classes), self.seed,
                                 self.deadline)
            self.cache[key] = None if pred is None else \
                Oof(pred, rows, y, time.monotonic() - started)
        return self.cache[key]


def folds(y: np.ndarray, task: str, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task != "regression":
        counts = np.bincount(y.astype(int))
        if counts[counts > 0].min() >= k:
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))
    return list(KFold(k, shuffle=True, random_state=seed).split(y))


def quick_oof(X: np.ndarray, y: np.ndarray, task: str, n_classes: int, seed: int,
              deadline: Deadline, k: int = 3,
              fold_list: list[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray | None:
    """Out-of-fold predictions of a small LightGBM (early-stopped on a slice of the training
    fold, stopped at ``deadline``) over ``fold_list`` (default: ``k`` random folds): (n, K)
    probabilities for classification, (n,) values for regression. None when the deadline passes
    before every fold is done."""
    import lightgbm as lgb

    def stop_at_deadline(env: Any) -> None:
        if deadline.expired():
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    out = np.zeros((len(y), n_classes)) if task != "regression" else np.zeros(len(y))
    params = dict(n_estimators=ROUNDS, learning_rate=0.1, num_leaves=15, min_child_samples=10,
                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                  n_jobs=1, verbose=-1)  # one thread: no OpenMP spinning on shared cores
    for tr, va in folds(y, task, k, seed) if fold_list is None else fold_list:
        if deadline.expired():
            return None
        if task == "regression":
            est = lgb.LGBMRegressor(**params)
        else:
            est = lgb.LGBMClassifier(**params)
        callbacks = [lgb.early_stopping(20, verbose=False), stop_at_deadline]
        if task != "regression" and len(np.unique(y[tr])) < n_classes:
            present = np.unique(y[tr])  # a class missing from this fold: predict the others
            est.fit(X[tr], np.searchsorted(present, y[tr]))
            out[np.ix_(va, present)] = est.predict_proba(X[va])
            continue
        # early stopping on a slice of the training fold: stopping on the scored fold would
        # make the out-of-fold scores optimistic (a random target would look learnable)
        rng = np.random.default_rng(seed)
        stop = rng.random(len(tr)) < 0.15
        if task != "regression" and len(np.unique(y[tr][~stop])) < n_classes:
            stop[:] = False
        fit_rows, stop_rows = tr[~stop], tr[stop]
        if len(stop_rows) < 10:
            est.set_params(n_estimators=ROUNDS // 2)
            est.fit(X[fit_rows], y[fit_rows], callbacks=[stop_at_deadline])
        else:
            est.fit(X[fit_rows], y[fit_rows], eval_X=(X[stop_rows],), eval_y=(y[stop_rows],),
                    callbacks=callbacks)
        out[va] = est.predict(X[va]) if task == "regression" else est.predict_proba(X[va])
    return out


def linear_oof(X: np.ndarray, y: np.ndarray, n_classes: int, seed: int, deadline: Deadline,
               k: int = 3) -> np.ndarray | None:
    """Out-of-fold class probabilities of a logistic regression (median-imputed with missing
    indicators, standardised) on the same folds as ``quick_oof``: a second opinion of another
    kind, whose average with the trees ranks wrong labels better than either alone."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.zeros((len(y), n_classes))
    X = np.where(np.isfinite(X), X, np.nan)
    usable = ~np.isnan(X).all(axis=0)
    if not usable.any():
        return None
    X = X[:, usable]
    for tr, va in folds(y, "classification", k, seed):
        if deadline.expired():
            return None
        present = np.unique(y[tr])
        if len(present) < 2:
            return None
        model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                              StandardScaler(), LogisticRegression(max_iter=300))
        model.fit(X[tr], y[tr])
        out[np.ix_(va, present)] = model.predict_proba(X[va])
    return out


# ---- single-feature scores --------------------------------------------------------------------
def bin_codes(values: pd.Series, role: Role, max_bins: int = MAX_BINS) -> np.ndarray:
    """Integer codes of one column for target encoding: quantile bins for numbers and dates,
    category codes otherwise; missing values get a code of their own (missingness can leak)."""
    if role in (Role.NUMERIC, Role.DATETIME):
        if role == Role.DATETIME:
            num = epoch_ns(values)
        else:
            num = np.array(pd.to_numeric(values, errors="coerce"), dtype=float)
            num[~np.isfinite(num)] = np.nan
        ok = ~np.isnan(num)
        codes = np.zeros(len(num), dtype=np.int64)
        if ok.any():
            uniq = np.unique(num[ok])
            if len(uniq) <= max_bins:
                edges = uniq
            else:
                edges = np.unique(np.quantile(num[ok], np.linspace(0, 1, max_bins + 1)))
            codes[ok] = np.searchsorted(edges, num[ok], side="left") + 1
        return codes
    codes, _ = pd.factorize(category_text(values), use_na_sentinel=True)
    return codes.astype(np.int64) + 1


def single_feature_score(codes: np.ndarray, y: np.ndarray, task: str, n_classes: int,
                         fold_list: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Cross-validated skill of one column alone: out-of-fold smoothed target means per code,
    scored as ROC AUC (classification, macro one-vs-rest) or R^2 (regression)."""
    pred = code_oof(codes, y, task, n_classes, fold_list)
    if task == "regression":
        return r2(y, pred)
    return auc(y.astype(np.int64), pred)


def code_oof(codes: np.ndarray, y: np.ndarray, task: str, n_classes: int,
             fold_list: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Out-of-fold smoothed target means per code: (n,) values or (n, K) probabilities."""
    n_codes = int(codes.max()) + 1
    m = 1.0  # smoothing towards the training fold's prior
    if task == "regression":
        pred = np.zeros(len(y))
        for tr, va in fold_list:
            s = np.bincount(codes[tr], weights=y[tr], minlength=n_codes)
            c = np.bincount(codes[tr], minlength=n_codes)
            prior = y[tr].mean()
            pred[va] = ((s + m * prior) / (c + m))[codes[va]]
        return pred
    y = y.astype(np.int64)
    pred = np.zeros((len(y), n_classes))
    for tr, va in fold_list:
        pred[va] = _leaf_probabilities(codes[tr], y[tr], codes[va], n_codes, n_classes, m)
    return pred


def _leaf_probabilities(codes_tr: np.ndarray, y_tr: np.ndarray, codes_va: np.ndarray,
                        n_codes: int, n_classes: int, m: float = 1.0) -> np.ndarray:
    joint = np.bincount(codes_tr * n_classes + y_tr, minlength=n_codes * n_classes)
    joint = joint.reshape(n_codes, n_classes).astype(float)
    prior = np.bincount(y_tr, minlength=n_classes) / len(y_tr)
    return ((joint + m * prior) / (joint.sum(axis=1, keepdims=True) + m))[codes_va]


def tree_oof(values: np.ndarray, y: np.ndarray, n_classes: int,
             fold_list: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Out-of-fold class probabilities of a small decision tree on one numeric column (its
    cut points adapt to where the classes change, which fixed quantile bins miss on small
    tables); leaves smoothed towards the fold's prior like ``code_oof``."""
    from sklearn.tree import DecisionTreeClassifier

    x = np.where(np.isfinite(values), values, np.nan)[:, None]
    y = y.astype(np.int64)
    pred = np.zeros((len(y), n_classes))
    leaf = max(5, len(y) // 100)
    for tr, va in fold_list:
        tree = DecisionTreeClassifier(min_samples_leaf=leaf, max_leaf_nodes=64, random_state=0)
        tree.fit(x[tr], y[tr])
        lt, lv = tree.apply(x[tr]), tree.apply(x[va])
        n_leaves = int(max(lt.max(), lv.max())) + 1
        pred[va] = _leaf_probabilities(lt, y[tr], lv, n_leaves, n_classes)
    return pred


def class_evidence(y: np.ndarray, pred: np.ndarray,
                   fold_list: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """How well out-of-fold probabilities ``pred`` (n, K) separate the classes: the ROC AUC of
    each class against the rest (macro and worst), and the log-loss gain over the training
    folds' class shares (0: no information, 1: the class is known for certain)."""
    y = y.astype(np.int64)
    prior = np.zeros(len(y))
    for tr, va in fold_list:
        prior[va] = (np.bincount(y[tr], minlength=pred.shape[1]) / len(tr))[y[va]]
    given = np.clip(pred[np.arange(len(y)), y], 1e-3, 1.0)
    base = float(-np.mean(np.log(np.clip(prior, 1e-3, 1.0))))
    per_class = [binary_auc(y == k, pred[:, k]) for k in np.unique(y)]
    per_class = [a for a in per_class if np.isfinite(a)]
    return {"macro_auc": float(np.mean(per_class)) if per_class else float("nan"),
            "min_class_auc": float(min(per_class)) if per_class else float("nan"),
            "log_loss_gain": 1.0 - float(-np.mean(np.log(given))) / base if base > 0 else 0.0}


def linear_oof_r2(values: np.ndarray, y: np.ndarray,
                  fold_list: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Out-of-fold R^2 of a straight line through one numeric column (rows with the value
    missing predicted by the fold's mean): the share of the target's variance it explains."""
    ok = np.isfinite(values)
    pred = np.zeros(len(y))
    for tr, va in fold_list:
        t = tr[ok[tr]]
        pred[va] = y[tr].mean()
        if len(t) < 3 or np.ptp(values[t]) == 0:
            continue
        slope, intercept = np.polyfit(values[t], y[t], 1)
        v = va[ok[va]]
        pred[v] = slope * values[v] + intercept
    return r2(y, pred)


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    sst = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / sst if sst > 0 else 0.0


def monotone_score(values: pd.Series, role: Role, y: np.ndarray, task: str) -> float:
    """The column itself as a prediction, in its better direction: ROC AUC of its values
    (classification, macro one-vs-rest) or squared correlation (regression). No fitting beyond
    the direction, so no cross-validation is needed; missing values are left out."""
    if role == Role.DATETIME:
        x = epoch_ns(values)
    else:
        x = np.array(pd.to_numeric(values, errors="coerce"), dtype=float)
    ok = np.isfinite(x)
    if ok.sum() < 10 or np.ptp(x[ok]) == 0:
        return 0.5 if task != "regression" else 0.0
    x, yy = x[ok], y[ok]
    if task == "regression":
        if np.std(yy) == 0:
            return 0.0
        return float(np.corrcoef(x, yy)[0, 1] ** 2)
    scores = []
    for k in np.unique(yy):
        a = binary_auc(yy == k, x)
        if np.isfinite(a):
            scores.append(max(a, 1 - a))
    if not scores:
        return 0.5
    return float(scores[-1]) if len(np.unique(yy)) == 2 else float(np.mean(scores))


def auc(y: np.ndarray, pred: np.ndarray) -> float:
    """ROC AUC of (n, K) probabilities: binary, or macro one-vs-rest over the classes present."""
    present = np.unique(y)
    if len(present) < 2:
        return float("nan")
    if pred.shape[1] == 2:
        return binary_auc(y == present[-1], pred[:, present[-1]])
    return float(np.mean([binary_auc(y == k, pred[:, k]) for k in present]))


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def skill(score: float, task: str) -> float:
    """A score on one scale: 0 = no better than chance, 1 = perfect (2 AUC - 1, or R^2)."""
    return 2 * score - 1 if task != "regression" else score


def listed(rows: np.ndarray | list[int]) -> tuple[int, ...]:
    """At most ROWS_LISTED row positions, as plain ints."""
    return tuple(int(r) for r in list(rows)[:ROWS_LISTED])
