"""One validation rule on every path: the same value gets the same outcome (refused, or the same
prediction) from the library (``Schema.prepare`` then ``Model.predict_table``), the CLI's
``predict``, ``POST /predict`` and ``POST /predict/batch`` (JSON Lines and CSV)."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlexpert.data import InvalidValues
from mlexpert.serve import create_app
from tests.serve.conftest import record_of

REFUSED = "refused"
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
_DATES = st.dates(__import__("datetime").date(1500, 1, 1), __import__("datetime").date(2999, 12, 31))
NUMBER_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6),
    st.sampled_from(["1.5", " 2 ", "1e3", "nan", "", "abc", "-0", "true", "1,5", "0x10"]),
    st.text(max_size=4))
DATE_VALUES = st.one_of(
    st.booleans(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6),
    _DATES.map(lambda d: d.isoformat()), _DATES.map(lambda d: d.strftime("%d/%m/%Y")),
    st.sampled_from(["2021-03-04T10:00:00+02:00", "3000-01-01", "0001-01-01", "", "yesterday",
                     "2021-13-01"]))
CELLS = st.one_of(st.sampled_from(["1.5", "abc", "true", "3000-01-01", "2021-05-06", "", "1e3",
                                   "nan", "2021-05-06T01:02:03Z", "1", "-7", "  4 "]),
                  st.text(alphabet="0123456789.-e aT:", max_size=10))


@pytest.fixture(scope="module")
def model(fitted):
    return fitted["binary"]


@pytest.fixture(scope="module")
def service(model):
    with TestClient(create_app(model, source="m"), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def rec(tables):
    return record_of(tables["binary"], 0)


def _library(model, frame: pd.DataFrame) -> object:
    try:
        model.schema.prepare(frame, invalid="raise")
    except InvalidValues:
        return REFUSED
    return model.predict_table(frame).filter(like="proba_").to_numpy()[0]


def _answer(r) -> object:
    if r.status_code == 422:
        return REFUSED
    assert r.status_code == 200, r.text
    return r


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return np.allclose(a, b, atol=1e-9)


def _json_paths(service, rec: dict, column: str, value) -> tuple[object, object]:
    body = dict(rec, **{column: value})
    one = _answer(service.post("/predict", content=json.dumps(body).encode(),
                               headers={"content-type": "application/json"}))
    if one != REFUSED:
        one = np.array(list(one.json()["probabilities"][0].values()))
    batch = _answer(service.post("/predict/batch?format=jsonl",
                                 content=json.dumps(body).encode() + b"\n"))
    if batch != REFUSED:
        batch = pd.read_json(io.StringIO(batch.text), lines=True).filter(like="proba_") \
            .to_numpy()[0]
    return one, batch


@pytest.mark.parametrize("column, values", [("x1", NUMBER_VALUES), ("when", DATE_VALUES)],
                         ids=["number", "date"])
def test_a_json_value_gets_one_outcome_in_the_library_and_the_service(model, service, rec,
                                                                     column, values):
    @SETTINGS
    @given(value=values)
    def check(value):
        if isinstance(value, float) and not math.isfinite(value):
            return
        frame = pd.DataFrame([rec]).astype({column: object})
        frame.at[0, column] = value
        want = _library(model, frame)
        one, batch = _json_paths(service, rec, column, value)
        assert _same(want, one), (value, want, one)
        assert _same(want, batch), (value, want, batch)

    check()


def test_a_csv_cell_gets_one_outcome_in_the_library_the_cli_and_the_service(
        model, service, bundles, tables, tmp_path):
    from mlexpert.cli import app

    runner = CliRunner()
    rows = tables["binary"].drop(columns="y").head(3)

    @SETTINGS
    @given(cells=st.tuples(CELLS, CELLS), column=st.sampled_from(["x1", "x2", "when"]))
    def check(cells, column):
        frame = rows.astype({column: object})
        frame.loc[frame.index[:2], column] = list(cells)
        text = frame.to_csv(index=False)
        path = tmp_path / "cells.csv"
        path.write_text(text)
        read = pd.read_csv(path)
        want = _library_all(model, read)
        r = runner.invoke(app, ["predict", str(bundles["binary"]), str(path)])
        cli = REFUSED if r.exit_code == 1 else \
            pd.read_csv(io.StringIO(r.stdout)).filter(like="proba_").to_numpy()
        assert r.exit_code in (0, 1), r.output
        up = _answer(service.post("/predict/batch", content=text.encode(),
                                  headers={"content-type": "text/csv"}))
        if up != REFUSED:
            up = pd.read_csv(io.StringIO(up.text)).filter(like="proba_").to_numpy()
        assert _same(want, cli), (cells, column, want, cli)
        assert _same(want, up), (cells, column, want, up)

    check()


def _library_all(model, frame: pd.DataFrame) -> object:
    try:
        model.schema.prepare(frame, invalid="raise")
    except InvalidValues:
        return REFUSED
    return model.predict_table(frame).filter(like="proba_").to_numpy()


def test_opting_in_predicts_unreadable_values_as_missing_on_every_path(model, service, rec):
    """``invalid=missing``: the row is predicted as if the value were missing, everywhere."""
    missing = pd.DataFrame([dict(rec, x1=None)])
    want = model.predict_table(missing).filter(like="proba_").to_numpy()[0]
    body = json.dumps(dict(rec, x1="abc")).encode()
    assert service.post("/predict", content=body).status_code == 422
    one = service.post("/predict?invalid=missing", content=body)
    assert one.status_code == 200
    assert np.allclose(list(one.json()["probabilities"][0].values()), want)
    batch = service.post("/predict/batch?format=jsonl&invalid=missing", content=body + b"\n")
    assert batch.status_code == 200
    got = pd.read_json(io.StringIO(batch.text), lines=True).filter(like="proba_").to_numpy()[0]
    assert np.allclose(got, want)
    frame = pd.DataFrame([dict(rec, x1="abc")])
    assert np.allclose(model.predict_table(model.schema.prepare(frame, invalid="missing"))
                       .filter(like="proba_").to_numpy()[0], want)


def test_a_csv_upload_names_columns_and_lines(service, tables):
    frame = tables["binary"].drop(columns="y").head(5).astype({"x2": object, "when": object})
    frame.loc[1, "x2"] = "abc"
    frame.loc[3, "when"] = "3000-01-01"
    r = service.post("/predict/batch", content=frame.to_csv(index=False).encode(),
                     headers={"content-type": "text/csv"})
    assert r.status_code == 422
    body = r.json()
    assert "column 'x2' (a number expected) at line 3 ('abc')" in body["error"]
    assert "column 'when' (a date expected) at line 5 ('3000-01-01')" in body["error"]
    assert "?invalid=missing" in body["error"]
    assert body["detail"][0] == {"field": "x2", "problem": "bad_value", "count": 1, "lines": [3],
                                 "values": ["abc"]}
    ok = service.post("/predict/batch?invalid=missing", content=frame.to_csv(index=False).encode(),
                      headers={"content-type": "text/csv"})
    assert ok.status_code == 200 and len(pd.read_csv(io.StringIO(ok.text))) == 5


def test_model_predict_refuses_unless_opted_in(model, rec):
    frame = pd.DataFrame([dict(rec, x1="abc")] * 2)
    for predict in (model.predict, model.predict_proba, model.predict_table):
        with pytest.raises(InvalidValues, match="column 'x1'"):
            predict(frame)
    want = model.predict_table(pd.DataFrame([dict(rec, x1=None)] * 2))
    pd.testing.assert_frame_equal(model.predict_table(frame, invalid="missing"), want)
