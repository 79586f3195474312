"""The pandas-free fast path gives the Model's own predictions, for every task and both model
kinds, on any valid record (hypothesis); what it cannot compile or verify falls back."""
from __future__ import annotations

import copy
import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlexpert.data import Role
from mlexpert.runtime._numpy import FastPath
from mlexpert.serve._predictor import Predictor, model_identity
from tests.conftest import TASKS


def _predictor(model):
    return Predictor(model, model_identity(model, "m"))


def _value(col):
    """Valid JSON values for one column: typical, edge, unseen, missing where allowed."""
    st_ = col.stats or {}
    if col.role == Role.NUMERIC:
        lo, hi = st_.get("min", -1.0), st_.get("max", 1.0)
        v = st.floats(lo - 3 * abs(hi - lo) - 1, hi + 3 * abs(hi - lo) + 1) | st.integers(-5, 5)
    elif col.role == Role.CATEGORICAL:
        v = st.sampled_from(col.categories) | st.text(max_size=5) | st.integers(0, 3) | st.booleans()
    elif col.role == Role.DATETIME:
        lo, hi = datetime.datetime(1678, 1, 1), datetime.datetime(2261, 12, 31)  # datetime64[ns]
        v = (st.dates(lo.date(), hi.date()).map(lambda d: d.isoformat())
             | st.datetimes(lo, hi).map(lambda d: d.isoformat()))
    else:
        v = st.lists(st.sampled_from(["good", "bad", "fine", "zzz", "Great!", ""]),
                     max_size=8).map(" ".join)
    return (v | st.none()) if col.missing_rate > 0 else v


def _records(schema):
    return st.lists(st.fixed_dictionaries({c.name: _value(c) for c in schema.features}),
                    min_size=1, max_size=6)


def _check(p: Predictor, records):
    rows = p.rows([p.one.validate_python(r) for r in records])
    fast = p.fast.predict(rows)
    slow = p.predict_frame(p.frame(rows))
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-7)
    if p.task != "regression":
        np.testing.assert_allclose(fast.sum(axis=1), 1.0)


@pytest.mark.parametrize("kind", ["linear", "tree"])
@pytest.mark.parametrize("task", TASKS)
def test_fast_path_matches_the_model(fitted, tree_models, task, kind):
    model = (fitted if kind == "linear" else tree_models)[task]
    p = _predictor(model)
    assert p.fast is not None, p.fast_note
    p.fast = FastPath(model)  # this numpy path, whichever path the service found faster
    assert p._verify(p.fast) == ""
    assert [m.family for m in model._members] == (["linear"] if kind == "linear" else ["lightgbm"])

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(records=_records(model.schema))
    def check(records):
        _check(p, records)

    check()


def test_an_unknown_step_falls_back_to_the_model(fitted, tables):
    """A transformer the fast path does not know: the service predicts through the Model."""
    from sklearn.pipeline import Pipeline

    model = copy.deepcopy(fitted["binary"])
    member = model._members[0]
    member.parts = [(Pipeline([("wrapped", t)]), f) for t, f in member.parts]
    p = _predictor(model)
    assert p.fast is None and "not compiled (Pipeline)" in p.fast_note
    rows = p.rows([p.one.validate_python(r) for r in
                   tables["binary"].drop(columns="y").head(3).to_dict("records")])
    np.testing.assert_allclose(p.predict_rows(rows),
                               model.predict_proba(tables["binary"].drop(columns="y").head(3)).to_numpy())


def test_the_check_refuses_a_path_that_differs(fitted, other_binary):
    """_verify compares with Model.predict_table: another model's compiled path fails it."""
    p = _predictor(fitted["binary"])
    assert p._verify(FastPath(other_binary)).startswith("differs from the Model by")
    assert p._verify(FastPath(fitted["binary"])) == ""
