"""read_table: every accepted input form, and a clear DataError for every broken one."""
import numpy as np
import pandas as pd
import pytest

from mlexpert.data import read_table
from mlexpert.errors import DataError

FRAME = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": ["x", "y", None], "c": [True, False, True]})


def test_pandas_is_not_modified():
    original = FRAME.copy()
    out = read_table(FRAME)
    out["a"] = 0
    pd.testing.assert_frame_equal(FRAME, original)


def test_polars_and_arrow_give_the_same_table():
    pl = pytest.importorskip("polars")
    import pyarrow as pa

    for data in (pl.from_pandas(FRAME), pa.Table.from_pandas(FRAME)):
        out = read_table(data)
        assert list(out.columns) == ["a", "b", "c"]
        assert out["a"].isna().sum() == 1 and len(out) == 3


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_files(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        FRAME.to_parquet(path)
    else:
        FRAME.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    out = read_table(str(path))
    assert list(out.columns) == ["a", "b", "c"] and len(out) == 3


def test_non_string_column_names_become_strings():
    out = read_table(pd.DataFrame({0: [1, 2], 1: [3, 4]}))
    assert list(out.columns) == ["0", "1"]


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"),
    (b"a,b,a\n1,2,3\n", "duplicate column names: 'a'"),
    (b"name,city\nJos\xe9,Z\xfcrich\n", "not valid UTF-8"),
    (b'a,b\n1,"unterminated\n', "not a well-formed CSV|is empty"),
])
def test_broken_csv(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_table(str(path))
    assert "bad.csv" in str(info.value)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    FRAME.to_parquet(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_table(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown extension"):
        read_table(tmp_path / "t.xlsx")


def test_duplicate_names_in_frames():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column names"):
        read_table(frame)


def test_unsupported_type():
    with pytest.raises(DataError, match="cannot read data of type list"):
        read_table([[1, 2]])


def test_epoch_ns_reads_dates_as_nanoseconds_and_leaves_the_unreadable_missing():

    from mlexpert.data import epoch_ns

    got = epoch_ns(pd.Series(["1970-01-02", None, "not a date", "2000-01-01T00:00:01"]))
    np.testing.assert_array_equal(got[[0, 3]], [86400e9, 946684801e9])
    assert np.isnan(got[[1, 2]]).all()
