"""Whose history a row continues: fit's ``entity`` option checked against the table, or inferred
from it when ``time_column`` is given, and the horizon the folds ask the history features for."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.data import Role, Schema, entity_keys, panel_entity, repeats
from mlexpert.errors import DataError, missing_column
from mlexpert.features import HistorySpec
from mlexpert.findings import Finding

REACH = 2  # training rows reach twice as far back as the last fold predicts ahead: rows further
# out than the validation block are then not beyond anything the models saw (test RMSE, 2x vs
# 1x: cigar_sales, mlexpert at 60 s, 9.00 vs 9.79; produc_gsp, LightGBM defaults, 2 seeds,
# 7764 vs 8178)
PROPORTIONAL_SPAN = 10.0  # a positive target whose largest value is this many times its
# smallest changes in proportion to its level (money, counts): produc_gsp (107x) 5079 vs 7764
# RMSE with log ratios; cigar_sales (5.6x) stays with differences (10.1 vs 9.3)


def history_spec(entity: str | bool | None, time_column: str | None, frame: pd.DataFrame,
                 schema: Schema, order: np.ndarray | None,
                 folds: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray,
                 task: str) -> tuple[HistorySpec | None, list[Finding]]:
    """The entity history fit builds (None: none) and the finding that says so. ``entity``: a
    column, False for none, None to infer it when ``time_column`` is given; ``frame``: the
    features; ``order``: the time column as numbers; ``y``: the encoded target."""
    if entity is False or time_column is None or order is None:
        return None, []
    roles = {c.name: c.role for c in schema.columns}
    if time_column not in roles or roles[time_column] not in (Role.NUMERIC, Role.DATETIME,
                                                              Role.CATEGORICAL):
        return None, []  # not a feature (a constant, left out by the audit): nothing to follow
    inferred = entity is None
    if inferred:
        entity = panel_entity(frame, schema, time_column, order)
        if entity is None:
            return None, []
    assert isinstance(entity, str)
    if entity not in frame.columns:
        raise missing_column(entity, "entity", frame.columns)
    role = roles.get(entity)
    if role not in (Role.NUMERIC, Role.CATEGORICAL):
        why = "has a different value in every row" if role == Role.ID else \
            f"is not a feature ({'a single value' if role == Role.CONSTANT else role})"
        raise DataError(f"entity column {entity!r} {why}: no row continues another's history. "
                        "Pass the column that names whose history a row continues "
                        "(a customer, a store), or entity=False.")
    if entity == time_column:
        raise DataError(f"entity column {entity!r} is the time column; pass the column that "
                        "names whose history a row continues.")
    keys = entity_keys(frame[entity])
    n_entities, times = repeats(keys, order)
    validated = _horizon(keys, order, folds)
    relative = task == "regression" and _proportional(y)
    spec = HistorySpec(entity=entity, time=time_column, horizon=REACH * validated,
                       relative=relative)
    how = "inferred: it repeats over" if inferred else "given, over"
    change = "ratio to" if relative else "change from"
    message = (f"rows continue the history of {entity!r} ({how} {time_column!r}: "
               f"{n_entities} entities, a median of {times:g} times each): each row also gets "
               f"its entity's earlier known targets (last value, window mean, spread and trend, "
               f"changes since), from 1 to {spec.horizon} time steps back (the last fold "
               f"predicts {validated} ahead)"
               + (f"; trees learn the {change} the last known value." if task == "regression"
                  else "."))
    suggestion = ("pass entity=False to leave them out, or entity='column' to name another "
                  "(CLI --entity).") if inferred else ""
    return spec, [Finding(check="entity_history", severity="info", columns=(entity, time_column),
                          message=message, evidence={"entities": n_entities,
                                                     "median_times": times,
                                                     "horizon": spec.horizon,
                                                     "relative": relative,
                                                     "inferred": inferred},
                          suggestion=suggestion)]


def _horizon(keys: pd.Series, order: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """How many distinct time steps past its training rows the last fold validates an entity on
    (the median over its entities; at least 1): what the history features must reach."""
    if not folds:
        return 1
    _, va = folds[-1]
    block = pd.DataFrame({"e": keys.to_numpy()[va], "t": order[va]}).dropna().drop_duplicates()
    if not len(block):
        return 1
    return max(1, int(np.median(block.groupby("e", sort=False)["t"].size())))


def _proportional(y: np.ndarray) -> bool:
    """Whether a regression target is positive and spans ``PROPORTIONAL_SPAN`` times or more."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    return bool(len(y) and y.min() > 0 and y.max() >= PROPORTIONAL_SPAN * y.min())
