"""Ensemble selection and the scheduler's promises: failures contained, budget kept."""
import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.errors import MlexpertError
from mlexpert.evaluate import METRICS
from mlexpert.plan import SplitPlan
from mlexpert.search import SearchSpec, _scheduler, greedy_ensemble, run_search
from tests.conftest import make_table


def test_greedy_ensemble_prefers_the_better_and_mixes_complements():
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    a = y + rng.normal(scale=0.5, size=1000)
    b = y + rng.normal(scale=0.5, size=1000)  # independent errors: averaging helps
    bad = rng.normal(size=1000)
    w = greedy_ensemble([a, b, bad], y, METRICS["rmse"])
    assert w.sum() == pytest.approx(1.0) and w[2] == 0
    assert 0.3 < w[0] < 0.7


def _spec(task, y, seconds=30.0):
    k = 0 if task == "regression" else int(y.max()) + 1
    return SearchSpec(task=task, n_classes=k, metric=METRICS["roc_auc"],
                      folds=SplitPlan("stratified", 3).folds(y), deadline=Deadline.after(seconds),
                      preset="fast", n_threads=1)


def _data():
    frame = make_table("binary", n=200)
    y = (frame.pop("y") == "yes").to_numpy(int)
    schema = infer_schema(frame)
    return schema.prepare(frame), y, schema


def test_a_failing_family_does_not_end_the_search(monkeypatch):
    X, y, schema = _data()
    linear = _scheduler.FAMILIES["linear"]

    def broken(*a, **k):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(linear, "fit", broken)
    events = []
    result = run_search(X, y, schema, _spec("binary", y), events.append)
    status = {c.name: (c.status, c.note) for c in result.candidates}
    assert status["linear"] == ("failed", "RuntimeError: solver exploded")
    assert status["lightgbm"][0] == "ok"
    assert [m.name for m in result.members] == ["lightgbm"]
    assert events[-1].kind == "done" and events[-1].best_model == "lightgbm"


def test_no_time_means_a_clear_error():
    X, y, schema = _data()
    with pytest.raises(MlexpertError, match="no model could be trained"):
        run_search(X, y, schema, _spec("binary", y, seconds=0.0))
