"""Planning: which task, which metric, which cross-validation split.

The split is the leak guard: stratified K-fold for classification, K-fold for regression,
grouped when ``groups`` is given, time-ordered (no future rows in a training fold) when
``time_column`` is given. When the data hints at groups or time and the user gave neither, the
audit says so with the evidence (``split_groups_suggested``, ``split_time_suggested``), in
``mlexpert.audit`` and in fit's findings alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlexpert.data import Role, Schema
from mlexpert.errors import DataError, bad_option
from mlexpert.evaluate import Metric, default_metric, get_metric
from mlexpert.findings import Finding

TASKS = ("binary", "multiclass", "regression")
MAX_INT_CLASSES = 10  # an integer target with at most this many values is a classification
SplitKind = Literal["stratified", "kfold", "group", "time"]
# Fewer folds when the data is big for the budget, so that the portfolio's first candidates
# finish: 3 folds cost about half of 5. The measure is FLAML's for choosing holdout over CV (rows
# x features / 0.9 against cells per hour of budget) at 5x its threshold of 10M: on the dev suite
# at 20 s, FLAML's own threshold moved 8 of 12 tasks to 3 folds and lost as much as it won
# (email_spam -0.011 AUC), while the task that needs it, trump_tweet_source (16k tweets, whose
# first candidate could not finish 5 folds: log loss 0.28 -> 0.20), is 7.7x over. A text column
# counts as many features (TF-IDF + SVD per fold dominates a tree fit's cost on tweets).
CELLS_PER_HOUR = 50_000_000
TEXT_FEATURE_WEIGHT = 20


@dataclass(frozen=True)
class SplitPlan:
    """How rows are split into cross-validation folds."""

    kind: SplitKind
    n_splits: int
    seed: int = 0

    def folds(self, y: np.ndarray, groups: np.ndarray | None = None,
              order: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train_idx, val_idx) pairs; for ``time`` no validation row precedes a training row."""
        from sklearn import model_selection as ms

        n = len(y)
        if self.kind == "time":
            ranked = np.argsort(order, kind="stable")
            splitter = ms.TimeSeriesSplit(n_splits=self.n_splits)
            return [(ranked[tr], ranked[va]) for tr, va in splitter.split(ranked)]
        if self.kind == "group":
            splitter = ms.GroupKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
            return list(splitter.split(np.zeros(n), y, groups))
        if self.kind == "stratified":
            splitter = ms.StratifiedKFold(self.n_splits, shuffle=True, random_state=self.seed)
            return list(splitter.split(np.zeros(n), y))
        splitter = ms.KFold(self.n_splits, shuffle=True, random_state=self.seed)
        return list(splitter.split(np.zeros(n)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_splits": self.n_splits, "seed": self.seed}


@dataclass
class Plan:
    task: str
    metric: Metric
    split: SplitPlan
    findings: list[Finding] = field(default_factory=list)


def infer_task(y: pd.Series) -> str:
    """binary / multiclass / regression from the target's values: two values are binary, text
    is multiclass, a few whole numbers of an integer column are classes; whole numbers stored as
    decimals (``1.0`` .. ``5.0``: a rating scale, an average) are a quantity, so regression (as is an
    integer column with missing values, which pandas reads as decimals: the warning of
    ``task_finding`` names the choice either way)."""
    values = y.dropna()
    n_unique = values.nunique()
    if n_unique == 2:
        return "binary"
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        return "multiclass"
    if _few_whole_numbers(values) and not pd.api.types.is_float_dtype(values.dtype):
        return "multiclass"
    return "regression"


def _few_whole_numbers(values: pd.Series) -> bool:
    return (values.nunique() <= MAX_INT_CLASSES
            and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)))


def task_finding(y: pd.Series, task: str) -> Finding | None:
    """The warning that says which of regression / multiclass a few whole numbers were read as,
    and how to ask for the other."""
    values = y.dropna()
    if (task not in ("multiclass", "regression") or not pd.api.types.is_numeric_dtype(values.dtype)
            or pd.api.types.is_bool_dtype(values.dtype) or not _few_whole_numbers(values)):
        return None
    n_unique, name = int(values.nunique()), str(y.name)
    if task == "multiclass":
        message = (f"target {name!r} has {n_unique} whole-number values: treated as "
                   f"{n_unique} unordered classes (multiclass).")
        suggestion = ("if they are an ordered scale or a count, pass task='regression' "
                      "(CLI --task regression).")
    else:
        message = (f"target {name!r} has {n_unique} whole-number values stored as decimals "
                   f"(such as a rating scale): treated as an ordered quantity (regression).")
        suggestion = ("if they are unordered categories, pass task='multiclass' "
                      "(CLI --task multiclass).")
    return Finding(check="task_inferred", severity="warning", columns=(name,), message=message,
                   evidence={"distinct": n_unique, "task": task}, suggestion=suggestion)


def _n_splits(n_rows: int, smallest_class: int | None, weight: int = 0,
              time_limit: float | None = None) -> int:
    """5 folds; 3 beyond 200,000 rows or when rows x ``weight`` (feature weight) is large for
    ``time_limit`` seconds; never more than the smallest class has rows."""
    big = time_limit is not None and n_rows * weight / 0.9 >= CELLS_PER_HOUR * time_limit / 3600
    k = 5 if n_rows <= 200_000 and not big else 3
    if smallest_class is not None:
        k = min(k, smallest_class)
    return max(2, min(k, n_rows // 2))


def make_plan(schema: Schema, frame: pd.DataFrame, y: pd.Series, *, task: str | None,
              metric: str | None, groups: np.ndarray | None, time_order: np.ndarray | None,
              seed: int, time_limit: float | None = None) -> Plan:
    """Decide task, metric and split; ``frame`` is the feature table (kept in the signature fit
    calls; the split hints are the audit's); ``time_limit`` (seconds) lowers the fold count for
    data that is big for it."""
    findings: list[Finding] = []
    if task is None:
        task = infer_task(y)
        said = task_finding(y, task)
        findings += [said] if said is not None else []
    elif task not in TASKS:
        raise bad_option("task", task, "one of binary, multiclass, regression")
    n_unique = y.nunique()
    if task in ("binary", "multiclass"):
        if n_unique < 2:
            only = y.dropna().iloc[0] if len(y.dropna()) else None
            raise DataError(f"target {y.name!r} has a single value ({only!r}): a classifier needs "
                            "at least two classes. Check the target column or the filter.")
        if task == "binary" and n_unique > 2:
            raise bad_option("task", task, f"multiclass: target {y.name!r} has {n_unique} classes")
        if task == "multiclass" and n_unique == 2:
            task = "binary"
    elif not pd.api.types.is_numeric_dtype(y.dtype):
        raise DataError(f"target {y.name!r} is not numeric, so it cannot be a regression target. "
                        "Pass task='multiclass' or fix the column.")
    chosen = default_metric(task) if metric is None else get_metric(metric, task)
    smallest = int(y.value_counts().min()) if task != "regression" else None
    weight = sum(TEXT_FEATURE_WEIGHT if c.role == Role.TEXT else 1 for c in schema.features)
    k = _n_splits(len(y), smallest, weight, time_limit)
    if time_order is not None:
        split = SplitPlan("time", k, seed)
    elif groups is not None:
        n_groups = len(pd.unique(groups))
        if n_groups < 2:
            raise DataError("groups has a single value: grouped cross-validation needs at least "
                            "two groups.")
        split = SplitPlan("group", min(k, n_groups), seed)
    else:
        split = SplitPlan("stratified" if task != "regression" else "kfold", k, seed)
    return Plan(task, chosen, split, findings)
