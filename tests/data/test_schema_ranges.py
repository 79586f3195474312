"""Values beyond what the models' number types hold: far dates become missing, numbers beyond
float32 are clipped to its largest finite value, so predict never crashes on them."""
import numpy as np
import pandas as pd
import pytest

from mlexpert.data import InvalidValues, Role, infer_schema

FLOAT32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize("values", [
    pd.Series(["2021-01-01", "2300-05-01", None, "1500-01-01"]),
    pd.Series(np.array(["2021-01-01", "2500-01-01", "NaT", "1000-01-01"], dtype="datetime64[s]")),
    pd.Series(["2021-01-01T10:00:00+02:00", "3000-01-01T00:00:00+00:00", None, "0900-01-01"]),
], ids=["text", "datetime64[s]", "with-timezone"])
def test_dates_outside_nanoseconds_become_missing(values):
    from mlexpert.data._schema import _to_datetime

    out = _to_datetime(values, None)  # the coercion Schema.prepare applies to dates
    assert out.dtype == np.dtype("datetime64[ns]")
    assert out.iloc[0].year == 2021 and out.iloc[1:].isna().all()


def test_prepare_turns_far_dates_into_missing():
    train = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=50).strftime("%Y-%m-%d")})
    schema = infer_schema(train)
    assert schema.columns[0].role == Role.DATETIME
    out = schema.prepare(pd.DataFrame({"when": ["2021-01-01", "2300-05-01", "1500-01-01"]}))
    assert out["when"].iloc[0].year == 2021 and out["when"].iloc[1:].isna().all()


def test_numbers_beyond_float32_are_clipped():
    train = pd.DataFrame({"x": np.linspace(0, 1, 50)})
    schema = infer_schema(train)
    out = schema.prepare(pd.DataFrame({"x": [1e39, -1e300, 0.5, np.inf, "1e40"]}))["x"]
    assert out.tolist()[:3] == [FLOAT32_MAX, -FLOAT32_MAX, 0.5]
    assert np.isnan(out.iloc[3]) and out.iloc[4] == FLOAT32_MAX
    assert np.isfinite(out.dropna().astype(np.float32)).all()


@pytest.mark.parametrize("family", ["random_forest", "extra_trees", "xgboost", "linear"])
def test_predict_on_far_values_does_not_crash(family):
    from tests.export.conftest import family_model

    model, test = family_model(family, "binary")
    far = test.iloc[:4].copy()
    far["x1"] = [1e39, -1e300, 1e308, 2.0]
    far["when"] = ["2300-01-01", "1500-06-30", "9999-12-31", "2021-05-05"]
    with pytest.raises(InvalidValues, match="column 'when'"):  # dates beyond datetime64[ns]
        model.predict(far)
    pred = model.predict(far, invalid="missing")
    assert len(pred) == 4 and pred.notna().all()
