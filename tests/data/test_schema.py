"""Schema inference (roles) and the one validator, with property-based tests."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from mlexpert.data import Role, Schema, infer_schema
from mlexpert.errors import SchemaError

N = 200
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("values, role", [
    (RNG.normal(size=N), Role.NUMERIC),
    (RNG.integers(0, 1000, N), Role.NUMERIC),
    (RNG.integers(0, 3, N), Role.CATEGORICAL),
    (RNG.choice(["a", "b", "c"], N), Role.CATEGORICAL),
    (RNG.choice([True, False], N), Role.CATEGORICAL),
    (np.arange(N), Role.ID),
    ([f"user{i}" for i in range(N)], Role.ID),
    (np.full(N, 7.0), Role.CONSTANT),
    ([np.nan] * N, Role.CONSTANT),
    ([str(round(v, 3)) for v in RNG.normal(size=N)], Role.NUMERIC),
    (pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"), Role.DATETIME),
    (pd.date_range("2020-01-01", periods=N, freq="h"), Role.DATETIME),
    ([" ".join(RNG.choice(list("abcdefghij"), 6)) + f" {i}" for i in range(N)], Role.TEXT),
])
def test_roles(values, role):
    schema = infer_schema(pd.DataFrame({"col": values}))
    assert schema.columns[0].role == role, schema.columns[0]


def test_mixed_numbers_and_strings_is_categorical_and_prepare_is_safe():
    values = ["1", "2", "abc", 3, 4.5, None] * 20
    schema = infer_schema(pd.DataFrame({"m": pd.Series(values, dtype=object)}))
    assert schema.columns[0].role == Role.CATEGORICAL
    out = schema.prepare(pd.DataFrame({"m": pd.Series(values, dtype=object)}))
    assert out["m"].iloc[2] == "abc" and pd.isna(out["m"].iloc[5])


def test_prepare_missing_feature_named():
    train = pd.DataFrame({"n": RNG.normal(size=N), "c": RNG.choice(["a", "b"], N)})
    schema = infer_schema(train)
    with pytest.raises(SchemaError, match=r"new\.csv lacks 1 column.*'n'"):
        schema.prepare(pd.DataFrame({"c": ["a"]}), "new.csv")
    out = schema.prepare(pd.DataFrame({"c": ["a", "zzz"], "n": ["1.5", "inf"], "extra": [1, 2]}))
    assert list(out.columns) == ["n", "c"]
    assert out["n"].iloc[0] == 1.5 and np.isnan(out["n"].iloc[1])
    assert schema.extra_columns(pd.DataFrame({"c": [1], "n": [1], "extra": [1]})) == ["extra"]


def test_schema_round_trips_through_json_dict():
    import json

    schema = infer_schema(pd.DataFrame({"n": RNG.normal(size=N), "c": RNG.choice(["a", "b"], N)}))
    again = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema


cells = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                  st.text(max_size=6), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_frames([column("a", elements=cells, dtype=object),
                    column("b", elements=st.floats(allow_nan=True, allow_infinity=True)),
                    column("c", elements=st.text(max_size=4))],
                   index=range_indexes(min_size=1, max_size=40)))
def test_inference_and_prepare_never_crash(frame):
    schema = infer_schema(frame)
    assert [c.name for c in schema.columns] == ["a", "b", "c"]
    out = schema.prepare(frame)
    assert list(out.columns) == [c.name for c in schema.features]
    assert len(out) == len(frame)
    for c in schema.features:
        if c.role == Role.NUMERIC:
            assert not np.isinf(out[c.name].to_numpy()).any()


@settings(max_examples=40, deadline=None)
@given(st.permutations(["n", "c", "d"]), st.booleans())
def test_prepare_is_order_and_extra_insensitive(order, extra):
    train = pd.DataFrame({"n": RNG.normal(size=50), "c": RNG.choice(["a", "b"], 50),
                          "d": pd.date_range("2020-01-01", periods=50).strftime("%Y-%m-%d")})
    schema = infer_schema(train)
    new = train[list(order)].copy()
    if extra:
        new["zz"] = 1
    pd.testing.assert_frame_equal(schema.prepare(new), schema.prepare(train))


def _same(a, b) -> bool:
    """Equal values, missing equal to missing (NaN, NaT), types as numpy sees them."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fM" or b.dtype.kind in "fM":
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return a.dtype == b.dtype and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


TRAIN = pd.DataFrame({"n": RNG.normal(size=60), "c": RNG.choice(["a", "b", "1"], 60),
                      "d": pd.date_range("2020-01-01", periods=60).strftime("%Y-%m-%d"),
                      "t": [" ".join(RNG.choice(list("abcdefghij"), 6)) + f" {i}" for i in range(60)]})
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_prepare_arrays_gives_what_prepare_gives(data):
    """The compiled one-row path's validator equals ``prepare`` on any input it may meet."""
    schema = infer_schema(TRAIN)
    assert [c.role for c in schema.features] == [Role.NUMERIC, Role.CATEGORICAL, Role.DATETIME,
                                                 Role.TEXT]
    n = data.draw(st.integers(1, 6))
    any_cell = st.one_of(st.none(), numbers, st.text(max_size=5), st.booleans())
    n_col = data.draw(st.sampled_from(["float", "int", "bool", "object"]))
    n_values = {"float": st.floats(allow_nan=True, allow_infinity=True),
                "int": st.integers(-10**12, 10**12), "bool": st.booleans(),
                "object": any_cell}[n_col]
    frame = pd.DataFrame({
        "n": pd.Series(data.draw(st.lists(n_values, min_size=n, max_size=n)),
                       dtype=object if n_col == "object" else n_col),
        "c": pd.Series(data.draw(st.lists(any_cell, min_size=n, max_size=n)), dtype=object),
        "d": pd.Series(data.draw(st.lists(st.one_of(st.none(), st.sampled_from(
            ["2021-03-04", "not a date", "9999-01-01", "2020-02-30"])), min_size=n, max_size=n)),
            dtype=object),
        "t": pd.Series(data.draw(st.lists(st.one_of(st.none(), st.text(max_size=8), numbers),
                                          min_size=n, max_size=n)), dtype=object)})
    want = schema.prepare(frame)
    got = schema.prepare_arrays(frame)
    assert len(got) == len(schema.features)
    for c, values in zip(schema.features, got, strict=True):
        assert _same(values, want[c.name].to_numpy()), (c.name, values, want[c.name].to_numpy())


def test_prepare_arrays_names_the_missing_column():
    schema = infer_schema(TRAIN)
    with pytest.raises(SchemaError, match="'d'"):
        schema.prepare_arrays(TRAIN.drop(columns=["d"]), "rows.csv")


_category_cells = st.one_of(
    st.sampled_from(["a", "b", "1", "nan", ""]), st.integers(-3, 3), st.sampled_from([1.0, 2.5, -0.0]),
    st.booleans(), st.none(), st.just(np.nan), st.just(pd.NA), st.just(pd.NaT),
    st.just(np.float32(1.0)), st.just(np.int64(2)), st.just(np.datetime64("NaT")))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_category_cells, max_size=150), st.sampled_from(["mixed", "strings", "ints", "floats"]))
def test_category_array_equals_category_value_one_by_one(cells, kind):
    """The grouped and string fast paths give exactly what ``category_value`` gives per element,
    whatever mixture of types and missing markers a column holds (and at any length, so both
    the short list path and the grouped path are exercised)."""
    from mlexpert.data import category_value
    from mlexpert.data._schema import category_array

    if kind == "strings":
        cells = [c if c is None or isinstance(c, str) or c is pd.NA else str(c) for c in cells] * 2
    elif kind != "mixed":  # one number type and missing markers, long: the grouped path
        number = int if kind == "ints" else float
        cells = [c for c in cells if c is None or c is np.nan or (
            isinstance(c, number | np.number) and not isinstance(c, bool))] * 64
    values = np.array(cells + [None], dtype=object)[:-1]
    got = category_array(values)
    want = [category_value(v) for v in values]
    one = [category_array(values[i:i + 1])[0] for i in range(min(len(values), 20))]  # one row
    assert len(got) == len(want)
    for g, w in zip([*got, *one], [*want, *want[:len(one)]], strict=True):
        assert (g != g and w != w) or (type(g) is type(w) and g == w), (g, w)


_DTYPES = {"float64": st.floats(), "float32": st.floats(width=32), "int64": st.integers(-2**62, 2**62),
           "uint8": st.integers(0, 255), "bool": st.booleans(), "object": st.one_of(
               st.none(), numbers, st.text(max_size=4), st.booleans()),
           "str": st.one_of(st.none(), st.text(max_size=4)), "Int64": st.one_of(
               st.none(), st.integers(-10**6, 10**6)), "boolean": st.one_of(st.none(), st.booleans()),
           "category": st.one_of(st.none(), st.sampled_from(["a", "b"])),
           "datetime64[ns]": st.one_of(st.none(), st.datetimes(
               min_value=pd.Timestamp("1800-01-01").to_pydatetime(),
               max_value=pd.Timestamp("2200-01-01").to_pydatetime()))}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_one_row_is_read_as_to_numpy_reads_it(data):
    """``object_rows`` reads one row through ``iloc`` (faster on Arrow strings): the values and
    their types are ``to_numpy(dtype=object)``'s, whatever the columns' dtypes."""
    from mlexpert.data._schema import object_rows

    n = data.draw(st.integers(1, 3))
    dtypes = data.draw(st.lists(st.sampled_from(sorted(_DTYPES)), min_size=1, max_size=8))
    frame = pd.DataFrame({f"c{j}": pd.Series(data.draw(st.lists(_DTYPES[d], min_size=n,
                                                                 max_size=n)), dtype=d)
                          for j, d in enumerate(dtypes)})
    for i in range(n):
        one = frame.iloc[[i]]
        got, want = object_rows(one), one.to_numpy(dtype=object)
        assert got.shape == want.shape
        for x, y in zip(got[0], want[0], strict=True):
            assert type(x) is type(y) and (x is y or x == y or (x != x and y != y)), (x, y)
