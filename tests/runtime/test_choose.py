"""Model.predict's compiled path for small batches: built in the background after a few calls
(or by ``compile``), verified against the members, used only when it agrees, never kept across
a copy or a pickle."""
from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest

from mlexpert.bundle import HOT_CALLS, SMALL_BATCH
from mlexpert.ensemble import Ensemble
from mlexpert.errors import SchemaError
from mlexpert.runtime import _choose
from tests.conftest import TASKS, make_table


def _fresh(model):
    """A copy of a session model with no compiled path yet (other tests may have built one)."""
    model = copy.copy(model)
    model._compiled, model._small_calls, model._building = None, 0, None
    return model


def _warm(model, rows):
    """Predict as a user does until the build starts, then wait for it."""
    for _ in range(HOT_CALLS):
        model.predict(rows)
    model.compile()


def _hostile_rows(frame):
    rows = frame.iloc[:6].copy()
    rows.loc[rows.index[0], "color"] = "never seen"
    rows.loc[rows.index[1], "x1"] = np.nan
    rows.loc[rows.index[2], "when"] = "not a date"
    rows["x2"] = rows["x2"].astype(object)
    rows.loc[rows.index[3], "x2"] = "12.5"  # a number as text: coerced as the members' path does
    rows.loc[rows.index[4], "review"] = None
    return rows


@pytest.mark.parametrize("task", TASKS)
def test_small_batches_take_the_compiled_path_and_agree(fitted, tables, task, monkeypatch):
    model = _fresh(fitted[task])
    frame = tables[task].drop(columns="y")
    rows = _hostile_rows(frame)
    native, _ = model._predict_raw(rows, compiled=False, invalid="missing")
    want = model._labels(native, rows.index)
    assert model.compiled_path == "not built yet"
    for _ in range(HOT_CALLS - 1):
        model.predict(rows.iloc[:1], invalid="missing")
    assert model._building is None  # not yet: a one-off call never pays
    model.predict(rows.iloc[:1], invalid="missing")  # this one starts the build, and does not wait for it
    assert model._building is not None
    model.compile()  # waits for the build the calls started
    assert model.compiled_path.startswith("on: "), model.compiled_path

    def members_used(*_a, **_k):
        raise AssertionError("a small batch went through the members")

    monkeypatch.setattr(model, "_raw", members_used)  # from here a small batch must not need it
    got = model.predict_table(rows, invalid="missing")  # hostile rows: read as missing
    np.testing.assert_allclose(model._predict_raw(rows, invalid="missing")[0], native, rtol=0, atol=1e-5)
    assert got.index.equals(rows.index)
    if task == "regression":  # the ONNX graph sums in its own order: within 1e-5
        np.testing.assert_allclose(got[model.target], want, rtol=0, atol=1e-5)
    else:
        assert got[model.target].tolist() == want.tolist()
    if task != "regression":
        np.testing.assert_allclose(model.predict_proba(rows, invalid="missing").sum(axis=1),
                                   1.0)
    with pytest.raises(AssertionError, match="members"):  # a large batch still takes them
        model.predict(frame.iloc[:SMALL_BATCH + 1])


def test_the_numpy_path_serves_while_the_graph_is_still_building(fitted, tables, monkeypatch):
    """The graph of a large ensemble takes tens of seconds to build (verbagg_resp: 32 s, numpy
    2 s): the call that starts the build waits for the numpy path, and small batches take it
    from then on, not the members until both are done (a background build of both, contended
    by the members' own calls, left verbagg_resp's one-row median at 169 ms)."""
    import threading

    from mlexpert.runtime import _onnx

    release, started = threading.Event(), threading.Event()
    graph = _onnx.OnnxPath

    def slow_graph(model, pause=None):
        started.set()
        assert release.wait(60), "the test never released the graph build"
        return graph(model, pause)

    monkeypatch.setattr(_onnx, "OnnxPath", slow_graph)
    model = _fresh(fitted["binary"])
    rows = tables["binary"].drop(columns="y").iloc[:1]
    for _ in range(HOT_CALLS):
        model.predict(rows)
    assert started.wait(60), "the background build never reached the graph"
    assert model.compiled_path.startswith("on: numpy"), model.compiled_path
    assert "onnxruntime: still building" in model.compiled_path

    def members_used(*_a, **_k):
        raise AssertionError("a small batch went through the members")

    with monkeypatch.context() as m:
        m.setattr(model, "_raw", members_used)
        model.predict(rows)  # on the numpy path while the graph builds
    release.set()
    model.compile()  # waits for the build: the faster of both, timed
    assert "still building" not in model.compiled_path
    assert "numpy" in model.compiled_path and "onnxruntime" in model.compiled_path


def test_a_compiled_path_that_disagrees_is_not_used(fitted, tables, monkeypatch):
    class Wrong:
        def __init__(self, model, pause=None):
            self.k = len(model.classes)

        def predict(self, rows):
            return np.full((len(rows), self.k), 1.0 / self.k)

    monkeypatch.setattr(_choose, "FastPath", Wrong)
    monkeypatch.setattr("mlexpert.runtime._onnx.OnnxPath", Wrong)
    model = _fresh(fitted["multiclass"])
    rows = tables["multiclass"].drop(columns="y").iloc[:3]
    for _ in range(HOT_CALLS + 1):
        got = model.predict_proba(rows)
    model.compile()  # waits for the build the calls started
    assert "numpy: differs from the Model" in model.compiled_path
    assert "onnxruntime: differs from the Model" in model.compiled_path
    np.testing.assert_allclose(got.to_numpy(), model._predict_raw(rows, compiled=False)[0])


def test_large_values_are_checked_relative_to_their_size():
    """House prices summed in float32 by XGBoost are ~0.01 apart from the graph's double sum:
    within the tolerance relative to the values, so the ONNX path verifies; a path off by 1 %
    does not."""
    from mlexpert.ensemble import Member
    from tests.export.conftest import fit_member, make_model, split

    train, test = split("regression", numeric_only=True)
    train = train.assign(y=train["y"] * 2e5 + 3e5)
    schema, classes, part = fit_member("xgboost", "regression", train)
    model = make_model("regression", schema, classes, [Member("x", "xgboost", 1.0, [part], True)])
    rows = [list(r) for r in zip(*model.schema.prepare_arrays(test), strict=True)]
    want = _choose.reference(model, rows)
    from mlexpert.runtime._onnx import OnnxPath

    graph = OnnxPath(model)
    assert np.abs(graph.predict(rows) - want).max() > 1e-5  # float32 sums: absolutely apart
    assert _choose.verify(model, graph, rows, want, _choose.ONNX_TOLERANCE) == ""

    class OnePercentOff:
        def predict(self, r):
            return graph.predict(r) * 1.01

    assert _choose.verify(model, OnePercentOff(), rows, want, _choose.ONNX_TOLERANCE) \
        .startswith("differs from the Model by")


def test_a_compiled_path_that_fails_on_some_input_leaves_it_to_the_members(fitted, tables):
    model = _fresh(fitted["regression"])
    rows = tables["regression"].drop(columns="y").iloc[:4]
    _warm(model, rows)
    path = model._compiled[1]

    class Failing:
        def predict(self, rows):
            raise ValueError("a value no probe had")

    model._compiled = (model._compiled[0], Failing(), model._compiled[2])
    got = model.predict(rows)
    want = model._labels(*model._predict_raw(rows, compiled=False))
    assert got.tolist() == want.tolist() and path is not None


def test_compile_builds_now_and_says_what_it_chose(fitted, tables):
    model = _fresh(fitted["binary"])
    note = model.compile()
    assert note == model.compiled_path and note.startswith("on: ")
    rows = tables["binary"].drop(columns="y").iloc[:3]
    assert model.predict(rows).tolist() == model._labels(
        *model._predict_raw(rows, compiled=False)).tolist()


def test_fit_returns_with_the_compiled_path_built(tables, monkeypatch):
    import mlexpert

    monkeypatch.setenv("MLEXPERT_COMPILE_IN_FIT", "1")  # tests/conftest.py turns it off

    # a limit the search cannot fill (one tuning trial): time is left for the build however
    # busy the machine is (the session's models may have had less than a second left)
    model = mlexpert.fit(tables["regression"], target="y", time_limit=300, presets="fast",
                         budget=1)
    assert model.compiled_path.startswith("on: "), model.compiled_path

    def members_used(*_a, **_k):
        raise AssertionError("a small batch went through the members")

    monkeypatch.setattr(model, "_raw", members_used)
    model.predict(tables["regression"].drop(columns="y").iloc[:1])  # the first call takes it


def test_compile_with_a_timeout_leaves_a_slow_graph_to_the_background(fitted, tables,
                                                                      monkeypatch):
    import threading
    import time

    from mlexpert._fit._compile import compile_within
    from mlexpert.runtime import _onnx

    release = threading.Event()
    graph = _onnx.OnnxPath

    def held_graph(model, pause=None):
        assert release.wait(60), "the test never released the graph build"
        return graph(model, pause)

    monkeypatch.setattr(_onnx, "OnnxPath", held_graph)
    monkeypatch.setenv("MLEXPERT_COMPILE_IN_FIT", "1")
    model = _fresh(fitted["binary"])
    compile_within(model, time.monotonic() + 0.5)  # under a second left: left to predict
    assert model.compiled_path == "not built yet" and model._building is None
    t0 = time.monotonic()
    note = model.compile(timeout=0.3)
    assert time.monotonic() - t0 < 30  # the numpy path's build, not the held graph's
    assert note.startswith("on: numpy") and "onnxruntime: still building" in note, note
    release.set()
    model.compile()  # waits for the background build
    assert "still building" not in model.compiled_path


def test_fit_waits_for_the_graph_while_its_time_limit_lasts(fitted, monkeypatch):
    """A search that ended early leaves the rest of the limit to the graph's build: fit returns
    with the graph deciding, not with the numpy path while the graph converts."""
    import threading
    import time

    from mlexpert._fit._compile import compile_within
    from mlexpert.runtime import _onnx

    graph = _onnx.OnnxPath
    release = threading.Event()

    def slow_graph(model, pause=None):  # longer than the share a 60 s limit holds back (1.5 s)
        assert release.wait(60), "the test never released the graph build"
        return graph(model, pause)

    monkeypatch.setattr(_onnx, "OnnxPath", slow_graph)
    monkeypatch.setenv("MLEXPERT_COMPILE_IN_FIT", "1")
    model = _fresh(fitted["binary"])
    threading.Timer(2.0, release.set).start()
    t0 = time.monotonic()
    compile_within(model, t0 + 30)
    assert 2.0 <= time.monotonic() - t0 < 30
    assert "still building" not in model.compiled_path, model.compiled_path


def test_bad_input_on_the_small_path_is_named(fitted, tables):
    model = _fresh(fitted["binary"])
    rows = tables["binary"].drop(columns="y").iloc[:2]
    _warm(model, rows)
    assert model.compiled_path.startswith("on: ")
    with pytest.raises(SchemaError, match="'color'"):
        model.predict(rows.drop(columns=["color"]))
    with pytest.raises(Exception, match="no rows"):
        model.predict(rows.iloc[:0])


def test_the_compiled_path_is_rebuilt_not_shared_by_a_copy_or_pickle(fitted, tables):
    model = _fresh(fitted["binary"])
    rows = tables["binary"].drop(columns="y").iloc[:1]
    _warm(model, rows)
    built = model._compiled
    again = pickle.loads(pickle.dumps(model))
    assert again.compiled_path == "not built yet"
    assert again.predict(rows).tolist() == model.predict(rows).tolist()
    other = copy.copy(model)  # given other members: another model
    other.ensemble = Ensemble(list(model.ensemble.members), model.task)
    other.predict(rows)
    assert other._compiled is None or other._compiled[0] != built[0]


def test_xgboost_is_compiled_through_its_booster():
    """The numpy path calls XGBoost's booster directly, over the early-stopped rounds; its
    answers must be the wrapper's to the last bits."""
    from mlexpert.ensemble import Member
    from mlexpert.runtime import FastPath
    from tests.export.conftest import fit_member, make_model, split

    for task, early_stop in [(t, e) for t in TASKS for e in (False, True)]:
        train, test = split(task)
        schema, classes, part = fit_member("xgboost", task, train, early_stop=early_stop)
        if early_stop:  # the rounds to stop at matter only then
            assert part[1].estimator.best_iteration is not None
        model = make_model(task, schema, classes, [Member("x", "xgboost", 1.0, [part], True)])
        rows = test.iloc[:40]
        native, _ = model._predict_raw(rows, compiled=False, invalid="missing")
        if task != "regression":  # as the Model's probabilities: rows summing to 1
            native = native / native.sum(axis=1, keepdims=True)
        path = FastPath(model)
        got = path.predict(list(zip(*model.schema.prepare_arrays(rows), strict=True)))
        np.testing.assert_allclose(got, native, rtol=0, atol=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_catboost_with_categories_compiles_both_paths(task):
    """The numpy path feeds CatBoost lists instead of a DataFrame (a millisecond less per row) and
    ONNX takes its category splits as code sets: both verified, and the answers stay CatBoost's
    (no reference sample here: probes come from the schema's statistics)."""
    from tests.export.conftest import family_model

    model, test = family_model("catboost", task)
    assert model.reference_sample is None
    rows = test.iloc[:40]  # missing values, unseen categories, far dates and numbers
    native, _ = model._predict_raw(rows, compiled=False, invalid="missing")
    _warm(model, rows.iloc[:1])
    assert re.match(r"on: \w+ \(one row: (numpy|onnxruntime) \d+ µs, (numpy|onnxruntime) \d+ µs;",
                    model.compiled_path), model.compiled_path
    np.testing.assert_allclose(model._predict_raw(rows, invalid="missing")[0], native, rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
def test_forests_are_walked_in_numpy_with_scikit_learns_answers(family, task):
    """All trees at once, a numpy step per level: the same answers as scikit-learn's predict
    on rows with missing, unseen and out-of-range values, one row and many."""
    from mlexpert.ensemble import Member
    from mlexpert.models._forest import _ForestWalk as _Forest
    from mlexpert.runtime import FastPath
    from tests.export.conftest import fit_member, make_model, split

    train, test = split(task)
    schema, classes, part = fit_member(family, task, train)
    model = make_model(task, schema, classes, [Member("f", family, 1.0, [part], True)])
    native, _ = model._predict_raw(test, compiled=False, invalid="missing")
    if task != "regression":
        native = native / native.sum(axis=1, keepdims=True)
    path = FastPath(model)
    assert any(isinstance(p, _Forest) for _, parts in path._members for _, p in parts)
    rows = list(zip(*model.schema.prepare_arrays(test), strict=True))
    np.testing.assert_allclose(path.predict(rows), native, rtol=0, atol=1e-12)
    np.testing.assert_allclose(path.predict(rows[:1]), native[:1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", ["extra_trees", "catboost"])
def test_a_bag_of_fold_models_is_walked_in_one_call(family, task):
    """A member's fold models (each with its own preprocessing, some missing a class) walk
    their trees together: one call for the member, the same answers as the Model's own path,
    one row at a time and many."""
    from mlexpert.ensemble import Member
    from mlexpert.runtime import FastPath
    from tests.export.conftest import fit_member, make_model, split

    train, test = split(task)
    rng = np.random.default_rng(0)
    folds = [rng.choice(len(train), 90, replace=False) for _ in range(3)]
    if task == "multiclass":  # one fold without the last class: its models know 3 of 4
        last = train["y"].to_numpy() == sorted(train["y"].unique())[-1]
        folds[0] = np.flatnonzero(~last)[:90]
    fits = [fit_member(family, task, train, rows=rows) for rows in folds]
    schema, classes = fits[0][0], fits[0][1]
    model = make_model(task, schema, classes,
                       [Member("bag", family, 1.0, [f[2] for f in fits], True)])
    native, _ = model._predict_raw(test, compiled=False, invalid="missing")
    if task != "regression":
        native = native / native.sum(axis=1, keepdims=True)
    path = FastPath(model)
    (n_parts, parts), = path._members
    assert n_parts == 3 and len(parts) == 1 and len(parts[0][0]) == 3  # one call, three inputs
    rows = list(zip(*model.schema.prepare_arrays(test), strict=True))
    one = np.concatenate([path.predict(rows[i:i + 1]) for i in range(len(rows))])
    np.testing.assert_allclose(one, native, rtol=0, atol=1e-12)
    np.testing.assert_allclose(path.predict(rows), native, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_numpy_path_applies_the_calibrator(task, method):
    """A calibrated model with free text (no ONNX form) still gets a compiled path: the numpy
    path ends with the Model's calibrator, so it verifies and serves."""
    from mlexpert.ensemble import Member
    from mlexpert.evaluate import fit_calibrator
    from tests.export.conftest import fit_member, make_model

    frame = make_table(task, n=300, seed=1)
    train, test = frame.iloc[:240], frame.iloc[240:].drop(columns="y")
    schema, classes, part = fit_member("lightgbm", task, train)
    members = [Member("lightgbm", "lightgbm", 1.0, [part], True)]
    base = make_model(task, schema, classes, members)
    p = base._raw(schema.prepare(train.drop(columns="y")))
    y = np.searchsorted(classes, train["y"].to_numpy())
    model = make_model(task, schema, classes, members,
                       calibration=fit_calibrator(method, p, y).to_dict())
    native, _ = model._predict_raw(test, compiled=False, invalid="missing")
    note = model.compile()
    assert note.startswith("on: numpy"), note
    assert "cannot export text column" in note
    np.testing.assert_allclose(model._predict_raw(test.iloc[:5])[0],
                               native[:5] / native[:5].sum(axis=1, keepdims=True), atol=1e-9)


def test_a_build_switches_threads_often_and_restores_the_interval(fitted, monkeypatch):
    """A background build would make each predict call wait up to 5 ms per GIL hand-over: while
    any build runs the interval is 0.2 ms, and it comes back after the last one, even when a
    build fails."""
    import sys

    seen = []

    def record(model, probes):
        seen.append(sys.getswitchinterval())
        raise RuntimeError("boom")

    monkeypatch.setattr(_choose, "fastest", record)
    before = sys.getswitchinterval()
    with _choose._responsive():  # another build already running
        path, note = _choose.compile_model(_fresh(fitted["binary"]))
        assert sys.getswitchinterval() == pytest.approx(_choose.BUILD_SWITCH_INTERVAL)
    assert path is None and "boom" in note
    assert seen == [pytest.approx(_choose.BUILD_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == before


def test_a_reference_sample_the_schema_refuses_leaves_the_members(fitted, tables, monkeypatch):
    """A stored sample that no longer validates gets no compiled path and a note saying why
    (the background build must not die and be restarted on every call); the members answer."""
    model = _fresh(fitted["binary"])

    def refuse(frame, source="the data"):
        raise SchemaError(f"{source} has a column this schema cannot read")

    monkeypatch.setattr(model.schema, "prepare_arrays", refuse)
    path, note = _choose.compile_model(model)
    assert path is None and note.startswith("failed on the probe rows (SchemaError"), note
    rows = tables["binary"].drop(columns="y").iloc[:2]
    assert model.predict(rows).tolist() == model._labels(
        model._predict_raw(rows, compiled=False)[0], rows.index).tolist()


def test_text_projections_for_trees_are_the_vectorizers_to_the_bit():
    """Trees split on the SVD projections of TF-IDF, which the vectorizer computes in float32:
    the numpy path's projections must be those values exactly, or a split placed next to a
    frequent text's value sends it the other way."""
    from mlexpert.compiled import compile_transformer
    from mlexpert.data import infer_schema
    from mlexpert.features import build_preprocessor

    frame = make_table("regression", n=300, seed=3).drop(columns="y")
    frame.loc[frame.index[::3], "review"] = "[no title]"  # one text repeated, as real data has
    schema = infer_schema(frame)
    transformer = build_preprocessor(schema, "tree").transformer
    want = transformer.fit_transform(schema.prepare(frame))
    rows = list(zip(*schema.prepare_arrays(frame.iloc[:40]), strict=True))
    block = compile_transformer(transformer, schema)
    np.testing.assert_array_equal(np.concatenate([block(rows[i:i + 1]) for i in range(40)]),
                                  want[:40])


def test_exit_waits_for_onnxruntime_calls_under_way_and_refuses_new_ones(monkeypatch):
    """A background build inside onnxruntime's C++ when the interpreter finalizes aborts the
    process (exit status 134): the exit hook waits for calls under way, then refuses new ones
    (the graph's conversion, plain Python, is not waited for)."""
    import threading
    import time

    from mlexpert.compiled import Unsupported
    from mlexpert.runtime import _onnx

    monkeypatch.setattr(_onnx, "_exiting", threading.Event())
    inside, ended = threading.Event(), []

    def call():
        with _onnx._native():
            inside.set()
            time.sleep(0.5)
        ended.append(time.monotonic())

    worker = threading.Thread(target=call)
    worker.start()
    assert inside.wait(10)
    _onnx._wait_at_exit()
    assert ended and ended[0] <= time.monotonic()  # the call under way finished first
    with pytest.raises(Unsupported, match="exiting"), _onnx._native():
        pass
    worker.join()


def test_meanwhile_a_numpy_path_slower_than_the_members_is_not_taken(fitted, tables, monkeypatch):
    """While the graph builds, the numpy path serves only if it beats the members on one row
    (a LightGBM ensemble's numpy path can be slower than its members); the final choice is
    still among the compiled paths, as before."""
    import threading
    import time

    from mlexpert.runtime import _onnx

    release = threading.Event()
    graph, numpy_path = _onnx.OnnxPath, _choose.FastPath

    class SlowNumpy(numpy_path):
        def predict(self, rows):
            time.sleep(0.05)
            return super().predict(rows)

    def held_graph(model, pause=None):
        assert release.wait(60), "the test never released the graph build"
        return graph(model, pause)

    monkeypatch.setattr(_choose, "FastPath", SlowNumpy)
    monkeypatch.setattr(_onnx, "OnnxPath", held_graph)
    model = _fresh(fitted["binary"])
    rows = tables["binary"].drop(columns="y").iloc[:1]
    for _ in range(HOT_CALLS):
        model.predict(rows)
    assert model.compiled_path.startswith("on the members meanwhile"), model.compiled_path
    assert "onnxruntime: still building" in model.compiled_path
    release.set()
    model.compile()  # the final choice among the compiled paths (this model has no graph: text)
    assert model.compiled_path.startswith("on: numpy"), model.compiled_path
    assert "still building" not in model.compiled_path


def test_a_background_graph_build_gives_way_to_small_predictions(fitted, tables, monkeypatch):
    import threading
    import time

    from mlexpert import _hotpath

    model = _fresh(fitted["regression"])
    t0 = time.monotonic()
    model._give_way()  # no call yet: no wait
    assert time.monotonic() - t0 < _hotpath.IDLE_SECONDS
    monkeypatch.setattr(_hotpath, "GIVE_WAY_SECONDS", 0.5)
    rows = tables["regression"].drop(columns="y").iloc[:1]
    model.compile()  # the calls below are quick ones, none builds
    stop = threading.Event()

    def calls():
        while not stop.is_set():
            model.predict(rows)

    caller = threading.Thread(target=calls)
    caller.start()
    try:
        time.sleep(0.1)
        t0 = time.monotonic()
        model._give_way()  # calls keep coming: waits, but no longer than GIVE_WAY_SECONDS
        waited = time.monotonic() - t0
    finally:
        stop.set()
        caller.join()
    assert 0.4 < waited < 2.0, waited


def test_the_graph_conversion_pauses_before_every_fold_model():
    from mlexpert.ensemble import Member
    from mlexpert.export import to_onnx
    from tests.export.conftest import fit_member, make_model, split

    train, _ = split("regression", numeric_only=True)
    schema, _, part = fit_member("lightgbm", "regression", train)
    _, _, other = fit_member("linear", "regression", train)
    model = make_model("regression", schema, None, [
        Member("lightgbm", "lightgbm", 1.0, [part, part], True),
        Member("linear", "linear", 1.0, [other], True)])
    seen = []
    to_onnx(model, pause=lambda: seen.append(1))
    assert len(seen) == 3  # one a fold model


def test_fit_can_leave_the_compiled_path_to_predict(fitted, monkeypatch):
    import time

    from mlexpert._fit._compile import COMPILE_ENV, compile_within

    monkeypatch.setenv(COMPILE_ENV, "0")
    model = _fresh(fitted["binary"])
    compile_within(model, time.monotonic() + 60)
    assert model.compiled_path == "not built yet" and model._building is None


def test_a_graph_beyond_the_node_limit_is_not_built_for_one_row(monkeypatch):
    """The one-row graph's memory is bounded (onnxruntime holds 130-510 bytes a tree node):
    beyond the limit the numpy path answers and the decision says why."""
    from mlexpert.ensemble import Member
    from tests.export.conftest import fit_member, make_model, split

    train, _ = split("binary", numeric_only=True)
    schema, classes, part = fit_member("lightgbm", "binary", train)
    model = make_model("binary", schema, classes, [Member("lightgbm", "lightgbm", 1.0, [part],
                                                          True)])
    assert "tree nodes" not in model.compile()  # under the limit: the graph is built
    monkeypatch.setattr("mlexpert.runtime._onnx.MAX_TREE_NODES", 10)
    model = _fresh(model)
    note = model.compile()
    assert note.startswith("on: numpy"), note
    assert "onnxruntime: not compiled (cannot export more than 10 tree nodes to ONNX)" in note


def test_paths_are_timed_on_varied_rows():
    """One row repeated stays in the cache where a large graph's trees do not: each timed call
    takes the next probe row."""
    seen = []

    class Path:
        def predict(self, rows):
            seen.append(rows[0][0])

    _choose._row_seconds(Path(), [[float(i)] for i in range(7)])
    assert len(set(seen)) == 7
