"""A CatBoost model read as its oblivious trees, and those trees evaluated in numpy.

CatBoost's own ``predict_proba`` costs ~100-200 µs a call however few the rows, so a five-fold
bag of CatBoost models spends ~0.5-1 ms on one row. Each oblivious tree
splits every row at the same levels, so the trees of a model answer a few rows in a handful
of numpy steps: look the levels' features up, compare, read the bits as a leaf index. The ONNX
conversion reads the same levels (``models._catboost``). A split on a categorical column (its target
statistic or a one-hot value) is read from CatBoost itself, one probe row per code.
"""
from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlexpert.models._adapter import Unsupported
from mlexpert.models._trees_onnx import LEQ, MEMBER

CATBOOST_COMBINATIONS = ("CatBoost's feature combinations (max_ctr_complexity > 1) split on several "
                         "columns at once")
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Level:
    """One split of an oblivious tree as a binary node: true when the feature is <= ``split``
    (``LEQ``) or one of ``members`` (``MEMBER``), or when it is missing and ``missing_true``;
    the true branch sets the tree's bit ``true_bit`` (the leaf index is the levels' bits)."""

    feature: int
    mode: int
    split: float
    missing_true: bool
    members: list[float] | None = None
    true_bit: int = 0


@dataclass
class Oblivious:
    """A CatBoost model as oblivious trees: raw scores = sum over trees of
    ``values[tree][leaf index]`` + ``bias``; a tree without levels is a constant."""

    levels: list[list[Level]]
    values: list[np.ndarray]  # per tree (2 ** depth, n_targets), already scaled
    bias: np.ndarray  # (n_targets,)


def catboost_oblivious(estimator: Any, categorical: list[int], to_input: Any = None) -> Oblivious:
    """The oblivious trees of a fitted CatBoost model, with as many raw outputs as it has (one
    for Logloss, one per class for MultiClass, even with two classes); ``to_input`` turns a
    float matrix into CatBoost's input (needed with categorical columns).
    Raises ``Unsupported`` for splits on feature combinations. Read once per live model (the
    dump costs ~0.15 s for 300 trees of 9 classes, and a Model's compiled paths, numpy and
    ONNX, both read it)."""
    key = (id(estimator), tuple(categorical))
    read = _READ.get(key)
    if read is None:
        try:
            read = _read(estimator, categorical, to_input)
        except Unsupported as exc:
            read = exc
        with contextlib.suppress(TypeError):  # a model without weak references: not kept
            weakref.finalize(estimator, _READ.pop, key, None)
            _READ[key] = read
    if isinstance(read, Unsupported):
        raise Unsupported(str(read))
    return read


_READ: dict[tuple[int, tuple[int, ...]], Oblivious | Unsupported] = {}
MAX_PROBE_CELLS = 20_000_000  # values probed to read the category splits (160 MB as float64);
# beyond, CatBoost predicts through its own code (compiled paths, latency probes)


# the dump's leaf arrays, read as numpy from the model instead of as Python floats (olive_area's
# 9-class CatBoost, 503 trees of depth 7, 580,000 leaf values: its numpy path +68 -> +58 MB,
# 0.22 -> 0.15 s; CatBoost's own JSON dump keeps +49 MB of it)
_LEAF_ARRAYS = re.compile(r'("leaf_(?:values|weights)")\s*:\s*\[[^\]]*\]')


def _read(estimator: Any, categorical: list[int], to_input: Any) -> Oblivious:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        estimator.save_model(str(path), format="json")
        model = json.loads(_LEAF_ARRAYS.sub(r"\1: []", path.read_text()))
    info = model["features_info"]
    floats = {f["feature_index"]: f for f in info.get("float_features", [])}
    cat_bits = _category_bits(estimator, model, categorical, to_input) if categorical else None
    leaves = np.asarray(estimator.get_tree_leaf_counts(), dtype=np.int64)
    flat = np.asarray(estimator.get_leaf_values(), dtype=float)  # the dump's order, unscaled
    n_targets = len(flat) // int(leaves.sum())
    scale, bias = model.get("scale_and_bias", [1.0, [0.0]])
    bias = list(bias) if isinstance(bias, list) else [bias]
    base = np.asarray((bias * n_targets)[:n_targets] if len(bias) == 1 else bias, dtype=float)
    levels, values = [], []
    ends = np.cumsum(leaves * n_targets)
    for t, tree in enumerate(model["oblivious_trees"]):
        splits = tree.get("splits") or []
        tree_levels = []
        for j, s in enumerate(splits):
            kind = s.get("split_type", "FloatFeature")
            if kind != "FloatFeature" and cat_bits is None:
                raise Unsupported(f"CatBoost split type {kind!r}")
            tree_levels.append(_float_level(s, floats) if kind == "FloatFeature"
                               else cat_bits.level(t, j))
        levels.append(tree_levels)
        values.append(flat[ends[t] - leaves[t] * n_targets:ends[t]].reshape(-1, n_targets) * scale)
    return Oblivious(levels, values, base)


def _float_level(s: dict[str, Any], floats: dict[int, Any]) -> Level:
    info = floats[s["float_feature_index"]]
    nan_true = info.get("nan_value_treatment", "AsIs") != "AsTrue"  # NaN: bit 0 (x <= border)
    return Level(info["flat_feature_index"], LEQ, s["border"], nan_true)


def _category_bits(estimator: Any, model: dict[str, Any], categorical: list[int],
                   to_input: Any) -> _CategoryBits:
    """Every split's bit for each code 0..MAX_TREE_CATEGORIES of each categorical column, and
    for a missing value, the other columns held fixed."""
    from mlexpert.features import MAX_TREE_CATEGORIES

    for ctr in model["features_info"].get("ctrs", []):
        elements = ctr.get("elements", [])
        if len(elements) != 1 or elements[0].get("combination_element") != "cat_feature_value":
            raise Unsupported(CATBOOST_COMBINATIONS)
    trees = model["oblivious_trees"]
    depth = max((len(t.get("splits") or []) for t in trees), default=0)
    n_codes = MAX_TREE_CATEGORIES + 1
    n_features = max([*categorical, *(f["flat_feature_index"] for f in
                                      model["features_info"].get("float_features", []))]) + 1
    cells = (n_codes + 1) * len(categorical) * n_features
    if cells > MAX_PROBE_CELLS:  # permeability_qsar: 256 codes x 948 x 948 = 230M values, 47 s
        raise Unsupported(f"CatBoost over {len(categorical)} categorical columns (reading their "
                          f"splits would probe {cells:,} values)")
    probe = np.zeros(((n_codes + 1) * len(categorical), n_features))
    codes = np.append(np.arange(n_codes, dtype=float), np.nan)
    for i, column in enumerate(categorical):
        probe[i * (n_codes + 1):(i + 1) * (n_codes + 1), column] = codes
    leaves = np.asarray(estimator.calc_leaf_indexes(to_input(probe), thread_count=1),
                        dtype=np.int64).reshape(len(probe), len(trees))
    # one level at a time into int8: the (probes, trees, depth) int64 broadcast of the shifts
    # was 16x the result (delivery_time's CatBoost, 423 trees: +190 MB at the end of fit)
    bits = np.empty((len(probe), len(trees), depth), dtype=np.int8)
    for level in range(depth):
        bits[:, :, level] = (leaves >> level) & 1
    return _CategoryBits(list(categorical), bits.reshape(len(categorical), n_codes + 1, len(trees),
                                                         depth))


@dataclass
class _CategoryBits:
    """``bits[i, code, tree, level]``: the bit split ``level`` of ``tree`` gives code ``code``
    (last: missing) of column ``columns[i]``."""

    columns: list[int]
    bits: np.ndarray

    def __post_init__(self) -> None:
        varies = self.bits.min(axis=1) != self.bits.max(axis=1)  # (column, tree, level)
        self.n_varying = varies.sum(axis=0)
        self.varying = varies.argmax(axis=0)  # the column whose codes move it (when one does)

    def level(self, tree: int, level: int) -> Level:
        """A split on one categorical column: a node testing membership of the rarer bit's
        codes (every code on one side: a node true but for a missing value)."""
        if self.n_varying[tree, level] > 1:
            raise Unsupported(CATBOOST_COMBINATIONS)
        i = int(self.varying[tree, level])
        bits = self.bits[i, :, tree, level]
        codes, missing_bit = bits[:-1], int(bits[-1])
        if codes.min() == codes.max():  # x <= max is true but for NaN
            bit = int(codes[0])
            return Level(self.columns[i], LEQ, float(np.finfo(np.float64).max),
                         missing_bit == bit, None, bit)
        rare = int(np.count_nonzero(codes) * 2 <= len(codes))  # members: codes with bit ``rare``
        members = [float(c) for c in np.flatnonzero(codes == rare)]
        return Level(self.columns[i], MEMBER, math.nan, missing_bit == rare, members, rare)


class ObliviousTrees:
    """Raw scores of ``Oblivious`` trees for a float feature matrix, all trees at once:
    (rows x trees x depth) lookups and comparisons, the bits packed into leaf indices. For one
    row or two: each row costs about what CatBoost's whole call costs (600 trees, 9 classes:
    ~70 µs a row against ~170 µs a call). Several models (a fold bag, each reading its own
    input) are walked together and each model's scores come out apart. Features
    are compared as float32, as CatBoost does; trees shallower than the deepest get bits that
    stay 0."""

    def __init__(self, models: list[Oblivious]):
        from mlexpert.features import MAX_TREE_CATEGORIES

        if not all(m.levels for m in models):
            raise Unsupported("a CatBoost model without trees")
        levels = [tree for m in models for tree in m.levels]
        n_trees, depth = len(levels), max((len(lv) for lv in levels), default=0)
        feature = np.zeros((n_trees, depth), dtype=np.int64)
        split = np.full((n_trees, depth), np.inf)  # padding: true (bit 0), NaN included
        missing_true = np.ones((n_trees, depth), dtype=bool)
        true_bit = np.zeros((n_trees, depth), dtype=bool)
        member_at, tables = [], []
        n_codes = MAX_TREE_CATEGORIES + 1
        for t, tree in enumerate(levels):
            for d, lv in enumerate(tree):
                feature[t, d], missing_true[t, d], true_bit[t, d] = (lv.feature, lv.missing_true,
                                                                     lv.true_bit)
                if lv.mode == MEMBER:
                    member_at.append(t * depth + d)
                    table = np.zeros(n_codes + 1, dtype=bool)  # last: any code outside the set
                    table[np.asarray(lv.members, dtype=np.int64)] = True
                    tables.append(table)
                elif lv.split <= FLOAT32_MAX:  # else inf: true but for NaN
                    split[t, d] = lv.split
        starts = np.cumsum([0, *(len(m.levels) for m in models)])
        self._shape = (n_trees, depth)
        self._features = [feature[a:b].ravel() for a, b in zip(starts[:-1], starts[1:],
                                                               strict=True)]
        self._split = split.astype(np.float32).ravel()
        self._missing_true = missing_true.ravel()
        self._false_bit = ~true_bit.ravel()  # bit = (test is true) XOR this
        self._member_at = np.asarray(member_at, dtype=np.int64)
        self._tables = np.asarray(tables, dtype=bool).reshape(len(tables), n_codes + 1)
        self._n_codes = n_codes
        self._byte_shift = 8 * np.arange((depth + 7) // 8)
        self.n_targets = [len(m.bias) for m in models]  # a fold may lack a class: fewer
        width, n_targets = 1 << depth, max(self.n_targets)  # outputs, padded with zeros
        values = np.zeros((n_trees, width, n_targets))
        for t, v in enumerate(v for m in models for v in m.values):
            values[t, :v.shape[0], :v.shape[1]] = v
        self._values = values.reshape(n_trees * width, n_targets)
        self._offset = np.arange(n_trees) * width
        self._starts = starts[:-1]
        self._bias = np.zeros((len(models), n_targets))
        for i, m in enumerate(models):
            self._bias[i, :len(m.bias)] = m.bias

    def __call__(self, *X: Any) -> np.ndarray:
        """(n, models, max n_targets), given one input per model (model i's scores: the first
        ``n_targets[i]``)."""
        xs = [np.asarray(x, dtype=np.float32) for x in X]
        n = len(xs[0])
        v = np.concatenate([np.take(x, f, axis=1) for x, f in zip(xs, self._features,
                                                                  strict=True)], axis=1)
        true = np.less_equal(v, self._split)  # (n, trees x depth)
        if len(self._member_at):
            flat = v[:, self._member_at]
            ok = (flat >= 0) & (flat < self._n_codes) & (flat == np.floor(flat))  # NaN: False
            codes = np.where(ok, flat, self._n_codes).astype(np.int64)
            true[:, self._member_at] = self._tables[np.arange(len(self._member_at)), codes]
        if any(np.isnan(x).any() for x in xs):
            true = np.where(np.isnan(v), self._missing_true, true)
        np.bitwise_xor(true, self._false_bit, out=true)
        packed = np.packbits(true.reshape(n, *self._shape), axis=2, bitorder="little")
        leaf = packed[:, :, 0] if len(self._byte_shift) == 1 else \
            (packed.astype(np.int64) << self._byte_shift).sum(axis=2)
        leaves = np.take(self._values, leaf + self._offset, axis=0)  # (n, trees, n_targets)
        return np.add.reduceat(leaves, self._starts, axis=1) + self._bias
