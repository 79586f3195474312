"""Hostile input: one-line errors naming the column or file; odd but valid tables audit cleanly."""
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlexpert
from mlexpert.errors import ConfigError, DataError
from tests.audits.conftest import of


def test_missing_target_column_is_named(cancer):
    with pytest.raises(DataError, match=r"'tagret'.*Did you mean 'target'"):
        mlexpert.audit(cancer, target="tagret")


def test_empty_table_and_bad_path(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        mlexpert.audit(pd.DataFrame({"x": [], "y": []}), target="y")
    with pytest.raises(DataError, match="does not exist"):
        mlexpert.audit(str(tmp_path / "nope.csv"), target="y")
    (tmp_path / "header.csv").write_text("x,y\n")
    with pytest.raises(DataError, match="header.csv"):
        mlexpert.audit(str(tmp_path / "header.csv"), target="y")


def test_bad_options_are_config_errors(cancer):
    with pytest.raises(ConfigError, match="time_limit"):
        mlexpert.audit(cancer, target="target", time_limit=0)
    with pytest.raises(ConfigError, match="task"):
        mlexpert.audit(cancer, target="target", task="ranking")
    with pytest.raises(DataError, match="'when'"):
        mlexpert.audit(cancer, target="target", time_column="when")
    with pytest.raises(DataError, match="'hh'"):
        mlexpert.audit(cancer, target="target", groups="hh")


def test_single_class_target_is_an_error_finding(cancer):
    report = mlexpert.audit(cancer.assign(target=1), target="target")
    [f] = of(report, "target_single_value")
    assert f.severity == "error" and f.columns == ("target",)


def test_target_with_no_values_is_a_data_error(cancer):
    with pytest.raises(DataError, match="no values"):
        mlexpert.audit(cancer.assign(target=np.nan), target="target")


def test_all_nan_column_and_missing_targets(cancer):
    frame = cancer.assign(empty=np.nan)
    frame.loc[:9, "target"] = np.nan
    report = mlexpert.audit(frame, target="target")
    assert of(report, "constant_column", "empty")
    [m] = of(report, "target_missing")
    assert m.evidence["rows_missing"] == 10 and m.rows == tuple(range(10))
    assert report.skipped == []


def test_to_dict_is_strict_json_with_the_promised_keys(cancer):
    frame = cancer.assign(empty=np.nan, leak=cancer["target"])
    d = mlexpert.audit(frame, target="target").to_dict()
    json.dumps(d, allow_nan=False)
    for f in d["findings"]:
        assert set(f) - {"rows"} == {"check", "severity", "columns", "message", "evidence",
                                     "suggestion"}
        assert f["severity"] in ("error", "warning", "info")
        assert all(isinstance(r, int) for r in f.get("rows", []))


cells = st.one_of(st.none(), st.integers(-1000, 1000), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=5), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cells, cells, st.sampled_from(["a", "b", None, 1, 2.5])),
                min_size=1, max_size=60))
def test_any_small_table_gives_findings_or_a_data_error(rows):
    frame = pd.DataFrame(rows, columns=["u", "v", "y"])
    try:
        report = mlexpert.audit(frame, target="y", time_limit=20)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    json.dumps(report.to_dict(), allow_nan=False)
    assert not [s for s in report.skipped if "failed" in s], report.skipped
