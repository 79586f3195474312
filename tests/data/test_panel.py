"""panel_entity: the column naming an entity observed once per time, and what is not one."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.data import as_time, infer_schema, panel_entity, time_candidates


def _entity(frame: pd.DataFrame, time: str) -> str | None:
    schema = infer_schema(frame)
    return panel_entity(frame, schema, time, as_time(frame, time, schema))


def test_a_panel_of_states_over_years_names_the_state_and_not_the_region():
    rows = [(f"s{s}", f"r{s % 4}", y, float(s * y % 7)) for s in range(30) for y in range(12)]
    frame = pd.DataFrame(rows, columns=["state", "region", "year", "x"])
    assert _entity(frame, "year") == "state"
    assert time_candidates(frame, infer_schema(frame)) == ["year"]


def test_whole_number_ids_name_entities_where_rows_share_times():
    rows = [(s, y, float(s + y)) for s in range(1, 46) for y in range(8)]
    assert _entity(pd.DataFrame(rows, columns=["store", "week", "x"]), "week") == "store"


def test_an_event_log_names_its_customers_but_not_a_flag_or_a_count():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({
        "customer": rng.choice([f"c{i}" for i in range(40)], size=n),
        "flag": rng.choice(["yes", "no"], size=n),
        "count": rng.integers(0, 40, size=n),
        "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 300, n)), "D"),
    })
    assert _entity(frame, "at") == "customer"
    assert _entity(frame.drop(columns="customer"), "at") is None


def test_rows_that_repeat_an_entity_at_one_time_are_no_panel():
    rows = [(f"s{s}", y) for s in range(10) for y in range(6) for _ in range(3)]
    frame = pd.DataFrame(rows, columns=["shop", "year"]).assign(x=1.0)
    assert _entity(frame, "year") is None
