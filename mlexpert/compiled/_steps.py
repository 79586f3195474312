"""The compiled preprocessing steps as plain objects: numpy arrays, dicts and lists only, never a
fitted scikit-learn object, so a compiled path pickles on its own and a process that loads it
needs neither scikit-learn nor pandas (``runtime.FastPath.portable``). ``_numpy`` builds them
from the fitted steps; each is called on canonical rows (the head of a column block) or on the
matrix the step before it returned (the tail)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlexpert.data import calendar_parts

Rows = Sequence[Sequence[Any]]  # canonical rows, one value per feature in schema order


def _values(rows: Rows, idx: list[int]) -> list[list[Any]]:
    return [[r[i] for i in idx] for r in rows]


class Numbers:
    """Numeric columns as they are."""

    def __init__(self, idx: list[int]):
        self.idx = idx

    def __call__(self, rows: Rows) -> np.ndarray:
        return np.array(_values(rows, self.idx), dtype=float).reshape(len(rows), len(self.idx))


class Dates:
    """Datetime columns as their calendar parts (``data.calendar_parts``), as
    ``features.DatetimeFeatures`` computes them."""

    def __init__(self, idx: list[int], parts: list[list[str]]):
        self.idx, self.parts = idx, parts

    def __call__(self, rows: Rows) -> np.ndarray:
        out = [v for i, parts in zip(self.idx, self.parts, strict=True)
               for v in calendar_parts(np.array([r[i] for r in rows], dtype="datetime64[ns]"),
                                       parts)]
        return np.column_stack(out) if out else np.empty((len(rows), 0))


class Codes:
    """``features.CategoryCodes``: a level's code from its column's table; an unseen level gets
    the rare levels' code (frequency order) or, in value order, the place of a number among the
    known numbers (k - 0.5) and missing for other text."""

    def __init__(self, idx: list[int], tables: list[dict[Any, float]], by_value: bool,
                 numbers: list[np.ndarray], pattern: str):
        self.idx, self.tables, self.by_value, self.numbers = idx, tables, by_value, numbers
        self.pattern = pattern  # a string: re caches its compiled form

    def _unseen(self, j: int, v: Any) -> float:
        if not self.by_value:
            return float(len(self.tables[j]))
        if not (isinstance(v, str) and re.fullmatch(self.pattern, v)):
            return np.nan
        return float(np.searchsorted(self.numbers[j], float(v), side="left")) - 0.5

    def __call__(self, rows: Rows) -> np.ndarray:
        out = np.empty((len(rows), len(self.idx)))
        for r, row in enumerate(rows):
            for j, i in enumerate(self.idx):
                v = row[i]
                code = np.nan if isinstance(v, float) else self.tables[j].get(v)
                out[r, j] = self._unseen(j, v) if code is None else code
        return out


class Levels:
    """``features.LevelEncoding``: each level's row of its column's table (float32 values), the
    unseen row for a level it never saw, the missing row for a missing value."""

    def __init__(self, idx: list[int], lookups: list[dict[str, int]], tables: list[np.ndarray],
                 missing: list[np.ndarray]):
        self.idx, self.lookups, self.missing = idx, lookups, missing
        self.tables = tables  # each with the unseen row last

    def __call__(self, rows: Rows) -> np.ndarray:
        out = []
        for j, i in enumerate(self.idx):
            lookup, table = self.lookups[j], self.tables[j]
            block = np.empty((len(rows), table.shape[1]))
            for r, row in enumerate(rows):
                v = row[i]
                block[r] = self.missing[j] if v is None or isinstance(v, float) \
                    else table[lookup.get(v, -1)]
            out.append(block)
        return np.hstack(out) if out else np.empty((len(rows), 0))


class OneHot:
    """A one-hot encoder as one dict per column from level to output column (found by probing
    the fitted encoder), with the columns of an unseen and a missing value (-1: none)."""

    def __init__(self, idx: list[int], tables: list[dict[str, int]], unknown: list[int],
                 missing: list[int], offsets: list[int], total: int):
        self.idx, self.tables, self.unknown, self.missing = idx, tables, unknown, missing
        self.offsets, self.total = offsets, total

    def __call__(self, rows: Rows) -> np.ndarray:
        out = np.zeros((len(rows), self.total))
        for r, row in enumerate(rows):
            for j, i in enumerate(self.idx):
                v = row[i]
                k = self.missing[j] if isinstance(v, float) else \
                    self.tables[j].get(v, self.unknown[j])
                if k >= 0:
                    out[r, self.offsets[j] + k] = 1.0
        return out


class Impute:
    """Missing values filled per column, then the missing-value flags of ``flags`` appended."""

    def __init__(self, fill: np.ndarray, flags: np.ndarray | None):
        self.fill, self.flags = fill, flags

    def __call__(self, x: np.ndarray) -> np.ndarray:
        miss = np.isnan(x)
        out = np.where(miss, self.fill, x)
        return out if self.flags is None else np.hstack([out, miss[:, self.flags].astype(float)])


class Scale:
    """(x - mean) / scale, either part optional."""

    def __init__(self, mean: np.ndarray | None, scale: np.ndarray | None):
        self.mean, self.scale = mean, scale

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            x = x - self.mean
        return x / self.scale if self.scale is not None else x


class Chain:
    """A head on canonical rows, then each step of the tail on the matrix before it."""

    def __init__(self, head: Any, tail: list[Any]):
        self.head, self.tail = head, tail

    def __call__(self, rows: Rows) -> np.ndarray:
        x = self.head(rows)
        for step in self.tail:
            x = step(x)
        return x


class Columns:
    """A ColumnTransformer: its blocks side by side (sparse where a block is)."""

    def __init__(self, blocks: list[Any]):
        self.blocks = blocks

    def __call__(self, rows: Rows) -> Any:
        parts = [b(rows) for b in self.blocks]
        if any(hasattr(p, "tocsr") for p in parts):
            import scipy.sparse as sp

            return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")
        return np.hstack(parts) if parts else np.empty((len(rows), 0))


def is_plain(step: Any) -> bool:
    """Whether a compiled block is built of this module's objects only (it pickles without
    scikit-learn); free text, sentence embeddings and entity history keep their fitted step."""
    if isinstance(step, Columns):
        return all(is_plain(b) for b in step.blocks)
    if isinstance(step, Chain):
        return is_plain(step.head) and all(is_plain(t) for t in step.tail)
    return isinstance(step, Numbers | Dates | Codes | Levels | OneHot | Impute | Scale)
