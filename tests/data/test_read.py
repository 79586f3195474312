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


@pytest.mark.parametrize("content, kind", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256)), "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "a ZIP archive"),
    (b"col\n1\x002\n\xff\xfe", "binary data"),
])
def test_a_file_that_is_not_text_is_named_not_a_csv(tmp_path, content, kind):
    path = tmp_path / "picture.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="is not a CSV") as info:
        read_table(str(path))
    message = str(info.value)
    assert kind in message and "picture.csv" in message
    assert "UTF-8" not in message and "iconv" not in message  # no encoding advice for a picture


def test_utf16_text_is_named_as_such(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("a,b\n1,2\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        read_table(str(path))
