"""Feature selection for wide tables: near-duplicate numbers (read without the target, once) and
columns a quick model does not prefer over shuffled copies of the columns fitted beside them
(shadow features, as Boruta does; fitted on a training fold's rows only, so out-of-fold scores
stay honest).

Only numeric and categorical columns are judged; dates and text are always kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlexpert.data import Role, Schema

DUPLICATE_R = 0.999  # |Pearson r| on the rows from which a number duplicates an earlier one
# A column stays when its gain beats the SHADOW_QUANTILE-th percentile of its round's shadow
# gains in at least SHADOW_HITS of SHADOW_ROUNDS rounds. Chosen on modeldata's pd_speech,
# hepatic_injury_qsar and permeability_qsar (two 5-fold repeats of a 300-tree LightGBM on the
# kept columns, selection inside each fold): all columns 0.886 AUC / 1.333 log loss / 10.52
# RMSE; this rule 0.888 / 1.308 / 10.67 with 182 of 715, 69 of 370, 80 of 1,069 columns; the
# former rule (gain above the largest of 4 permuted-target fits' gains: one model on the real
# target, another on noise, where a weak column's gain is not on the noise's scale) 0.864 /
# 1.373 / 11.57
SHADOW_ROUNDS = 5
SHADOW_QUANTILE = 80.0
SHADOW_HITS = 2
MIN_KEPT = 10  # judged columns kept at least (the most important), even on a pure-noise target
SAMPLE_ROWS = 5_000  # rows the quick models see at most
_PARAMS = dict(n_estimators=60, learning_rate=0.1, num_leaves=15, min_child_samples=10,
               colsample_bytree=0.5, subsample=0.8, subsample_freq=1, max_bin=63, verbose=-1,
               n_jobs=1)


@dataclass
class Selection:
    """The columns kept and why each other one was dropped."""

    kept: list[str]
    dropped: dict[str, str] = field(default_factory=dict)


def near_duplicates(frame: pd.DataFrame, schema: Schema, seed: int = 0) -> dict[str, str]:
    """Numeric columns that repeat an earlier one (|r| >= ``DUPLICATE_R`` on a row sample):
    {dropped column: why}. Reads no target."""
    names = [c.name for c in schema.features if c.role == Role.NUMERIC]
    if len(names) < 2:
        return {}
    rows = frame if len(frame) <= SAMPLE_ROWS else frame.sample(SAMPLE_ROWS, random_state=seed)
    values = rows[names].to_numpy(dtype=float)
    values = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
    spread = values.std(axis=0)
    ok = spread > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(values[:, ok], rowvar=False)
    judged = [n for n, keep in zip(names, ok, strict=True) if keep]
    out: dict[str, str] = {}
    r = np.atleast_2d(r)
    for j in range(len(judged)):
        if judged[j] in out:
            continue
        for i in range(j):
            if judged[i] not in out and abs(r[i, j]) >= DUPLICATE_R:
                out[judged[j]] = f"repeats {judged[i]!r} (r = {r[i, j]:+.4f})"
                break
    return out


def select(frame: pd.DataFrame, y: np.ndarray, schema: Schema, task: str, n_classes: int,
           seed: int = 0, skip: dict[str, str] | None = None) -> Selection:
    """The columns of ``frame`` (canonical rows of one training fold, ``y`` its encoded target)
    worth keeping: ``skip`` (near-duplicates) out, then each judged column against shuffled
    copies of every judged column fitted beside them, ``SHADOW_ROUNDS`` times (new shuffles
    and seed each round)."""
    import lightgbm as lgb

    skip = dict(skip or {})
    judged = [c.name for c in schema.features
              if c.role in (Role.NUMERIC, Role.CATEGORICAL) and c.name not in skip]
    always = [c.name for c in schema.features
              if c.role not in (Role.NUMERIC, Role.CATEGORICAL) and c.name not in skip]
    rng = np.random.default_rng(seed)
    take = np.arange(len(frame))
    if len(take) > SAMPLE_ROWS:
        take = np.sort(rng.choice(take, SAMPLE_ROWS, replace=False))
    matrix, categorical = _matrix(frame.iloc[take], schema, judged)
    target = np.asarray(y)[take]
    model = (lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier)
    k = len(judged)
    hits, total = np.zeros(k, dtype=int), np.zeros(k)
    for r in range(SHADOW_ROUNDS):
        shadows = np.column_stack([rng.permutation(matrix[:, j]) for j in range(k)])
        est = model(random_state=seed + r, **_PARAMS)
        est.fit(np.hstack([matrix, shadows]), target,
                categorical_feature=[*categorical, *(k + j for j in categorical)] or "auto")
        gain = est.booster_.feature_importance("gain")
        hits += gain[:k] > np.percentile(gain[k:], SHADOW_QUANTILE)
        total += gain[:k]
    beats = hits >= SHADOW_HITS
    if beats.sum() < min(MIN_KEPT, k):  # keep the strongest few whatever the shadows say
        beats[np.argsort(-total)[:min(MIN_KEPT, k)]] = True
    dropped = dict(skip)
    for name, ok, n in zip(judged, beats, hits, strict=True):
        if not ok:
            dropped[name] = (f"no more important than shuffled copies of the columns (above "
                             f"their {SHADOW_QUANTILE:.0f}th percentile in {n} of "
                             f"{SHADOW_ROUNDS} rounds, {SHADOW_HITS} needed)")
    kept = [c.name for c in schema.features if c.name in always
            or (c.name in judged and beats[judged.index(c.name)])]
    return Selection(kept, dropped)


def _matrix(frame: pd.DataFrame, schema: Schema,
            names: list[str]) -> tuple[np.ndarray, list[int]]:
    """Numbers as they are, categories as integer codes (missing: NaN), in ``names`` order."""
    roles = {c.name: c.role for c in schema.features}
    out = np.empty((len(frame), len(names)))
    categorical = []
    for j, name in enumerate(names):
        if roles[name] == Role.CATEGORICAL:
            codes = pd.factorize(frame[name].astype(object))[0].astype(float)
            codes[codes < 0] = np.nan
            out[:, j] = codes
            categorical.append(j)
        else:
            out[:, j] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    return out, categorical
