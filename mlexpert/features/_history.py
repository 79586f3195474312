"""Entity history: features of a row computed from the earlier rows of its entity whose target is
known (lags and window statistics of the target, how the numbers moved since, time since).

A row continues the history of its entity (a state, a customer, a machine) over ``time``. At fit
each training row is given a horizon h (1..``horizon`` distinct time steps, drawn with the seed)
and sees only its entity's rows at least h steps earlier, as a row h steps past the end of the
known data will at predict time: never its own target or a later one. The fitted step keeps each
entity's last ``TAIL_ROWS`` known rows (and the count and sum of the older ones), which is what
``transform`` reads for new rows: a validation fold, or rows after the end of training.
Computed with prefix sums over rows sorted by entity and time, one vectorised pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mlexpert.data import epoch_ns

WINDOW = 5  # rows of known history the window statistics (mean, spread, trend) cover
TAIL_ROWS = WINDOW  # known rows kept per entity for predict time
MAX_CHANGES = 20  # numeric columns whose change since the last known row is a feature
MAX_CLASS_COLUMNS = 20  # target classes with their own history columns (multiclass)
PART = "history"  # the name of the step in the ColumnTransformer ``build_preprocessor`` builds
STATS = ("last", f"mean{WINDOW}", f"std{WINDOW}", f"trend{WINDOW}", "mean")  # per target column,
# then the count of known rows, the time since the last one and each number's change since it
_DAY_NS = 86_400e9


@dataclass(frozen=True)
class HistorySpec:
    """Whose history a row continues (``entity``), over which column (``time``), how many
    distinct time steps ahead (``horizon``) fit reaches (each training row's horizon is drawn
    from 1..``horizon``), and whether the target changes in proportion to its level
    (``relative``: regression models then learn log ratios to the last known value)."""

    entity: str
    time: str
    horizon: int = 1
    relative: bool = False

    def columns(self, numeric: list[str]) -> list[str]:
        """The input columns the step reads: entity, time, then the numbers it follows."""
        changes = [c for c in numeric if c not in (self.entity, self.time)][:MAX_CHANGES]
        return [self.entity, self.time, *changes]


def time_numbers(values: Any) -> np.ndarray:
    """Time values as float numbers: numbers as they are, dates as days since 1970."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu":
        return s.to_numpy(dtype=float)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return epoch_ns(s) / _DAY_NS
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


class EntityHistory(TransformerMixin, BaseEstimator):
    """History features for each row from its entity's earlier rows with a known target.

    Input columns: entity, time, then numeric columns (``HistorySpec.columns``). Outputs, per
    target column (the value for regression and binary, each class's indicator for multiclass):
    the last known value, the mean, spread and trend over the last ``WINDOW`` known rows and the
    mean over all of them; then the count of known rows, the time since the last known row, and
    each number's change since it. Missing where there is no history (a new entity, an entity's
    first rows). A row's features never depend on the other rows of its batch: one row alone
    and the same row in a batch are predicted alike (earlier unlabelled rows of a batch are not
    history; ``extend`` adds rows whose target is known)."""

    def __init__(self, task: str = "regression", horizon: int = 1, seed: int = 0):
        self.task, self.horizon, self.seed = task, horizon, seed

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> EntityHistory:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **_: Any) -> np.ndarray:
        if y is None:
            raise ValueError("EntityHistory needs the target: it follows the target over time")
        X, y = pd.DataFrame(X), np.asarray(y)
        self.columns_ = [str(c) for c in X.columns]
        self.n_targets_ = (min(int(y.max()) + 1, MAX_CLASS_COLUMNS)
                           if self.task == "multiclass" and len(y) else 1)
        ent, t, nums = self._inputs(X)
        targets = self._targets(y)
        order = np.lexsort((t, ent))
        e, ts = ent[order], t[order]
        known = ent[order] >= 0
        # distinct time steps within each entity: block b holds the rows of one entity at one time
        new_block = np.ones(len(order), dtype=bool)
        new_block[1:] = (e[1:] != e[:-1]) | (ts[1:] != ts[:-1])
        block = np.cumsum(new_block) - 1
        new_entity = np.ones(len(order), dtype=bool)
        new_entity[1:] = e[1:] != e[:-1]
        entity_first_block = np.maximum.accumulate(np.where(new_entity, block, 0))
        step = block - entity_first_block  # distinct time index of the row within its entity
        block_end = np.zeros(block[-1] + 1 if len(block) else 0, dtype=np.int64)
        block_end[block] = np.arange(len(order))  # the last sorted row of each block
        rng = np.random.default_rng(self.seed)
        h = rng.integers(1, max(int(self.horizon), 1) + 1, size=len(order))
        h = np.minimum(h, np.maximum(step, 1))  # an entity's early rows: as much history as exists
        has = (step >= h) & known
        cut = np.where(has, block_end[np.maximum(block - h, 0)], -1)
        start = np.where(new_entity, np.arange(len(order)), 0)
        start = np.maximum.accumulate(start)
        feats = _features(ts, targets[order], nums[order], cut, start, ts, nums[order],
                          np.zeros(len(order)), np.zeros((len(order), targets.shape[1])))
        out = np.empty_like(feats)
        out[order] = feats
        self.older_count_ = np.zeros(len(self.entities_))
        self.older_sum_ = np.zeros((len(self.entities_), targets.shape[1]))
        self._keep_tails(e, ts, targets[order], nums[order], known)
        return out

    def _keep_tails(self, e: np.ndarray, ts: np.ndarray, targets: np.ndarray, nums: np.ndarray,
                    known: np.ndarray) -> None:
        """Each entity's last ``TAIL_ROWS`` rows of those given (sorted by entity and time) as
        the tails ``transform`` reads; the older ones only add to the entity's count and sums."""
        n, n_levels = len(e), len(self.entities_)
        new_entity = np.ones(n, dtype=bool)
        new_entity[1:] = e[1:] != e[:-1]
        run = np.cumsum(new_entity) - 1
        ends = np.append(np.flatnonzero(new_entity)[1:] - 1, n - 1)
        keep = (ends[run] - np.arange(n) < TAIL_ROWS) & known
        older = (~keep) & known
        self.summary_ = None  # rebuilt from these tails on the next transform
        self.tail_entity_ = e[keep]
        self.tail_time_ = ts[keep]
        self.tail_targets_ = targets[keep].astype(float)
        self.tail_numbers_ = nums[keep].astype(float)
        count = np.zeros(n_levels) if not hasattr(self, "older_count_") else self.older_count_
        total = (np.zeros((n_levels, targets.shape[1])) if not hasattr(self, "older_sum_")
                 else self.older_sum_)
        grow = n_levels - len(count)  # entities first seen by ``extend``
        count = np.concatenate([count, np.zeros(grow)])
        total = np.vstack([total, np.zeros((grow, targets.shape[1]))])
        self.older_count_ = count + np.bincount(e[older], minlength=n_levels)
        self.older_sum_ = total + np.stack(
            [np.bincount(e[older], weights=targets[older, j], minlength=n_levels)
             for j in range(targets.shape[1])], axis=1)

    def extend(self, X: pd.DataFrame, y: Any) -> None:
        """Add rows whose target is now known (the same columns as ``fit``) to their entities'
        history, without refitting: later ``transform`` calls see them. A row at a time the
        entity already has in its kept rows replaces that row; rows of new entities start their
        history."""
        X, y = pd.DataFrame(X), np.asarray(y)
        keys = X.iloc[:, 0].to_numpy(dtype=object)
        fresh = pd.Index(np.asarray(pd.unique(keys[~pd.isna(keys)]), dtype=object), dtype=object)
        fresh = fresh[self.entities_.get_indexer(fresh) < 0]
        if len(fresh):
            self.entities_ = self.entities_.append(fresh)
        ent, t, nums = self._inputs(X, fitted=True)
        targets = self._targets(y)
        ok = ent >= 0
        same = pd.MultiIndex.from_arrays([self.tail_entity_, self.tail_time_]).isin(
            pd.MultiIndex.from_arrays([ent[ok], t[ok]]))
        e = np.concatenate([self.tail_entity_[~same], ent[ok]])
        ts = np.concatenate([self.tail_time_[~same], t[ok]])
        tg = np.vstack([self.tail_targets_[~same], targets[ok]])
        nm = np.vstack([self.tail_numbers_[~same], nums[ok]])
        order = np.lexsort((ts, e))
        self._keep_tails(e[order], ts[order], tg[order], nm[order], np.ones(len(e), dtype=bool))

    # -- new rows ----------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        ent, t, nums = self._inputs(X, fitted=True)
        summary = self._summary()
        # rows after all of their entity's kept rows (what new rows are) read the entity's
        # summary: the same numbers the general path gives them, without sorting the tails
        late = (ent >= 0) & (t > summary.last_time[np.maximum(ent, 0)])
        if late.all():
            return summary.rows(ent, t, nums, self.n_targets_)
        out = np.empty((len(ent), summary.features.shape[1]))
        out[late] = summary.rows(ent[late], t[late], nums[late], self.n_targets_)
        out[~late] = self._transform_codes(ent[~late], t[~late], nums[~late])
        return out

    def _summary(self) -> _Summary:
        """Per entity: the features of a row after all its kept rows, its last kept time and
        numbers (built on first use after fit or ``extend``)."""
        summary = getattr(self, "summary_", None)
        if summary is None:
            n = len(self.entities_)
            codes = np.arange(n)
            features = self._transform_codes(codes, np.full(n, np.inf),
                                             np.zeros((n, self.tail_numbers_.shape[1])))
            last_time = np.full(n, -np.inf)
            last_numbers = np.zeros((n, self.tail_numbers_.shape[1]))
            # tails are sorted by entity and time: each entity's last kept row ends its run
            e = self.tail_entity_
            ends = np.flatnonzero(np.append(e[1:] != e[:-1], True)) if len(e) else e
            last_time[e[ends]] = self.tail_time_[ends]
            last_numbers[e[ends]] = self.tail_numbers_[ends]
            summary = self.summary_ = _Summary(features, last_time, last_numbers)
        return summary

    def _transform_codes(self, ent: np.ndarray, t: np.ndarray, nums: np.ndarray) -> np.ndarray:
        """The features of rows given as entity codes, times and numbers (the general path:
        any time, before, between or after the entity's kept rows)."""
        n, m = len(ent), self.n_targets_
        # known rows: the kept tails, then the query rows (no target); sorted by entity, time,
        # and at equal times the query first, so that a known row of the same time is not seen
        k = len(self.tail_entity_)
        all_e = np.concatenate([self.tail_entity_, ent])
        all_t = np.concatenate([self.tail_time_, t])
        is_query = np.concatenate([np.zeros(k, dtype=bool), np.ones(n, dtype=bool)])
        order = np.lexsort((~is_query, all_t, all_e))
        q = is_query[order]
        known_rank = np.cumsum(~q) - 1  # index into the sorted known rows of the last one so far
        known_order = order[~q]  # tails only, sorted as above
        ke = self.tail_entity_[known_order]
        kt = self.tail_time_[known_order]
        kstart = np.zeros(len(ke), dtype=np.int64)
        if len(ke):
            first = np.ones(len(ke), dtype=bool)
            first[1:] = ke[1:] != ke[:-1]
            kstart = np.maximum.accumulate(np.where(first, np.arange(len(ke)), 0))
        qi = order[q] - k  # query row each sorted query position stands for
        last_known = known_rank[q]
        same = (last_known >= 0) & (ent[qi] >= 0)
        if k:
            same &= ke[np.maximum(last_known, 0)] == ent[qi]
        cut = np.where(same, last_known, -1)
        start = np.where(same, kstart[np.maximum(last_known, 0)], 0)
        offset_count = np.zeros(n)
        offset_sum = np.zeros((n, m))
        offset_count[same] = self.older_count_[ent[qi][same]]
        offset_sum[same] = self.older_sum_[ent[qi][same]]
        feats = _features(kt, self.tail_targets_[known_order], self.tail_numbers_[known_order],
                          cut, start, t[qi], nums[qi], offset_count, offset_sum)
        out = np.empty_like(feats)
        out[qi] = feats
        return out

    # -- helpers -----------------------------------------------------------------------------
    def _inputs(self, X: pd.DataFrame, fitted: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(entity code per row, -1 when missing or unseen; time as numbers; numbers (n, k))."""
        keys = X.iloc[:, 0].to_numpy(dtype=object)
        missing = pd.isna(keys)
        if not fitted:
            # plain Python objects: the bundle's unpickler refuses pyarrow-backed arrays
            self.entities_ = pd.Index(np.asarray(pd.unique(keys[~missing]), dtype=object),
                                     dtype=object)
        ent = self.entities_.get_indexer(keys)
        ent[missing] = -1
        t = time_numbers(X.iloc[:, 1])
        ent[np.isnan(t)] = -1
        t = np.where(np.isnan(t), 0.0, t)
        numbers = X.iloc[:, 2:]
        try:  # canonical numbers: floats already
            nums = numbers.to_numpy(dtype=float)
        except (TypeError, ValueError):
            nums = numbers.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        return ent.astype(np.int64), t, nums

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.task == "multiclass":  # classes beyond the columns kept count in none
            codes = y.astype(np.int64)
            return (codes[:, None] == np.arange(self.n_targets_)[None, :]).astype(float)
        return y.astype(float).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        entity, time = self.columns_[0], self.columns_[1]
        per = [f"{entity}_target{j}_{s}" if self.n_targets_ > 1 else f"{entity}_target_{s}"
               for j in range(self.n_targets_) for s in STATS]
        rest = [f"{entity}_known_rows", f"{time}_since_known"]
        return np.asarray(per + rest + [f"{c}_change_since_known" for c in self.columns_[2:]],
                          dtype=object)


@dataclass
class _Summary:
    """Each entity's features for a row after all its kept rows, less the parts that depend on
    the row (time since the last known row, the numbers' changes since), which ``rows`` fills."""

    features: np.ndarray  # (entities, F)
    last_time: np.ndarray  # (entities,): -inf for an entity without kept rows
    last_numbers: np.ndarray  # (entities, numbers)

    def rows(self, ent: np.ndarray, t: np.ndarray, nums: np.ndarray, m: int) -> np.ndarray:
        """The features of rows of known entities (codes ``ent`` >= 0) later than their kept
        rows; ``m`` target columns."""
        out = self.features[ent].copy()
        has = np.isfinite(self.last_time[ent])
        since = len(STATS) * m + 1  # after the target statistics and the count
        out[:, since] = np.where(has, t - self.last_time[ent], np.nan)
        changes = nums - self.last_numbers[ent]
        out[:, since + 1:] = np.where(has[:, None], changes, np.nan)
        return out


def _features(kt: np.ndarray, ky: np.ndarray, kx: np.ndarray, cut: np.ndarray, start: np.ndarray,
              t: np.ndarray, x: np.ndarray, offset_count: np.ndarray,
              offset_sum: np.ndarray) -> np.ndarray:
    """The feature matrix for query rows whose known history is the sorted known rows
    ``start..cut`` (cut -1: none), plus ``offset_count`` older rows summing ``offset_sum``.
    Each statistic reads only the entity's own rows (the window gathered row by row, the running
    sum restarted per entity), so a row's features are bit for bit the same whatever the targets
    of other entities or of later rows."""
    m = ky.shape[1]
    has = cut >= 0
    c = np.maximum(cut, 0)
    if not len(kt):
        kt, ky, kx = np.zeros(1), np.zeros((1, m)), np.zeros((1, x.shape[1]))
    # the window: up to WINDOW known rows ending at the cut, one column each (n, WINDOW)
    back = c[:, None] - np.arange(WINDOW)[None, :]
    inside = has[:, None] & (back >= start[:, None])
    idx = np.where(inside, back, 0)
    count = inside.sum(axis=1).astype(float)
    wt = np.where(inside, kt[idx] - kt[c][:, None], 0.0)  # times relative to the last known
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = wt.sum(axis=1) / count
        dt = np.where(inside, wt - mean_t[:, None], 0.0)
        sxx = (dt * dt).sum(axis=1)
        # the running sum over an entity's known rows, restarted at each entity
        starts = np.zeros(len(kt), dtype=bool)
        starts[np.unique(start[has])] = True
        starts[0] = True
        runs = np.cumsum(starts)
        running = pd.DataFrame(ky).groupby(runs).cumsum().to_numpy()
        all_count = np.where(has, c - start + 1, 0) + offset_count
        all_sum = np.where(has[:, None], running[c], 0.0) + offset_sum
        out = []
        for j in range(m):
            v = np.where(inside, ky[idx, j], 0.0)
            mean_w = v.sum(axis=1) / count
            dv = np.where(inside, v - mean_w[:, None], 0.0)
            std_w = np.sqrt((dv * dv).sum(axis=1) / count)
            trend = np.where(sxx > 0, (dt * dv).sum(axis=1) / sxx, np.nan)
            mean_all = all_sum[:, j] / np.maximum(all_count, 1)
            out += [np.where(has, f, np.nan) for f in (ky[c, j], mean_w, std_w, trend, mean_all)]
        out.append(np.where(has, all_count, 0.0))
        out.append(np.where(has, t - kt[c], np.nan))
        out += [np.where(has, x[:, j] - kx[c, j], np.nan) for j in range(x.shape[1])]
    return np.column_stack(out).astype(float)


def history_part(transformer: Any) -> tuple[EntityHistory, list[str], slice] | None:
    """The entity history step inside a fitted preprocessor from ``build_preprocessor``, the
    input columns it reads and its output columns (the first is the last known target); None
    when it has none."""
    for name, step, columns in getattr(transformer, "transformers_", []):
        if name == PART:
            step = step.steps[0][1] if hasattr(step, "steps") else step
            return step, list(columns), transformer.output_indices_[PART]
    return None


def extend_history(transformer: Any, X: pd.DataFrame, y: np.ndarray) -> bool:
    """Add labelled canonical rows ``X`` (target ``y``, encoded as fit encoded it) to the entity
    history inside a fitted preprocessor from ``build_preprocessor``; False when it has none."""
    part = history_part(transformer)
    if part is None:
        return False
    step, columns, _ = part
    step.extend(X[columns], y)
    return True
