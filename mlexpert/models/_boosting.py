"""Gradient-boosted tree families: LightGBM, XGBoost, CatBoost.

Each early-stops on the validation fold when one is given, stops adding rounds when the deadline
passes, and is refitted on all rows with the mean best round of its fold fits (plus 10 %, since
it then sees more data).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from mlexpert.models._base import FitRequest, Fitted

MAX_ROUNDS = 10_000
EARLY_STOP = 50


def _refit_rounds(params: dict[str, Any], fitted: list[Fitted], key: str) -> dict[str, Any]:
    rounds = [f.best_iteration for f in fitted if f.best_iteration]
    if not rounds:
        return dict(params)
    return {**params, key: max(1, int(round(np.mean(rounds) * 1.1)))}


def _space(defaults: dict[str, Any], **ranges: tuple[Any, ...]) -> dict[str, Any]:
    """Optuna distributions from compact ranges: (low, high, "log"|"int"|"intlog"|"lin") or a
    list of choices; ``defaults`` ride along under ``"_defaults"``."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, spec in ranges.items():
        if isinstance(spec, list):
            out[name] = CategoricalDistribution(spec)
            continue
        low, high, how = spec
        if how.startswith("int"):
            out[name] = IntDistribution(low, high, log=how == "intlog")
        else:
            out[name] = FloatDistribution(low, high, log=how == "log")
    out["_defaults"] = defaults
    return out


class LightGBMFamily:
    name = "lightgbm"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        base = {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                "colsample_bytree": 0.9, "subsample": 1.0, "reg_lambda": 0.0}
        return [
            ("lightgbm", base),
            ("lightgbm_xt", {**base, "extra_trees": True}),
            ("lightgbm_large", {**base, "learning_rate": 0.03, "num_leaves": 128,
                                "min_child_samples": 5, "colsample_bytree": 0.9,
                                "cat_l2": 1.0, "cat_smooth": 0.0, "max_cat_to_onehot": 8}),
        ]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import lightgbm as lgb

        state = {"truncated": False}

        def stop_at_deadline(env: Any) -> None:
            if req.deadline.expired():
                state["truncated"] = True
                raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

        cls = lgb.LGBMRegressor if req.task == "regression" else lgb.LGBMClassifier
        est = cls(n_estimators=params.get("n_estimators", MAX_ROUNDS),
                  **{k: v for k, v in params.items() if k != "n_estimators"},
                  random_state=req.seed, n_jobs=req.n_threads, verbose=-1, deterministic=True,
                  force_col_wise=True)
        callbacks = [stop_at_deadline]
        kwargs: dict[str, Any] = {}
        if req.X_val is not None:
            callbacks.append(lgb.early_stopping(EARLY_STOP, verbose=False))
            kwargs.update(eval_X=(req.X_val,), eval_y=(req.y_val,))
        est.fit(X, y, sample_weight=req.sample_weight, categorical_feature=req.categorical or "auto",
                callbacks=callbacks, **kwargs)
        best = est.best_iteration_ or est.booster_.current_iteration()
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=state["truncated"])

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return _refit_rounds(params, fitted, "n_estimators")

    def search_space(self, task: str) -> dict[str, Any]:
        # ranges as in FLAML's and AutoGluon's LightGBM spaces (FLAML's reach down to 4 leaves
        # and up to 128+ rows per leaf: strongly regularized trees win on noisy tables);
        # bagging needs subsample_freq
        return _space(
            {"subsample_freq": 1, "subsample": 1.0, "reg_lambda": 1e-3, "reg_alpha": 1e-3,
             "extra_trees": False, "cat_l2": 10.0, "cat_smooth": 10.0},
            learning_rate=(0.01, 0.2, "log"), num_leaves=(4, 256, "intlog"),
            min_child_samples=(2, 200, "intlog"), colsample_bytree=(0.4, 1.0, "lin"),
            subsample=(0.5, 1.0, "lin"), reg_lambda=(1e-3, 10.0, "log"),
            reg_alpha=(1e-3, 10.0, "log"), extra_trees=[False, True],
            cat_l2=(1.0, 50.0, "log"), cat_smooth=(1.0, 50.0, "log"))


class _XGBDeadline:
    """XGBoost training callback that ends training when the deadline passes."""

    def __init__(self, deadline: Any):
        self.deadline = deadline
        self.truncated = False

    def make(self) -> Any:
        import xgboost as xgb

        outer = self

        class _Callback(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if outer.deadline.expired():
                    outer.truncated = True
                    return True
                return False

        return _Callback()


class XGBoostFamily:
    name = "xgboost"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [("xgboost", {"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0,
                             "colsample_bytree": 0.9, "max_cat_to_onehot": 8})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import xgboost as xgb

        n_features = X.shape[1]
        feature_types = ["c" if i in set(req.categorical) else "q" for i in range(n_features)]
        stopper = _XGBDeadline(req.deadline)
        cls = xgb.XGBRegressor if req.task == "regression" else xgb.XGBClassifier
        early = EARLY_STOP if req.X_val is not None else None
        est = cls(n_estimators=params.get("n_estimators", MAX_ROUNDS),
                  **{k: v for k, v in params.items() if k != "n_estimators"},
                  tree_method="hist", enable_categorical=True, feature_types=feature_types,
                  early_stopping_rounds=early, callbacks=[stopper.make()], random_state=req.seed,
                  n_jobs=req.n_threads, verbosity=0)
        kwargs: dict[str, Any] = {"verbose": False}
        if req.X_val is not None:
            kwargs["eval_set"] = [(req.X_val, req.y_val)]
        est.fit(X, y, sample_weight=req.sample_weight, **kwargs)
        best = getattr(est, "best_iteration", None) if early else None
        best = (best + 1) if best is not None else est.get_booster().num_boosted_rounds()
        est.set_params(callbacks=None)  # the callback holds the deadline: keep the model plain
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=stopper.truncated)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return _refit_rounds(params, fitted, "n_estimators")

    def search_space(self, task: str) -> dict[str, Any]:
        return _space(
            {"max_cat_to_onehot": 8, "subsample": 1.0, "reg_lambda": 1.0},
            learning_rate=(0.01, 0.3, "log"), max_depth=(3, 10, "int"),
            min_child_weight=(0.5, 20.0, "log"), subsample=(0.5, 1.0, "lin"),
            colsample_bytree=(0.4, 1.0, "lin"), reg_lambda=(1e-3, 10.0, "log"))


class _CatBoostDeadline:
    """CatBoost callback: ``after_iteration`` returning False stops training at the deadline or
    after Ctrl-C. CatBoost swallows a KeyboardInterrupt raised inside its training loop (even in a
    callback) and returns the model trained so far, so Ctrl-C is recorded by a signal handler while
    CatBoost trains and re-raised after it returns (see ``interruptible``)."""

    def __init__(self, deadline: Any):
        self.deadline = deadline
        self.truncated = False
        self.interrupted = False

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Records SIGINT during the block and re-delivers it to the previous handler afterwards.
        Signal handlers can only be set from the main thread; elsewhere the block runs as is."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._record)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        if self.interrupted:
            signal.raise_signal(signal.SIGINT)

    def _record(self, signum: int, frame: Any) -> None:
        self.interrupted = True

    def after_iteration(self, info: Any) -> bool:
        if self.interrupted:
            return False
        if self.deadline.expired():
            self.truncated = True
            return False
        return True


class _CatBoostInput:
    """Turns the float matrix into a DataFrame with integer categorical codes (missing = -1)."""

    def __init__(self, categorical: list[int]):
        self.categorical = list(categorical)

    def __call__(self, X: Any) -> Any:
        import pandas as pd

        frame = pd.DataFrame(np.asarray(X, dtype=float))
        for i in self.categorical:
            frame[i] = frame[i].fillna(-1).astype(np.int64)
        return frame


class CatBoostFamily:
    name = "catboost"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        # statistics of single columns only: CatBoost's default (combinations of up to 4 columns
        # from 200 iterations on, none below) would change between the fold models and a refit
        # with fewer rounds, and only single-column statistics convert to ONNX trees. The tuner
        # tries combinations (bench/catboost_ctr.py: they help CatBoost on 2 of 10 dev tasks)
        return [("catboost", {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0,
                              "max_ctr_complexity": 1})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import catboost as cb

        adapter = _CatBoostInput(req.categorical)
        stopper = _CatBoostDeadline(req.deadline)
        if req.task == "regression":
            est = cb.CatBoostRegressor(loss_function="RMSE")
        else:
            est = cb.CatBoostClassifier(
                loss_function="Logloss" if req.task == "binary" else "MultiClass")
        est.set_params(iterations=params.get("iterations", MAX_ROUNDS),
                       **{k: v for k, v in params.items() if k != "iterations"},
                       random_seed=req.seed, thread_count=req.n_threads, verbose=False,
                       allow_writing_files=False, cat_features=req.categorical)
        kwargs: dict[str, Any] = {}
        if req.X_val is not None:
            kwargs.update(eval_set=(adapter(req.X_val), req.y_val), early_stopping_rounds=EARLY_STOP,
                          use_best_model=True)
        with stopper.interruptible():
            est.fit(adapter(X), y, sample_weight=req.sample_weight, callbacks=[stopper], **kwargs)
        best = est.get_best_iteration() if req.X_val is not None else None
        best = (best + 1) if best is not None else est.tree_count_
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=stopper.truncated,
                      extra={"adapter": adapter})

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return _refit_rounds(params, fitted, "iterations")

    def search_space(self, task: str) -> dict[str, Any]:
        return _space({"random_strength": 1.0},
                      learning_rate=(0.02, 0.2, "log"), depth=(4, 8, "int"),
                      l2_leaf_reg=(1.0, 10.0, "log"), random_strength=(0.5, 5.0, "log"),
                      max_ctr_complexity=(1, 4, "int"))
