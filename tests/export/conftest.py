"""Models of each family built directly (one fit, few rounds) and the held-out rows with missing
values and unseen categories that parity is checked on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlexpert._clock import Deadline
from mlexpert.bundle import Model
from mlexpert.data import infer_schema
from mlexpert.ensemble import Member
from mlexpert.features import build_preprocessor, one_hot_blocks
from mlexpert.models import FitRequest, get_family
from tests.conftest import make_table

ROUNDS = {"lightgbm": {"n_estimators": 40}, "xgboost": {"n_estimators": 40},
          "catboost": {"iterations": 40}, "random_forest": {"n_estimators": 15},
          "extra_trees": {"n_estimators": 15}, "hist_gradient_boosting": {"max_iter": 40},
          "linear": {}, "mlp": {"epochs": 12, "category_dim": 8}}  # the shop code: embedded


def split(task: str, numeric_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows with target, hostile held-out rows without it)."""
    frame = make_table(task, n=360, seed=1).drop(columns="review")
    # a shop code stored as text, over HIGH_CARDINALITY levels: LevelEncoding on every path
    frame.insert(4, "shop", [f"{k:04d}" for k in np.random.default_rng(5).integers(0, 90, 360)])
    if numeric_only:
        frame = frame[["x1", "x2", "when", "y"]]
    train, test = frame.iloc[:280], frame.iloc[280:].drop(columns="y").copy()
    idx = test.index
    test.loc[idx[0:6], "x1"] = np.nan
    test.loc[idx[6:10], "x2"] = np.nan
    test.loc[idx[10:14], "when"] = None
    test.loc[idx[14:16], "when"] = "2031-07-04"  # beyond the training dates
    test.loc[idx[16:18], "x2"] = 1e6  # far outside the training range
    test.loc[idx[30:32], "x1"] = [1e39, -1e300]  # beyond float32 (forests compare float32)
    test.loc[idx[32:34], "when"] = ["2300-01-01", "1500-06-30"]  # beyond datetime64[ns]
    if not numeric_only:
        test.loc[idx[18:24], "color"] = "never-seen"
        test.loc[idx[24:30], "size"] = None
        test.loc[idx[18:21], "shop"] = "9999"  # an unseen code
        test.loc[idx[21:24], "shop"] = None
    return train, test


def fit_member(family_name: str, task: str, train: pd.DataFrame, rows: np.ndarray | None = None,
               weight: float = 1.0, early_stop: bool = False):
    """One Member of ``family_name`` fitted on ``train`` (or its ``rows``), with its schema."""
    X_raw = train.drop(columns="y")
    schema = infer_schema(X_raw)
    family = get_family(family_name)
    rows = np.arange(len(train)) if rows is None else rows
    pre = build_preprocessor(schema, family.kind, task=task)
    y_raw = train["y"].iloc[rows]
    if task == "regression":
        y, classes = y_raw.to_numpy(float), None
    else:
        classes = sorted(train["y"].unique())
        y = np.searchsorted(classes, y_raw.to_numpy())
    X = pre.transformer.fit_transform(schema.prepare(X_raw.iloc[rows]), y)
    params = {**family.configs(task)[0][1], **ROUNDS[family_name]}
    extra = {}
    if early_stop:  # as fold models are: early-stopped on a validation part (a bag's members)
        params = family.configs(task)[0][1]
        cut = len(y) * 3 // 4
        X, X_val, y, y_val = X[:cut], X[cut:], y[:cut], y[cut:]
        extra = {"X_val": X_val, "y_val": y_val}
    req = FitRequest(task=task, n_classes=len(classes or []), categorical=pre.categorical, seed=0,
                     deadline=Deadline.after(120), n_threads=1,
                     one_hot_blocks=one_hot_blocks(pre.transformer), **extra)
    fitted = family.fit(X, y, params, req)
    return schema, classes, (pre.transformer, fitted)


def make_model(task: str, schema, classes, members: list[Member], **manifest) -> Model:
    return Model({"schema": schema.to_dict(), "metric": "m", "leaderboard": [], "findings": [],
                  "metrics": {"cv": {}},
                  "target": {"name": "y", "task": task, "classes": classes}, **manifest}, members)


def family_model(family_name: str, task: str, numeric_only: bool = False) -> tuple[Model, pd.DataFrame]:
    model, test, _ = ensemble_model(task, (family_name, 1.0), numeric_only=numeric_only)
    return model, test


def ensemble_model(task: str, *weighted: tuple[str, float], numeric_only: bool = False):
    """(Model, test rows, each member's (transformer, fitted)): one refitted member per
    (family name, weight), in that order, fitted on the task's training rows."""
    train, test = split(task, numeric_only)
    members, parts = [], []
    for name, weight in weighted:
        schema, classes, part = fit_member(name, task, train)
        members.append(Member(name, name, weight, [part], True))
        parts.append(part)
    return make_model(task, schema, classes, members), test, parts


@pytest.fixture(scope="module")
def session_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return so
