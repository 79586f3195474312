"""Preprocessing for trees and linear models: shapes, categoricals, unseen values, text, dates."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.data import infer_schema
from mlexpert.features import build_preprocessor
from tests.conftest import make_table


@pytest.mark.parametrize("kind", ["tree", "linear"])
def test_fit_on_train_transform_unseen(kind):
    train = make_table("binary", n=200).drop(columns="y")
    schema = infer_schema(train)
    pre = build_preprocessor(schema, kind)
    X = schema.prepare(train)
    Xt = pre.transformer.fit_transform(X)
    new = X.head(5).copy()
    new["color"] = ["purple", None, "red", "red", "zzz"]
    new.loc[new.index[0], "review"] = ""
    out = pre.transformer.transform(new)
    assert out.shape == (5, Xt.shape[1])
    dense = out.toarray() if sp.issparse(out) else out
    if kind == "linear":
        assert np.isfinite(dense).all()
    else:  # unseen categories share the "other" code, missing stays NaN
        col = pre.categorical[0]
        assert dense[0, col] == 4 and np.isnan(dense[1, col]) and dense[4, col] == 4


def test_tiny_text_falls_back_to_length_features():
    from mlexpert.features._transformers import TextFeatures

    out = TextFeatures().fit_transform(np.array([["a"], ["b"]], dtype=object))
    assert out.shape == (2, 2)


def test_category_codes_rank_by_frequency_and_share_an_unseen_code():
    import pandas as pd

    from mlexpert.features._transformers import CategoryCodes

    train = pd.DataFrame({"c": ["b", "a", "a", "c", None, "c", "a"]})
    enc = CategoryCodes(max_categories=2).fit(train)
    out = enc.transform(pd.DataFrame({"c": ["a", "c", "b", "zzz", None]}))[:, 0]
    assert out[:4].tolist() == [0, 1, 2, 2] and np.isnan(out[4])


def test_category_codes_in_value_order_read_numbers_as_numbers():
    import pandas as pd

    from mlexpert.features._transformers import CategoryCodes

    train = pd.DataFrame({"c": ["10", "9", "b", "0417", None, "a", "9", "1e3", "inf"]})
    enc = CategoryCodes(max_categories=None, order="value").fit(train)
    assert list(enc.categories_[0]) == ["9", "10", "0417", "1e3", "a", "b", "inf"]
    new = ["0417", "9", "b", "418", "-5", "2e3", "zzz", "1e999", None]
    out = enc.transform(pd.DataFrame({"c": new}))[:, 0]
    # unseen numbers between their neighbours (below 9, above 1e3); unseen text is missing, and
    # so is a number no path reads as one (its exponent has three digits)
    assert out[:6].tolist() == [2, 0, 5, 2.5, -0.5, 3.5] and np.isnan(out[6:]).all()


def test_a_column_of_more_levels_than_native_splits_take_reaches_trees_as_a_number():
    import pandas as pd

    from mlexpert.features import MAX_TREE_CATEGORIES

    rng = np.random.default_rng(0)
    n_levels = MAX_TREE_CATEGORIES + 46
    frame = pd.DataFrame({"flight": [str(k) for k in rng.integers(0, n_levels, 3000)],
                          "carrier": rng.choice(["AA", "B6", "UA"], 3000),
                          "x": rng.normal(size=3000)})
    schema = infer_schema(frame)
    for kind in ("tree", "native"):
        pre = build_preprocessor(schema, kind, task="regression")
        cols = {name: c for name, _, c in pre.transformer.transformers}
        assert cols["cat"] == ["carrier"] and cols["order"] == ["flight"], kind
        out = pre.transformer.fit_transform(schema.prepare(frame), rng.normal(size=3000))
        assert pre.categorical == [1]  # x, carrier (native), flight (a number)
        flight = out[:, 2]
        assert np.array_equal(flight, frame["flight"].astype(int).rank(method="dense") - 1)


_levels = st.sampled_from(["a", "b", "c", "d", "1", "nan", "", "zzz-unseen"])


@settings(max_examples=60, deadline=None)
@given(st.lists(_levels, min_size=1, max_size=40),
       st.lists(st.one_of(_levels, st.none(), st.just(np.nan)), min_size=1, max_size=40),
       st.integers(1, 4))
def test_category_codes_by_dict_and_by_pandas_agree(train, new, max_categories):
    """Small batches are coded through a dict, large ones through pandas' get_indexer: the
    same codes for seen, rare, unseen and missing values either way."""
    import pandas as pd

    import mlexpert.features._transformers as tr

    enc = tr.CategoryCodes(max_categories=max_categories).fit(pd.DataFrame({"c": train}))
    frame = pd.DataFrame({"c": pd.Series(new, dtype=object)})
    saved = tr.DICT_LOOKUP_ROWS
    try:
        tr.DICT_LOOKUP_ROWS = 10**6
        by_dict = enc.transform(frame)
        tr.DICT_LOOKUP_ROWS = 0
        by_pandas = enc.transform(frame)
    finally:
        tr.DICT_LOOKUP_ROWS = saved
    np.testing.assert_array_equal(by_dict, by_pandas)
    assert np.isnan(by_dict[:, 0]).tolist() == [v is None or v != v for v in new]


def test_dates_reach_trees_as_calendar_parts_and_smooth_models_with_cycles_too():
    import pickle

    import pandas as pd

    from mlexpert.features import DatetimeFeatures

    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-31 10:00", "2024-06-15 23:30", None]),
                          "x": [1.0, 2.0, 3.0]})
    schema = infer_schema(frame)
    X = schema.prepare(frame)
    names = {}
    for kind in ("tree", "linear"):
        pre = build_preprocessor(schema, kind)
        pre.transformer.fit(X)
        names[kind] = [n.split("__")[-1] for n in pre.transformer.get_feature_names_out()
                       if "when" in n]
    assert names["tree"] == ["year", "month", "day", "day_of_week", "epoch_days", "hour"]
    assert {"day_of_year", "month_sin", "hour_cos"} <= set(names["linear"])
    lean = DatetimeFeatures(cyclic=False).fit(frame[["when"]])
    np.testing.assert_array_equal(lean.transform(frame[["when"]])[:2, :4],
                                  [[2024, 1, 31, 2], [2024, 6, 15, 5]])  # Wednesday, Saturday
    # a step pickled before the option existed keeps all of its parts
    old = DatetimeFeatures().fit(frame[["when"]])
    del old.__dict__["cyclic"]
    assert pickle.loads(pickle.dumps(old)).transform(frame[["when"]]).shape == (3, 13)
