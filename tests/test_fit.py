"""fit(): the main job end to end, its options, its promises, and hostile input."""
import time

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.errors import ConfigError, DataError
from tests.conftest import TASKS, make_table

FAST = dict(time_limit=15, seed=0, presets="fast", budget=1)


@pytest.mark.parametrize("task", TASKS)
def test_leaderboard_and_metrics(fitted, task):
    model = fitted[task]
    board = model.leaderboard
    assert {"model", "score", "score_std", "status", "fit_seconds", "predict_ms_per_1k",
            "p_vs_best", "ensemble_weight"} <= set(board.columns)
    scored = board[board["score"].notna()]
    assert (scored["predict_ms_per_1k"] > 0).all() and (scored["score_std"] >= 0).all()
    assert pd.isna(board["p_vs_best"].iloc[0])  # the best is not compared with itself
    assert scored["p_vs_best"].iloc[1:].between(0, 1).all()
    assert board["ensemble_weight"][board["model"] != "ensemble"].sum() == pytest.approx(1.0)
    assert model.task == task
    expected = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    assert model.metric == expected
    good = {"binary": lambda v: v > 0.8, "multiclass": lambda v: v < 0.8,
            "regression": lambda v: v < 3.0}[task]
    assert good(model.metrics[expected]["value"]), model.metrics
    # one-row latency: estimated per candidate, measured for the shipped model
    assert (scored["latency_ms_per_row"] > 0).all()
    assert model.info["inference"]["latency_ms_per_row"] > 0
    # pickled size: estimated per candidate and for what is shipped
    assert (scored["size_mb"] > 0).all()
    assert model.info["size"]["estimated_mb"] > 0 and model.info["size"]["measured_mb"] is None


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["csv", "parquet", "polars", "arrow"])
def test_input_kinds(tmp_path, kind):
    frame = make_table("binary", n=150)
    if kind == "csv":
        data = tmp_path / "t.csv"
        frame.to_csv(data, index=False)
        data = str(data)
    elif kind == "parquet":
        data = tmp_path / "t.parquet"
        frame.to_parquet(data)
    elif kind == "polars":
        import polars as pl

        data = pl.from_pandas(frame)
    else:
        import pyarrow as pa

        data = pa.Table.from_pandas(frame)
    model = mlexpert.fit(data, target="y", **FAST)
    assert model.predict(frame.drop(columns="y")).isin(["yes", "no"]).all()


@pytest.mark.heavy
@pytest.mark.parametrize("presets", ["fast", pytest.param("balanced", marks=pytest.mark.slow)])
def test_reproducible_when_the_budget_is_given_in_trials(presets):
    frame = make_table("multiclass", n=300, seed=3)
    a = mlexpert.fit(frame, target="y", time_limit=120, seed=7, budget=3, presets=presets)
    b = mlexpert.fit(frame, target="y", time_limit=120, seed=7, budget=3, presets=presets)
    cols = ["model", "score", "status", "ensemble_weight"]
    assert a.leaderboard_all["model"].str.contains("_t3").any()  # the tuning trials ran
    pd.testing.assert_frame_equal(a.leaderboard_all[cols], b.leaderboard_all[cols])
    X = frame.drop(columns="y")
    pd.testing.assert_frame_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.heavy
def test_time_limit_is_kept_with_the_default_preset():
    frame = make_table("binary", n=20_000, seed=1)
    start = time.monotonic()
    model = mlexpert.fit(frame, target="y", time_limit=8, seed=0)
    elapsed = time.monotonic() - start
    assert elapsed <= 8 * 1.1 + 1.5, elapsed
    assert model.info["provenance"]["fit_seconds"] <= elapsed


@pytest.mark.heavy
def test_options_groups_time_weights_ignore():
    frame = make_table("regression", n=300)
    frame["store_id"] = np.repeat(np.arange(30), 10)
    frame["w"] = np.linspace(0.5, 2, 300)
    model = mlexpert.fit(frame, target="y", groups="store_id", sample_weight="w",
                         ignore_columns=["review"], **FAST)
    names = {c.name for c in model.schema.columns}
    assert names == {"x1", "x2", "color", "size", "when"}
    assert model.info["plan"]["split"]["kind"] == "group"
    timed = mlexpert.fit(frame, target="y", time_column="when", **FAST)
    assert timed.info["plan"]["split"]["kind"] == "time"


def test_the_time_limit_counts_from_the_callers_start():
    """``mlexpert.fit`` starts its clock before importing the fit's libraries (~1.6 s on a cold
    start), and the route honours a start the caller gives: time spent before counts."""
    import time as _time

    from mlexpert._fit import fit as fit_route

    frame = make_table("binary", n=200)
    model = fit_route(frame, "y", _time.monotonic() - 3.0, time_limit=5, seed=0, budget=1,
                      presets="fast")
    assert model.manifest.provenance["fit_seconds"] >= 3.0


def test_the_command_gives_the_fit_what_the_card_and_tracking_leave(monkeypatch):
    from mlexpert.cli import _fit as cli_fit

    monkeypatch.setattr(cli_fit, "COMMAND_STARTED", _now() - 1.0)
    after = cli_fit.CARD_SECONDS + cli_fit.TRACK_SECONDS
    assert cli_fit.fit_seconds(60, True, True) == pytest.approx(59 - after, abs=0.2)
    assert cli_fit.fit_seconds(60, False, False) == pytest.approx(59, abs=0.2)
    assert cli_fit.fit_seconds(6, True, True) == 3.0  # too small for both: half for the fit


def _now():
    import time as _time

    return _time.monotonic()


def test_forests_may_score_out_of_bag_only_when_the_split_keeps_rows_independent(monkeypatch):
    """Out-of-bag rows are drawn row by row: with groups or a time order they would score a
    forest on rows whose group or future it trained on, so those splits keep K fold fits."""
    from mlexpert._fit import _local

    seen = {}

    class Stop(Exception):
        pass

    def capture(X, y, schema, spec, progress):
        seen["out_of_bag"] = spec.out_of_bag
        raise Stop

    monkeypatch.setattr(_local, "run_search", capture)
    frame = make_table("regression", n=300)
    frame["store_id"] = np.repeat(np.arange(30), 10)
    for options, expected in (({}, True), ({"groups": "store_id"}, False),
                              ({"time_column": "when"}, False)):
        with pytest.raises(Stop):
            mlexpert.fit(frame, target="y", **{**FAST, **options})
        assert seen.pop("out_of_bag") is expected, options


@pytest.mark.heavy
def test_repeated_codes_unrelated_to_the_target_are_not_hinted_as_groups():
    """Issue #28: a group hint needs evidence the column names an entity; random customer codes
    with no link to the target get none (real-table cases: tests/audits/test_split_hints.py)."""
    frame = make_table("binary", n=300)
    frame["customer_id"] = np.repeat(np.arange(30), 10)
    model = mlexpert.fit(frame, target="y", **FAST)
    checks = {f.check for f in model.findings}
    assert "split_groups_suggested" not in checks


@pytest.mark.heavy
def test_missing_target_rows_dropped_and_counted():
    frame = make_table("binary", n=200)
    frame.loc[:9, "y"] = None
    model = mlexpert.fit(frame, target="y", **FAST)
    finding = next(f for f in model.findings if f.check == "target_missing")
    assert finding.evidence["rows_dropped"] == 10 and model.info["provenance"]["rows"] == 190


def test_inf_mixed_and_unicode_columns():
    frame = make_table("regression", n=200)
    frame.loc[:4, "x2"] = np.inf
    frame["mixed"] = pd.Series(["1", "a", 2, 3.5, None] * 40, dtype=object)
    frame = frame.rename(columns={"x1": "größe in €", "y": "Zielwert (y)"})
    model = mlexpert.fit(frame, target="Zielwert (y)", **FAST)
    assert any(f.check == "infinite_values" and f.columns == ("x2",) for f in model.findings)
    assert len(model.predict(frame.head(3))) == 3


@pytest.mark.heavy
def test_a_thousand_columns():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 1000)), columns=[f"c{i}" for i in range(1000)])
    frame["y"] = frame["c0"] + rng.normal(scale=0.1, size=120)
    model = mlexpert.fit(frame, target="y", time_limit=20, presets="fast", budget=0)
    assert len(model.schema.features) == 1000


def _csv(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


HOSTILE = [
    ("empty file", lambda p: _csv(p, ""), "y", DataError, r"t\.csv' is empty"),
    ("header only", lambda p: _csv(p, "a,b,y\n"), "y", DataError, "header but no rows"),
    ("target missing", lambda p: make_table("binary", 50), "Y", DataError, "Did you mean 'y'"),
    ("target all missing", lambda p: make_table("binary", 50).assign(y=None), "y", DataError,
     "every row is missing"),
    ("single class", lambda p: make_table("binary", 50).assign(y="yes"), "y", DataError,
     "single value"),
    ("one row", lambda p: make_table("binary", 1), "y", DataError, "only 1 row"),
    ("five rows", lambda p: make_table("binary", 5), "y", DataError, "only 5 row"),
    ("duplicate names", lambda p: _csv(p, "a,a,y\n1,2,3\n"), "y", DataError, "duplicate column"),
    ("non-utf8", lambda p: _csv(p, b"a,y\n\xe9t\xe9,1\n"), "y", DataError, "not valid UTF-8"),
    ("corrupt parquet", lambda p: _csv(p, b"PAR1garbage", "t.parquet"), "y", DataError,
     "not a readable Parquet"),
    ("only id columns", lambda p: pd.DataFrame({"id": range(30), "y": [0, 1] * 15}), "y",
     DataError, "no usable feature columns"),
]


@pytest.mark.parametrize("make, target, error, match", [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_hostile_input(tmp_path, make, target, error, match):
    with pytest.raises(error, match=match):
        mlexpert.fit(make(tmp_path), target=target, **FAST)


@pytest.mark.parametrize("kwargs, match", [
    (dict(time_limit=-1), "time_limit must be a positive number"),
    (dict(presets="ultra"), "presets must be one of"),
    (dict(presets="medium"), "presets must be one of fast, balanced, best"),
    (dict(budget=-1), "budget must be a number of tuning trials"),
    (dict(budget="5"), "budget must be a number of tuning trials"),
    (dict(budget=True), "budget must be a number of tuning trials"),
    (dict(metric="rmse"), "metric must be one of"),
    (dict(task="ranking"), "task must be one of"),
    (dict(groups="shop"), "groups column 'shop' is not in the data"),
    (dict(sample_weight=[1.0, 2.0]), "sample_weight must be a column name or one value per row"),
    (dict(ignore_columns=["colour"]), "Did you mean 'color'"),
    (dict(infer_limit=0), "infer_limit must be a positive number of seconds per row"),
    (dict(infer_limit="fast"), "infer_limit must be a positive number of seconds per row"),
    (dict(infer_limit=float("nan")), "infer_limit must be a positive number of seconds per row"),
    (dict(size_limit=0), "size_limit must be a positive number of megabytes"),
    (dict(size_limit="1MB"), "size_limit must be a positive number of megabytes"),
    (dict(size_limit=float("inf")), "size_limit must be a positive number of megabytes"),
    (dict(positive_class="maybe"), "positive_class 'maybe' is not a class of 'y'; its classes "
                                   "are 'no' and 'yes'"),
    (dict(positive_class=["yes"]), "positive_class must be one value of the target"),
])
def test_bad_options(kwargs, match):
    frame = make_table("binary", n=60)
    with pytest.raises((ConfigError, DataError), match=match):
        mlexpert.fit(frame, target="y", **{**FAST, **kwargs})


def test_positive_class_is_the_one_probabilities_and_pr_auc_describe():
    from sklearn.metrics import average_precision_score

    frame = make_table("binary", n=300, seed=3)
    assert mlexpert.fit(frame, target="y", **FAST).classes == ["no", "yes"]  # sorted by default
    model = mlexpert.fit(frame, target="y", positive_class="no", optimize_threshold="f1", **FAST)
    assert model.classes == ["yes", "no"] and model.manifest.provenance["call"]["positive_class"] == "no"
    test = make_table("binary", n=200, seed=4)
    proba = model.predict_proba(test)
    assert list(proba.columns) == ["yes", "no"]
    report = model.evaluate(test, n_resamples=50)
    want = average_precision_score(test["y"] == "no", proba["no"])
    assert report["metrics"]["pr_auc"]["value"] == pytest.approx(want, abs=1e-9)
    labels = np.where(proba["no"] > model.threshold, "no", "yes")  # the threshold is on "no"
    assert (model.predict(test).to_numpy() == labels).all()


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_positive_class_is_for_binary_targets(task):
    with pytest.raises(ConfigError, match=f"positive_class must be unset for a {task} target"):
        mlexpert.fit(make_table(task, n=80), target="y", positive_class="1", **FAST)


def test_negative_weights_are_refused():
    frame = make_table("binary", n=60).assign(w=-1.0)
    with pytest.raises(DataError, match="sample_weight column 'w' must be finite, non-negative"):
        mlexpert.fit(frame, target="y", sample_weight="w", **FAST)


@pytest.mark.heavy
def test_balanced_metrics_train_with_class_weights_and_say_so():
    frame = make_table("binary", n=400)
    frame.loc[frame.index[frame["y"] == "yes"][40:], "y"] = "no"  # ~10 % positives
    model = mlexpert.fit(frame, target="y", metric="balanced_accuracy", **FAST)
    finding = next(f for f in model.findings if f.check == "class_weights")
    assert finding.evidence["smallest_class"] == 40
    plain = mlexpert.fit(frame, target="y", **FAST)  # ROC AUC: the natural balance is kept
    assert all(f.check != "class_weights" for f in plain.findings)


@pytest.mark.heavy
def test_size_limit_ships_what_fits_and_measures_it():
    """A limit below every candidate ships the smallest one, says so, and measures it."""
    frame = make_table("binary", n=200)
    model = mlexpert.fit(frame, target="y", time_limit=20, seed=0, budget=0, size_limit=0.001,
                         presets="fast")  # three candidates of different sizes are enough
    size = model.info["size"]
    assert len(model._members) == 1 and size["size_limit_mb"] == 0.001
    board = model.leaderboard.set_index("model")
    shipped = model._members[0].name
    assert board.loc[shipped, "size_mb"] == board["size_mb"].min()
    assert size["measured_mb"] > 0.001  # over the limit: measured and reported
    checks = {f.check: f for f in model.findings}
    assert "size_limit" in checks and "MB pickled" in checks["size_limit"].message
    (choice,) = [f for f in model.findings if f.check == "model_choice"
                 and "size_limit" in f.message]
    assert "no candidate can fit size_limit (0.001 MB); the smallest" in choice.message
    assert "raise size_limit (CLI --size-limit)" in choice.suggestion  # each note its own advice
    assert all("presets='best'" not in f.suggestion for f in model.findings
               if f.check == "model_choice" and "is shipped instead of" not in f.message)


@pytest.mark.heavy
def test_an_infer_limit_no_model_meets_is_said_with_the_estimate(tables):
    """A limit below any model's one-row cost ships the fastest candidate and says so twice:
    the search's decision, and a warning finding with the shipped model's estimate once
    compiled beside what its first calls took through the members."""
    import mlexpert

    model = mlexpert.fit(tables["binary"], target="y", time_limit=15, seed=0, presets="fast",
                         budget=0, infer_limit=1e-9)
    found = [f for f in model.findings if f.check == "infer_limit"]
    assert len(found) == 1 and "estimated to take" in found[0].message
    assert "once compiled, over infer_limit (0.00 ms)" in found[0].message
    inference = model.info["inference"]
    assert found[0].evidence["estimated_ms"] == inference["estimated_ms_per_row"] > 0
    assert found[0].evidence["first_calls_ms"] == inference["latency_ms_per_row"]
