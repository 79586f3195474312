"""LevelEncoding (high-cardinality categoricals) and the code-vs-quantity rule of the schema."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

import mlexpert
from mlexpert.data import Role, infer_schema
from mlexpert.features import (
    HIGH_CARDINALITY,
    LevelEncoding,
    build_preprocessor,
    same_preprocessing,
)
from tests.conftest import TASKS


def _codes(n: int = 3000, levels: int = 400, seed: int = 0):
    """A code column whose levels carry the signal, and a target of each task from it."""
    rng = np.random.default_rng(seed)
    code = rng.integers(0, levels, n)
    effect = rng.normal(size=levels)[code] + rng.normal(scale=0.5, size=n)
    values = np.array([f"{c:05d}" for c in code], dtype=object)
    values[rng.random(n) < 0.02] = np.nan
    targets = {"binary": (effect > 0).astype(int),
               "multiclass": np.digitize(effect, [-0.5, 0.5]),
               "regression": effect}
    return pd.DataFrame({"code": values}), targets, rng


def _association(task: str, y: np.ndarray, encoded: np.ndarray) -> float:
    """How well the target-mean columns rank the target: AUC (mean over classes) or |r|."""
    if task == "regression":
        return abs(float(np.corrcoef(encoded[:, 0], y)[0, 1]))
    if task == "binary":
        return float(roc_auc_score(y, encoded[:, 0]))
    return float(np.mean([roc_auc_score(y == k, encoded[:, k]) for k in range(encoded.shape[1])]))


@pytest.mark.parametrize("task", TASKS)
def test_a_permuted_target_gives_chance_level_encodings_out_of_fold(task):
    X, targets, rng = _codes()
    y = rng.permutation(targets[task])
    enc = LevelEncoding(task=task)
    oof = enc.fit_transform(X, y)
    target_cols = [i for i, n in enumerate(enc.names_) if "__target" in n]
    chance = 0.0 if task == "regression" else 0.5
    assert abs(_association(task, y, oof[:, target_cols]) - chance) < 0.05
    # the same encoder read back on its training rows (not out of fold) does leak: the check bites
    in_sample = enc.transform(X)[:, target_cols]
    assert abs(_association(task, y, in_sample) - chance) > 0.1


@pytest.mark.parametrize("task", TASKS)
def test_real_signal_is_kept(task):
    X, targets, _ = _codes(seed=1)
    y = targets[task]
    enc = LevelEncoding(task=task)
    out = enc.fit_transform(X, y)
    target_cols = [i for i, n in enumerate(enc.names_) if "__target" in n]
    strong = 0.6 if task == "regression" else 0.75
    assert _association(task, y, out[:, target_cols]) > strong


def test_unseen_missing_and_rare_levels_and_every_path_agree():
    X, targets, _ = _codes(n=600, levels=80)
    enc = LevelEncoding(task="binary", as_number=True).fit(X, targets["binary"])
    assert enc.names_ == ["code__share", "code__target0", "code__number"]
    new = pd.DataFrame({"code": ["00007", "99999", np.nan, None, "not a code"]}, dtype=object)
    out = enc.transform(new)
    known = enc.tables_[0][enc.keys_[0].get_loc("00007")]
    np.testing.assert_array_equal(out[0], known)
    assert out[0, 2] == 7.0  # the code's value, for trees
    np.testing.assert_array_equal(out[1], enc.defaults_[0])  # unseen: share 0, overall mean
    assert out[1, 0] == 0.0 and np.isnan(out[1, 2])
    np.testing.assert_array_equal(out[2], enc.missing_[0])  # missing: as training's missing rows
    np.testing.assert_array_equal(out[3], enc.missing_[0])
    np.testing.assert_array_equal(out[4], enc.defaults_[0])
    # one row at a time (dict lookups) and a batch (an Index) give the same numbers
    big = pd.concat([new] * 20, ignore_index=True)
    np.testing.assert_array_equal(enc.transform(big)[:5], out)
    # float32 values: the ONNX graph's LabelEncoder holds float32, the numbers must match exactly
    assert (enc.tables_[0].astype(np.float32).astype(np.float64) == enc.tables_[0])[
        ~np.isnan(enc.tables_[0])].all()


def test_the_builders_add_it_only_above_the_cardinality_threshold():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"wide": [f"w{k}" for k in rng.integers(0, 3 * HIGH_CARDINALITY, 900)],
                          "narrow": rng.choice(["a", "b", "c"], 900),
                          "x": rng.normal(size=900)})
    schema = infer_schema(frame)
    for kind in ("tree", "linear"):
        pre = build_preprocessor(schema, kind, task="regression")
        names = [name for name, _, _ in pre.transformer.transformers]
        cols = dict((name, c) for name, _, c in pre.transformer.transformers)
        assert "levels" in names and cols["levels"] == ["wide"], kind
        out = pre.transformer.fit_transform(schema.prepare(frame), rng.normal(size=900))
        dense = out.toarray() if hasattr(out, "toarray") else np.asarray(out, dtype=float)
        assert kind == "tree" or np.isfinite(dense).all()  # linear: no NaN (no number view)
    native = build_preprocessor(schema, "native", task="regression")
    assert [name for name, _, _ in native.transformer.transformers] == ["num", "cat"]
    assert same_preprocessing(schema, "native") == "native"
    narrow = infer_schema(frame.drop(columns="wide"))
    assert same_preprocessing(narrow, "native") == "tree"  # nothing to leave out: fitted once
    assert same_preprocessing(narrow, "linear") == "linear"


# -- the code-vs-quantity rule ---------------------------------------------------------------
codes = st.lists(st.integers(0, 10**6), min_size=12, max_size=40).map(
    lambda v: [f"{x:07d}" for x in v] * 3)  # every level repeats: codes of an entity


@settings(max_examples=30, deadline=None)
@given(values=codes, width=st.booleans())
def test_digit_strings_are_codes(values, width):
    if not width:  # no fixed width: still digit strings
        values = [v.lstrip("0") or "0" for v in values]
    schema = infer_schema(pd.DataFrame({"c": pd.Series(values, dtype=object)}))
    col = schema.columns[0]
    if len(set(values)) > 1:
        assert col.role == Role.CATEGORICAL and col.reason.startswith("integer codes stored as text")


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=30, max_size=60, unique=True))
def test_decimal_text_is_a_quantity(values):
    text = [f"{v:.3f}" for v in values]
    schema = infer_schema(pd.DataFrame({"c": pd.Series(text, dtype=object)}))
    if len(set(text)) > 10:
        assert schema.columns[0].role == Role.NUMERIC
        assert schema.columns[0].reason == "numbers stored as text"


def test_digit_strings_unique_per_row_are_keys():
    schema = infer_schema(pd.DataFrame({"c": [f"{k:06d}" for k in range(50)]}, dtype=object))
    assert schema.columns[0].role == Role.ID


@pytest.mark.heavy
def test_fit_on_a_permuted_target_scores_chance_with_a_wide_code_column():
    """The whole search with LevelEncoding in every fold: no leak into the out-of-fold score."""
    X, targets, rng = _codes(n=1500, levels=300, seed=2)
    frame = X.assign(y=rng.permutation(np.where(targets["binary"] == 1, "yes", "no")),
                     noise=rng.normal(size=1500))
    model = mlexpert.fit(frame, target="y", time_limit=15, seed=0, presets="fast", budget=1)
    assert model.metrics["roc_auc"]["value"] < 0.58
    real = frame.assign(y=np.where(targets["binary"] == 1, "yes", "no"))
    assert mlexpert.fit(real, target="y", time_limit=15, seed=0, presets="fast",
                        budget=1).metrics["roc_auc"]["value"] > 0.8


def test_lookups_built_on_use_are_not_pickled():
    import pickle

    X, targets, _ = _codes(n=600, levels=80)
    enc = LevelEncoding(task="binary").fit(X, targets["binary"])
    before = len(pickle.dumps(enc))
    want = enc.transform(X)
    enc.transform(X.iloc[:1])  # builds the dict lookup and the table with its default row
    assert len(pickle.dumps(enc)) == before
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(enc)).transform(X), want)
