"""A preset's ``affordable`` configurations (balanced's mlp) are tried only where their family's
estimate of its folds' cost fits ``AFFORDABLE_SHARE`` of the search's time, and never under a
budget in trials; a note says why when they are not."""
from importlib.util import find_spec

import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.evaluate import METRICS
from mlexpert.models import FAMILIES
from mlexpert.plan import SplitPlan
from mlexpert.search import SearchSpec, run_search
from mlexpert.search._presets import (
    AFFORDABLE_ENV,
    AFFORDABLE_SHARE,
    EMBEDDING_VARIANTS,
    LEVEL_VARIANTS,
    PRESETS,
)
from mlexpert.search._scheduler import affordable
from tests.conftest import make_table

BALANCED = PRESETS["balanced"]
FAMILY_OF = {n: fam.name for fam in FAMILIES.values() for n, _ in fam.configs("binary")}
FAMILY_OF.update({v: FAMILY_OF[base] for v, base in
                  {**EMBEDDING_VARIANTS, **LEVEL_VARIANTS}.items()})


@pytest.fixture
def affordable_on(monkeypatch):
    monkeypatch.setenv(AFFORDABLE_ENV, "1")  # the suite turns them off (tests/conftest.py)


def _spec(n_rows: int, seconds: float, trials: int | None = None) -> SearchSpec:
    y = np.arange(n_rows) % 2
    return SearchSpec(task="binary", n_classes=2, metric=METRICS["roc_auc"],
                      folds=SplitPlan("stratified", 5).folds(y), deadline=Deadline.after(seconds),
                      n_threads=2, trials=trials)


def test_balanced_tries_the_mlp_last_only_where_its_cost_fits(affordable_on):
    names = BALANCED.candidates()
    assert "mlp" not in BALANCED.portfolio and names[-1] == "mlp"
    assert "mlp" in PRESETS["best"].portfolio and "mlp" not in PRESETS["fast"].candidates()
    kept, notes = affordable(names, BALANCED, _spec(400, 60), 400, 8, FAMILY_OF)
    assert kept == names and notes == []
    kept, notes = affordable(names, BALANCED, _spec(20_000, 60), 20_000, 8, FAMILY_OF)
    assert kept == names[:-1] and len(notes) == 1
    assert "the mlp family was not tried: its 5 folds could take about" in notes[0].message
    assert f"more than {AFFORDABLE_SHARE:.0%} of the search's" in notes[0].message
    assert "longer tries it" in notes[0].suggestion


@pytest.mark.parametrize("rows", [1_000, 3_000, 10_000])
def test_more_time_lets_more_rows_in_and_the_boundary_is_where_the_note_says(rows, affordable_on):
    """The note's suggested limit is enough: a search that much longer keeps the family."""
    names = BALANCED.candidates()
    spec = _spec(rows, 30)
    kept, notes = affordable(names, BALANCED, spec, rows, 12, FAMILY_OF)
    if not notes:
        assert "mlp" in kept
        return
    longer = float(notes[0].suggestion.split("about ")[1].split(" s")[0])
    kept, notes = affordable(names, BALANCED, _spec(rows, 30 + longer + 2), rows, 12, FAMILY_OF)
    assert "mlp" in kept and notes == []


def test_a_budget_in_trials_leaves_them_out_whatever_the_time(affordable_on):
    names = BALANCED.candidates()
    kept, notes = affordable(names, BALANCED, _spec(200, 600, trials=3), 200, 8, FAMILY_OF)
    assert "mlp" not in kept and notes == []
    best = PRESETS["best"]  # best's portfolio holds the mlp: not an affordable extra
    kept, _ = affordable(best.candidates(), best, _spec(20_000, 10, trials=3), 20_000, 8, FAMILY_OF)
    assert "mlp" in kept


def test_the_switch_turns_them_off(monkeypatch):
    monkeypatch.setenv(AFFORDABLE_ENV, "off")
    kept, notes = affordable(BALANCED.candidates(), BALANCED, _spec(200, 600), 200, 8, FAMILY_OF)
    assert "mlp" not in kept and notes == []


@pytest.mark.skipif(find_spec("torch") is None, reason="the mlp family needs the deep extra")
def test_a_search_on_a_small_table_fits_the_affordable_mlp_after_its_portfolio(affordable_on):
    """The scheduler's path: a preset's portfolio, then the mlp, then tuning without it."""
    import dataclasses

    from mlexpert.search import _presets, _scheduler

    preset = dataclasses.replace(PRESETS["fast"], affordable=("mlp",))
    frame = make_table("binary", n=200)
    y = (frame.pop("y") == "yes").to_numpy(int)
    schema = infer_schema(frame)
    spec = dataclasses.replace(_spec(200, 60), preset="with_mlp")
    tuned = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(_presets.PRESETS, "with_mlp", preset)
        # tuning asked, but recorded only (the search then ends once its portfolio is scored)
        mp.setattr(_scheduler, "tune", lambda search, n, trials, untuned: tuned.append(untuned))
        result = run_search(schema.prepare(frame), y, schema, spec)
    names = [c.name for c in result.candidates]
    assert names[-1] == "mlp" and names[:-1] == list(preset.portfolio)
    assert result.candidates[-1].status == "ok" and result.candidates[-1].score > 0.8
    assert tuned == [frozenset({"mlp"})]  # a candidate for the ensemble, not tuned


def test_the_tuner_leaves_untuned_families_alone():
    """Every usable candidate of an untuned family: nothing to tune, nothing touched."""
    from types import SimpleNamespace

    from mlexpert.search._tuner import tune

    search = SimpleNamespace(spec=SimpleNamespace(task="binary", metric=METRICS["roc_auc"]),
                             candidates=[SimpleNamespace(usable=True, family="mlp", score=0.9)])
    tune(search, 2, None, frozenset({"mlp"}))  # returns before it reads anything else
    with pytest.raises(AttributeError):  # the same search with the mlp tunable goes further
        tune(search, 2, None)
