"""The one coercion rule (``mlexpert.data._coerce``): unreadable values refused per column and row
unless the caller opts in, and the same outcome for a value alone or in a column of any size."""
from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.data import InvalidValues, Role, Schema, infer_schema
from mlexpert.data._coerce import BadValue, date_value, dates, number_value, numbers
from mlexpert.errors import ConfigError, DataError

N = 40
TRAIN = pd.DataFrame({
    "age": np.arange(N, dtype=float) * 1.5,
    "city": np.resize(["a", "b", "c"], N),
    "when": pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
})


@pytest.fixture(scope="module")
def schema() -> Schema:
    s = infer_schema(TRAIN)
    assert [c.role for c in s.features] == [Role.NUMERIC, Role.CATEGORICAL, Role.DATETIME]
    return s


def test_unreadable_values_are_refused_naming_column_and_rows(schema):
    frame = pd.DataFrame({"age": ["12", "abc", "", True, None, "nan"], "city": list("abcabc"),
                          "when": ["2020-01-02", "2020-01-03", None, "3000-01-01",
                                   "2021-03-04T10:00:00+02:00", "yesterday"]},
                         index=[10, 11, 12, 13, 14, 15])
    with pytest.raises(InvalidValues) as info:
        schema.prepare(frame, "file 'new.csv'", invalid="raise")
    err = info.value
    assert isinstance(err, DataError) and err.count == 5
    message = str(err)
    assert "\n" not in message and "file 'new.csv'" in message
    assert "column 'age' (a number expected) at rows 11 ('abc'), 12 (''), 13 (True)" in message
    assert "column 'when' (a date expected) at rows 13 ('3000-01-01'), 15 ('yesterday')" in message
    assert "invalid='missing'" in message
    assert [(c.name, c.count, c.positions) for c in err.columns] == [
        ("age", 3, (1, 2, 3)), ("when", 2, (3, 5))]
    # opted in: the same values are missing, the others canonical
    X = schema.prepare(frame, invalid="missing")
    assert X["age"].tolist()[:1] == [12.0] and X["age"].iloc[1:].isna().all()
    assert X["when"].isna().tolist() == [False, False, True, True, False, True]
    assert X["when"].iloc[4] == pd.Timestamp("2021-03-04 08:00:00")  # in UTC
    # the compiled small-batch path reads the same rule
    with pytest.raises(InvalidValues):
        schema.prepare_arrays(frame, invalid="raise")


def test_booleans_are_not_numbers(schema):
    frame = TRAIN.head(3).assign(age=[True, False, True])
    with pytest.raises(InvalidValues, match="'age'"):
        schema.prepare(frame, invalid="raise")
    assert schema.prepare(frame, invalid="missing")["age"].isna().all()


def test_the_option_is_checked(schema):
    with pytest.raises(ConfigError, match="invalid must be"):
        schema.prepare(TRAIN, invalid="ignore")


def test_clean_input_passes_in_either_mode(schema):
    a = schema.prepare(TRAIN, invalid="raise")
    b = schema.prepare(TRAIN, invalid="missing")
    pd.testing.assert_frame_equal(a, b)
    assert a["age"].dtype == float and a["when"].dtype == "datetime64[ns]"


_LO, _HI = datetime.datetime(1500, 1, 1), datetime.datetime(3000, 1, 1)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
    st.text(max_size=6), st.sampled_from(["1.5", " 2 ", "1e3", "nan", "", "abc", "inf", "-0"]),
    st.datetimes(_LO, _HI).map(lambda d: d.isoformat()), st.datetimes(_LO, _HI),
    st.dates(_LO.date(), _HI.date()).map(lambda d: d.strftime("%d/%m/%Y")),
    st.lists(st.integers(), max_size=2))


def _scalar(fn, v):
    try:
        return ("ok", fn(v))
    except BadValue:
        return ("bad", None)


def _same(a, b) -> bool:
    return a[0] == b[0] and (a[0] == "bad" or (pd.isna(a[1]) and pd.isna(b[1])) or a[1] == b[1])


@settings(max_examples=150, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=80))
def test_a_value_alone_and_in_a_column_gets_one_outcome(values):
    """The service reads one value at a time, the library a column (one object array, small or
    large): for numbers and dates, the same canonical value or the same refusal."""
    column = np.empty(len(values), dtype=object)
    column[:] = values
    for alone, many in ((number_value, numbers(column)),
                        (lambda v: date_value(v, "%d/%m/%Y"), dates(column, "%d/%m/%Y"))):
        out, bad = many
        for i, v in enumerate(values):
            got = ("bad", None) if bad is not None and bad[i] else ("ok", out[i])
            assert _same(_scalar(alone, v), got), (v, _scalar(alone, v), got)


FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y",
           "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%d %b %Y"]


@st.composite
def _date_column(draw):
    """A format and a few cells: mostly dates in it (some far outside 1678-2261, some with a
    'Z' or an offset), some missing, some text, some dates in another format."""
    fmt = draw(st.sampled_from(FORMATS))
    cells = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["in format"] * 4 + ["missing", "text", "other format"]))
        if kind == "missing":
            cells.append(draw(st.sampled_from([None, float("nan")])))
            continue
        if kind == "text":
            cells.append(draw(st.text(max_size=12)))
            continue
        t = draw(st.datetimes(min_value=datetime.datetime(1000, 1, 1),
                              max_value=datetime.datetime(2999, 12, 31)))
        if "%z" in fmt:
            minutes = draw(st.integers(-14 * 60, 14 * 60))
            t = t.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
        text = t.strftime(draw(st.sampled_from(FORMATS)) if kind == "other format" else fmt)
        cells.append(text.replace("+0000", "Z") if draw(st.booleans()) else text)
    return fmt, cells


@settings(max_examples=400, deadline=None)
@given(_date_column())
def test_a_few_dates_read_by_strptime_match_pandas(column):
    """Up to SMALL_DATES values skip pandas; whatever they hold, the outcome is pandas' own."""
    fmt, cells = column
    _as_pandas_reads(np.array(cells, dtype=object), fmt)


def _as_pandas_reads(values, fmt):
    """``dates`` (which may skip pandas) gives pandas' own dates and unreadable mask."""
    from mlexpert.data._coerce import _pandas_dates

    quick, quick_bad = dates(values, fmt)
    slow, slow_bad = _pandas_dates(values, fmt)
    np.testing.assert_array_equal(quick, slow)
    assert (quick_bad is None) == (slow_bad is None)
    if quick_bad is not None:
        np.testing.assert_array_equal(quick_bad, slow_bad)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(), st.integers(-2**70, 2**70), st.text(max_size=3),
                          st.booleans(), st.just(float("nan")), st.lists(st.integers(), max_size=2),
                          st.binary(max_size=2)), min_size=1, max_size=20))
def test_scalars_only_answers_alike_for_few_values_and_many(values):
    """Few values are checked one by one, more by pandas' kind first: the same mask."""
    from mlexpert.data._coerce import SMALL_SCALARS, scalars_only

    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        arr[i] = v
    long = np.concatenate([arr] * (SMALL_SCALARS // len(arr) + 1))  # above the threshold
    got = scalars_only(long)
    bad = np.array([not (v is None or isinstance(v, str | int | float | bool)) for v in long])
    assert (got is None and not bad.any()) or np.array_equal(got, bad)
    for i in range(len(arr)):  # one row's column: the same flag
        one = scalars_only(arr[i:i + 1])
        assert (one is None and not bad[i]) or (one is not None and one.tolist() == [bad[i]])
    small = scalars_only(arr[:SMALL_SCALARS])
    assert (small is None and not bad[:len(arr[:SMALL_SCALARS])].any()) or \
        np.array_equal(small, bad[:len(arr[:SMALL_SCALARS])])


@st.composite
def _datetime_column(draw):
    cells = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["python", "pandas", "aware", "missing", "nanoseconds",
                                     "text"]))
        if kind == "missing":
            cells.append(draw(st.sampled_from([None, float("nan"), pd.NaT])))
            continue
        if kind == "text":
            cells.append("2021-03-04")
            continue
        t = draw(st.datetimes(min_value=datetime.datetime(1, 1, 1),
                              max_value=datetime.datetime(9999, 12, 31)))
        if kind == "aware":
            minutes = draw(st.integers(-14 * 60, 14 * 60))
            t = t.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
        if kind in ("pandas", "nanoseconds"):
            year = draw(st.integers(1678, 2261))
            try:  # 29 February in another year, or beyond Timestamp's range: drawn again
                t = pd.Timestamp(t.replace(year=year)) + pd.Timedelta(draw(st.integers(0, 999)) if kind ==
                                                   "nanoseconds" else 0, unit="ns")
            except (OverflowError, ValueError):
                continue
        cells.append(t)
    return cells or [None]


@settings(max_examples=400, deadline=None)
@given(_datetime_column())
def test_a_few_datetimes_read_without_pandas_match_pandas(cells):
    """A one-row frame's datetime column holds Timestamps: read one by one, the outcome is
    pandas' own (time zones to UTC, far dates unreadable, nanoseconds left to pandas)."""
    from mlexpert.data._coerce import _datetime_dates

    values = np.array(cells, dtype=object)
    _as_pandas_reads(values, None)
    if all(v is None or isinstance(v, float) or v is pd.NaT or
           (isinstance(v, datetime.datetime) and not getattr(v, "nanosecond", 0))
           for v in cells):
        assert _datetime_dates(values) is not None  # the quick path answered
