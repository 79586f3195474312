"""Parity on generated rows: any mix of missing values, unseen and odd categories, numbers of any
size and dates of any year (hypothesis), for an ensemble of every kind of preprocessing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlexpert.ensemble import Member
from tests.export._parity import assert_parity
from tests.export.conftest import fit_member, make_model, split

numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.integers(-10**20, 10**20), st.sampled_from(["1.5", "oops", ""]))
categories = st.one_of(st.none(), st.sampled_from(["red", "green", "blue", "S", "M", ""]),
                       st.text(max_size=5), st.integers(-3, 3), st.booleans())
dates = st.one_of(st.none(), st.sampled_from(["2021-05-05", "not a date", "2300-01-01"]),
                  st.datetimes().map(lambda d: d.strftime("%Y-%m-%d")))
codes = st.one_of(st.none(), st.sampled_from(["0001", "0042", "9999", "42"]), st.text(max_size=4),
                  st.integers(0, 100))  # "shop": LevelEncoding's known, unseen and odd levels
rows = st.lists(st.fixed_dictionaries({"x1": numbers, "x2": numbers, "color": categories,
                                       "size": categories, "shop": codes, "when": dates}),
                min_size=1, max_size=8)


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def ensemble(request):
    task = request.param
    train, _ = split(task)
    schema, classes, lgb = fit_member("lightgbm", task, train)
    _, _, lin = fit_member("linear", task, train)
    _, _, forest = fit_member("random_forest", task, train)
    members = [Member("lightgbm", "lightgbm", 0.5, [lgb], True),
               Member("linear", "linear", 0.3, [lin], True),
               Member("random_forest", "random_forest", 0.2, [forest], True)]
    return make_model(task, schema, classes, members)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows)
@example(data=[{"x1": None, "x2": None, "color": "\x00", "size": "", "shop": "\x00",
                "when": None}])  # NUL is a value
def test_generated_rows_parity(ensemble, data):
    frame = pd.DataFrame(data, columns=["x1", "x2", "color", "size", "shop", "when"]).astype(object)
    frame = frame.where(pd.notna(frame), np.nan)
    assert_parity(ensemble, frame)
