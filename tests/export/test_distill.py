"""Distillation: MUNGE samples, the student as an ordinary bundle (and ONNX graph), and the
report of accuracy lost and speed gained with intervals."""
from __future__ import annotations

import functools
import json

import pandas as pd
import pytest

import mlexpert
from mlexpert.data import infer_schema
from mlexpert.errors import DataError
from mlexpert.export import munge
from tests.conftest import TASKS
from tests.export._parity import assert_parity
from tests.export.conftest import split
from tests.test_cli import run


def test_munge_samples_stay_in_the_data():
    train, _ = split("binary")
    X_raw = train.drop(columns="y")
    schema = infer_schema(X_raw)
    X = schema.prepare(X_raw)
    a = munge(X, schema, 500, seed=3)
    assert len(a) == 500 and list(a.columns) == list(X.columns)
    assert set(a["color"].dropna()) <= set(X["color"].dropna())
    assert a["x2"].between(X["x2"].min() - 3, X["x2"].max() + 3).all()
    assert a["when"].dtype == X["when"].dtype and a["when"].notna().mean() > 0.9
    assert a.equals(munge(X, schema, 500, seed=3))  # seeded
    assert not a.equals(munge(X, schema, 500, seed=4))
    assert len(schema.prepare(a)) == 500  # valid input for the teacher


@pytest.fixture(scope="module")
def teacher():
    """The teacher of a task, fitted once when first asked for, on its first 200 training rows."""
    @functools.cache
    def fit(task: str):
        train, _ = split(task)
        return mlexpert.fit(train.iloc[:200], target="y", time_limit=15, presets="fast", budget=0)

    return fit


@pytest.fixture(scope="module", params=TASKS)
def distilled(request, teacher, tmp_path_factory):
    task = request.param
    train, test = split(task)
    teacher = teacher(task)
    out = tmp_path_factory.mktemp("distill") / "small"
    # trained on the teacher's rows; the accuracy lost measured on 80 rows neither saw
    result = teacher.distill(train.iloc[:200], out, test=train.iloc[200:], time_limit=20)
    return task, teacher, result, out, test


def test_distilled_bundle_and_report(distilled):
    task, teacher, result, out, test = distilled
    report = result.report
    student = mlexpert.load(out)
    assert [m.name for m in student._members] == ["distilled_lightgbm"]
    assert report["munge_samples"] > 0 and report["held_out_rows"] == 80
    lost, speed = report["lost"], report["speedup"]
    assert lost["low"] <= lost["value"] <= lost["high"]
    assert speed["low"] <= speed["value"] <= speed["high"] and speed["value"] > 0
    assert student.info["distillation"]["metric"] == teacher.metric
    assert teacher.metric in student.metrics
    pd.testing.assert_series_equal(student.predict(test, invalid="missing"),
                                  result.model.predict(test, invalid="missing"))
    assert_parity(student, test)  # the student is exportable: one LightGBM
    # the student stores its own predictions of the sample, on its copy; the teacher keeps its own
    for model in (student, teacher):
        [f] = [f for f in mlexpert.diagnose(model).findings if "reproduced" in f.check]
        assert f.check == "predictions_reproduced" and f.evidence["rows_differing"] == 0


def test_distill_needs_rows(distilled):
    _, teacher, _, _, test = distilled
    with pytest.raises(DataError, match="at least 10"):
        teacher.distill(test.head(5))


def test_distill_to_onnx_refuses_text_before_training(fitted, tables, tmp_path):
    from mlexpert.errors import ExportError

    with pytest.raises(ExportError, match="text column 'review'"):
        fitted["binary"].distill(tables["binary"], tmp_path / "s", onnx=True)
    assert not (tmp_path / "s").exists()


@pytest.mark.heavy
def test_cli_distill_with_onnx(teacher, tmp_path):
    train, test = split("binary")  # one tree a round: the multiclass student is tested above
    train.to_csv(tmp_path / "train.csv", index=False)
    teacher("binary").save(tmp_path / "model")
    r = run("distill", tmp_path / "model", "--data", tmp_path / "train.csv", "--out",
            tmp_path / "small", "--onnx", "--json", "--time-limit", "15")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert {"lost", "speedup", "latency_ms"} <= set(report)
    assert (tmp_path / "small" / "model.onnx").is_file()
    assert mlexpert.load(tmp_path / "small").task == "binary"
    r = run("distill", tmp_path / "nothing", "--data", tmp_path / "train.csv", "--out",
            tmp_path / "x")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_distilling_an_ensemble_keeps_most_of_its_accuracy(tmp_path):
    train, _ = split("binary")
    teacher = mlexpert.fit(train.iloc[:200], target="y", time_limit=30, presets="best", budget=0)
    assert len(teacher._members) > 1
    result = teacher.distill(train.iloc[:200], tmp_path / "s", test=train.iloc[200:])
    assert result.report["lost"]["low"] < 0.05
    assert result.report["speedup"]["value"] > 1


def test_distill_without_labels_reports_speed_only(distilled, tmp_path):
    task, teacher, _, _, _ = distilled
    if task != "binary":
        pytest.skip("one task is enough")
    train, _ = split(task)
    unlabelled = teacher.distill(train.drop(columns="y"), time_limit=5)
    assert "lost" not in unlabelled.report and "speedup" in unlabelled.report
    assert unlabelled.model.metrics == {}
    partly = train.copy()
    partly.loc[partly.index[::3], "y"] = None
    result = teacher.distill(partly, time_limit=5)
    assert result.report["held_out_rows"] == round(0.2 * partly["y"].notna().sum())
