"""EntityHistory: a row's features come only from its entity's rows strictly earlier in time whose
target is known; new rows read the stored tails; the tails stay bounded."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from mlexpert.features import EntityHistory, HistorySpec
from mlexpert.features._history import TAIL_ROWS, WINDOW


def _panel(n_entities: int = 12, n_times: int = 15, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = [(f"e{e}", 2000 + t) for e in range(n_entities) for t in range(n_times)]
    frame = pd.DataFrame(rows, columns=["who", "year"])
    frame["price"] = rng.normal(size=len(frame)).cumsum()
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # any row order
    level = frame["who"].str[1:].astype(int).to_numpy() * 10.0
    y = level + (frame["year"] - 2000).to_numpy() + rng.normal(size=len(frame))
    return frame, y


def _names(step: EntityHistory) -> list[str]:
    return list(step.get_feature_names_out())


@pytest.mark.parametrize("horizon", [1, 3])
def test_a_row_never_sees_its_own_target_or_a_later_one(horizon):
    frame, y = _panel()
    before = EntityHistory(horizon=horizon, seed=1).fit_transform(frame, y)
    cut = 2007
    later = frame["year"].to_numpy() >= cut
    changed = y.copy()
    changed[later] = np.random.default_rng(5).permutation(changed[later]) + 100.0
    after = EntityHistory(horizon=horizon, seed=1).fit_transform(frame, changed)
    np.testing.assert_array_equal(before[~later], after[~later])
    # the rows whose targets changed: their own features did not move with their own targets
    first_changed = frame["year"].to_numpy() == cut
    np.testing.assert_array_equal(before[first_changed], after[first_changed])


def test_with_horizon_one_a_row_sees_the_previous_step():
    frame, y = _panel()
    step = EntityHistory(horizon=1)
    out = pd.DataFrame(step.fit_transform(frame, y))
    out.columns = _names(step)
    by = pd.DataFrame({"who": frame["who"], "year": frame["year"], "y": y})
    previous = by.set_index(["who", "year"])["y"]
    later = frame["year"] > 2000
    expected = [previous[(w, t - 1)] for w, t in zip(frame["who"][later], frame["year"][later],
                                                     strict=True)]
    np.testing.assert_allclose(out["who_target_last"][later], expected)
    assert (out["year_since_known"][later] == 1).all()
    assert out["who_target_last"][~later].isna().all()  # the first year: no history
    assert (out["who_known_rows"][~later] == 0).all()
    np.testing.assert_allclose(out["who_known_rows"][later], frame["year"][later] - 2000)


def test_horizons_are_drawn_up_to_the_spec():
    frame, y = _panel(n_times=30)
    step = EntityHistory(horizon=4, seed=0)
    out = pd.DataFrame(step.fit_transform(frame, y), columns=_names(step))
    gaps = out["year_since_known"].dropna()
    assert set(gaps.unique()) == {1.0, 2.0, 3.0, 4.0}


def test_new_rows_read_the_stored_tails():
    frame, y = _panel(n_entities=3, n_times=12)
    step = EntityHistory(horizon=2).fit(frame, y)
    new = pd.DataFrame({"who": ["e1", "e1", "e1", "e9"], "year": [2012, 2013, 2015, 2012],
                        "price": [1.0, 2.0, 3.0, 4.0]})
    out = pd.DataFrame(step.transform(new), columns=_names(step))
    own = pd.DataFrame({"who": frame["who"], "year": frame["year"], "y": y, "price": frame["price"]})
    e1 = own[own["who"] == "e1"].sort_values("year")
    np.testing.assert_allclose(out["who_target_last"][:3], e1["y"].iloc[-1])
    np.testing.assert_allclose(out["who_target_mean"][:3], e1["y"].mean())  # older rows counted
    np.testing.assert_allclose(out["who_target_mean5"][:3], e1["y"].iloc[-WINDOW:].mean())
    slope = np.polyfit(e1["year"].iloc[-WINDOW:], e1["y"].iloc[-WINDOW:], 1)[0]
    np.testing.assert_allclose(out["who_target_trend5"][:3], slope)
    np.testing.assert_allclose(out["year_since_known"][:3], [1, 2, 4])
    # each row alone reads the same: earlier rows of the batch (target unknown) are no history
    alone = np.vstack([step.transform(new.iloc[[i]]) for i in range(len(new))])
    np.testing.assert_array_equal(alone, out.to_numpy())
    np.testing.assert_allclose(out["price_change_since_known"][:3],
                               np.array([1.0, 2.0, 3.0]) - e1["price"].iloc[-1])
    assert (out["who_known_rows"][:3] == 12).all()
    unseen = out.iloc[3]  # an entity training never had: no history at all
    assert unseen["who_known_rows"] == 0 and np.isnan(unseen["who_target_last"])
    assert np.isnan(unseen["year_since_known"])


def test_missing_entity_or_time_has_no_history():
    frame, y = _panel(n_entities=2, n_times=8)
    step = EntityHistory().fit(frame, y)
    new = pd.DataFrame({"who": [None, "e0"], "year": [2010.0, np.nan], "price": [0.0, 0.0]})
    out = pd.DataFrame(step.transform(new), columns=_names(step))
    assert out["who_target_last"].isna().all() and (out["who_known_rows"] == 0).all()


def test_the_stored_tails_are_bounded_per_entity():
    frame, y = _panel(n_entities=7, n_times=40)
    step = EntityHistory().fit(frame, y)
    assert len(step.tail_entity_) == 7 * TAIL_ROWS
    assert step.older_count_.sum() == len(frame) - 7 * TAIL_ROWS
    assert len(pickle.dumps(step)) < 20_000  # not the training table


def test_multiclass_history_follows_each_class_and_binary_the_positive_share():
    frame, _ = _panel(n_entities=4, n_times=10)
    codes = (frame["year"].to_numpy() % 3).astype(int)
    step = EntityHistory(task="multiclass", horizon=1)
    out = pd.DataFrame(step.fit_transform(frame, codes), columns=_names(step))
    assert "who_target2_last" in out.columns
    later = frame["year"].to_numpy() > 2000
    last = out.loc[later, ["who_target0_last", "who_target1_last", "who_target2_last"]]
    np.testing.assert_allclose(last.sum(axis=1), 1.0)  # one class per earlier row
    np.testing.assert_allclose(last.to_numpy().argmax(axis=1), (codes[later] - 1) % 3)


def test_transform_is_deterministic_and_survives_pickling():
    frame, y = _panel()
    a = EntityHistory(horizon=3, seed=4).fit(frame, y)
    b = pickle.loads(pickle.dumps(a))
    new = frame.assign(year=frame["year"] + 15)
    np.testing.assert_array_equal(a.transform(new), b.transform(new))
    np.testing.assert_array_equal(EntityHistory(horizon=3, seed=4).fit_transform(frame, y),
                                  EntityHistory(horizon=3, seed=4).fit_transform(frame, y))


def test_dates_count_in_days():
    frame, y = _panel(n_entities=2, n_times=6)
    frame["year"] = pd.to_datetime(frame["year"].astype(str) + "-01-01")
    step = EntityHistory(horizon=1)
    out = pd.DataFrame(step.fit_transform(frame, y), columns=_names(step))
    gaps = out["year_since_known"].dropna()
    assert gaps.between(365, 366).all()


def test_the_spec_reads_entity_time_and_the_numbers_it_follows():
    spec = HistorySpec(entity="who", time="year", horizon=2)
    assert spec.columns(["year", "price", "who", "qty"]) == ["who", "year", "price", "qty"]


def test_extending_the_history_equals_fitting_on_the_longer_history():
    frame, y = _panel(n_entities=5, n_times=20)
    early = frame["year"].to_numpy() < 2012
    longer = EntityHistory().fit(frame, y)
    extended = EntityHistory().fit(frame[early], y[early])
    extended.extend(frame[~early], y[~early])
    new = pd.DataFrame({"who": ["e0", "e3", "e4"], "year": [2020, 2021, 2024],
                        "price": [0.0, 1.0, 2.0]})
    np.testing.assert_allclose(extended.transform(new), longer.transform(new), rtol=1e-12)
    # a row among those kept is replaced, not counted twice; a new entity starts its history
    again = pickle.loads(pickle.dumps(extended))
    kept = frame["year"].to_numpy() >= 2020 - TAIL_ROWS
    again.extend(frame[kept].head(3), y[kept][:3])
    np.testing.assert_allclose(again.transform(new), longer.transform(new), rtol=1e-12)
    extended.extend(pd.DataFrame({"who": ["z"], "year": [2019], "price": [0.0]}), [7.0])
    out = pd.DataFrame(extended.transform(pd.DataFrame({"who": ["z"], "year": [2020],
                                                        "price": [1.0]})),
                       columns=_names(extended))
    assert out["who_target_last"][0] == 7.0 and out["who_known_rows"][0] == 1


def test_rows_after_the_kept_ones_read_the_summary_exactly_as_the_general_path():
    frame, y = _panel(n_entities=6, n_times=12)
    step = EntityHistory(horizon=2).fit(frame, y)
    new = pd.DataFrame({"who": ["e1", "e2", "e2", "e5", "zz", None],
                        "year": [2012, 2008, 2030, 2011, 2013, 2013],  # 2008: inside the kept rows
                        "price": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0]})
    fast = step.transform(new)
    ent, t, nums = step._inputs(new, fitted=True)
    np.testing.assert_array_equal(fast, step._transform_codes(ent, t, nums))
    names = _names(step)
    backfill = pd.DataFrame(fast, columns=names).iloc[1]
    assert backfill["year_since_known"] == 1  # 2008 reads the kept row of 2007, not later ones
