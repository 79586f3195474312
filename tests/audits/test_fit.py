"""fit runs the audit: conclusive leaks are left out (and recorded), keep_columns overrides,
labels are never changed, and the time promise holds."""
import time

import numpy as np
import pytest

import mlexpert
from mlexpert.errors import DataError
from tests.conftest import make_table

FAST = dict(time_limit=5, seed=0, presets="fast")


@pytest.fixture(scope="module")
def leaky():
    frame = make_table("binary", n=300)
    frame["outcome_code"] = np.where(frame["y"] == "yes", 7, 3)
    frame["row_id"] = np.arange(len(frame))
    return frame


@pytest.mark.heavy
def test_fit_excludes_a_conclusive_leak_and_records_it(leaky):
    started = time.monotonic()
    model = mlexpert.fit(leaky, target="y", **FAST)
    assert time.monotonic() - started < FAST["time_limit"] + 3
    used = [c.name for c in model.schema.features]
    assert "outcome_code" not in used and "x1" in used
    checks = {f.check: f for f in model.findings}
    assert checks["columns_excluded"].columns == ("outcome_code",)
    assert "target_leak" in checks or "target_function" in checks
    assert model.metrics["roc_auc"]["value"] < 0.99  # scored without the leak
    with pytest.warns(UserWarning, match="outcome_code"):  # the left-out column is ignored
        with_leak = list(model.predict(leaky.head(5)))
    assert with_leak == list(model.predict(leaky.drop(columns="outcome_code").head(5)))


@pytest.mark.heavy
def test_keep_columns_overrides(leaky):
    model = mlexpert.fit(leaky, target="y", keep_columns=["outcome_code", "row_id"], budget=0, **FAST)
    used = [c.name for c in model.schema.features]
    assert "outcome_code" in used and "row_id" in used
    assert any(f.check == "columns_kept" for f in model.findings)
    with pytest.raises(DataError, match="'nope'"):
        mlexpert.fit(leaky, target="y", keep_columns=["nope"], **FAST)


def test_only_leaks_left_is_a_data_error():
    frame = make_table("binary", n=100)[["y"]]
    frame["copy"] = frame["y"].map({"yes": 1, "no": 0})
    with pytest.raises(DataError, match="leaks the target"):
        mlexpert.fit(frame, target="y", **FAST)
