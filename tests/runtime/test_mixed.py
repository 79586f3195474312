"""The mixed compiled path (issue #22): the preprocessing in numpy, the members' models in one
onnxruntime graph (``FastPath(graph=True)``, ``OnnxMembers``), built where the whole graph is
not (free text, entity history, CatBoost's column combinations, the node limit): verified as
every path is, members beyond the node limit left to numpy, stored with a bundle."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mlexpert.bundle import COMPILED_NUMPY, MANIFEST
from mlexpert.ensemble import Member
from mlexpert.runtime import FastPath
from mlexpert.runtime._onnx import OnnxMembers
from tests.conftest import TASKS, make_table
from tests.export._parity import converted_tree_nodes
from tests.export.conftest import fit_member, make_model, split
from tests.runtime.test_stored import _members_answer, fresh_process


def _canonical(model, rows):
    return list(zip(*model.schema.prepare_arrays(rows, "rows", invalid="missing"), strict=True))


def _agrees(model, path, rows):
    """The path's answers on ``rows`` one by one and together, against the members' (within
    the graph's 1e-5: XGBoost sums its trees in float32)."""
    canon = _canonical(model, rows)
    want = _members_answer(model, rows)
    one = np.concatenate([path.predict(canon[i:i + 1]) for i in range(len(canon))])
    for got in (one, path.predict(canon)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _bagged(task: str, train):
    """LightGBM as a bag of two fold models (each with its own preprocessing: two inputs), then
    XGBoost on all rows."""
    halves = np.array_split(np.arange(len(train)), 2)
    schema, classes, a = fit_member("lightgbm", task, train, rows=halves[0])
    _, _, b = fit_member("lightgbm", task, train, rows=halves[1])
    _, _, x = fit_member("xgboost", task, train)
    return make_model(task, schema, classes, [Member("lightgbm", "lightgbm", 0.7, [a, b], False),
                                              Member("xgboost", "xgboost", 0.3, [x], True)])


@pytest.mark.parametrize("task", TASKS)
def test_the_boosters_answer_from_one_graph_the_rest_from_numpy(task):
    """Seven families: LightGBM, XGBoost and HGB each an output of one graph fed by the numpy
    path's matrices; CatBoost with categories, the forest, linear and the mlp walked in numpy
    (a forest's deep trees would cost onnxruntime hundreds of MB): the members' answers."""
    from mlexpert.runtime._numpy import IN_GRAPH
    from tests.runtime.test_stored import _model

    model, test = _model(task)
    path = FastPath(model, graph=True)
    in_graph = [m.family for m, (_, parts) in zip(model.ensemble.members, path._members,
                                                   strict=True) if parts is None]
    assert sorted(in_graph) == sorted(IN_GRAPH) and path.graph_members == 3
    _agrees(model, path, test.iloc[:40])  # missing, unseen, far dates and numbers


@pytest.mark.parametrize("task", TASKS)
def test_beside_free_text_the_mixed_path_is_built_verified_and_timed(task):
    """Free text keeps the whole graph from being built, not the mixed path: compile times it
    against the numpy path (the faster answers)."""
    frame = make_table(task, n=320, seed=3)
    model = _bagged(task, frame.iloc[:260])
    rows = frame.drop(columns="y").iloc[260:]
    note = model.compile()
    assert "onnxruntime: not compiled (cannot export text column 'review'" in note, note
    assert "verified against the Model" in note and " numpy+onnxruntime " in note, note
    path = FastPath(model, graph=True)
    assert path.graph_members == 2
    _agrees(model, path, rows)
    np.testing.assert_allclose(model._predict_raw(rows.iloc[:5])[0],
                               _members_answer(model, rows.iloc[:5]), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module", params=TASKS)
def over_the_limit(request):
    """A numeric model whose LightGBM bag fits the node limit and whose XGBoost does not."""
    train, test = split(request.param, numeric_only=True)
    model = _bagged(request.param, train)
    return model, test, converted_tree_nodes([f for _, f in model.ensemble.members[0].parts])


def test_a_member_beyond_the_node_limit_is_left_to_numpy_with_nothing_behind(over_the_limit,
                                                                           monkeypatch):
    model, test, limit = over_the_limit
    lgb, xgb = ([(id(t), f) for t, f in m.parts] for m in model.ensemble.members)
    graph = OnnxMembers([lgb, xgb], model.task == "regression", max_tree_nodes=limit)
    assert graph.included == [0] and graph.keys == [k for k, _ in lgb]  # no XGBoost input left
    assert OnnxMembers([xgb, lgb], model.task == "regression", limit + 10**6).included == [0, 1]
    monkeypatch.setattr("mlexpert.runtime._onnx.MAX_TREE_NODES", limit)
    path = FastPath(model, graph=True)
    assert path.graph_members == 1 and path._members[1][1] is not None
    _agrees(model, path, test.iloc[:40])
    monkeypatch.setattr("mlexpert.runtime._onnx.MAX_TREE_NODES", 1)
    with pytest.raises(Exception, match="no member converts to ONNX"):
        FastPath(model, graph=True)


def test_a_counted_member_beyond_the_limit_is_left_out_before_its_trees_are_read(
        over_the_limit, monkeypatch):
    import dataclasses

    from mlexpert.models import ADAPTERS

    model, _, limit = over_the_limit
    lgb, _ = ([(id(t), f) for t, f in m.parts] for m in model.ensemble.members)
    monkeypatch.setitem(ADAPTERS, "lightgbm", dataclasses.replace(
        ADAPTERS["lightgbm"], onnx=lambda *a: pytest.fail("trees read")))
    with pytest.raises(Exception, match="no member converts to ONNX"):
        OnnxMembers([lgb], model.task == "regression", max_tree_nodes=limit - 1)


def test_the_mixed_path_is_stored_and_a_fresh_process_answers_from_it(over_the_limit, tmp_path,
                                                                      monkeypatch):
    import copy

    model, test, limit = over_the_limit
    model = copy.copy(model)
    monkeypatch.setattr("mlexpert.runtime._onnx.MAX_TREE_NODES", limit)
    model.use_compiled(FastPath(model, graph=True), "on: numpy+onnxruntime (the test's choice)")
    path = model.save(tmp_path / "m")
    compiled = json.loads((path / MANIFEST).read_text())["compiled"]
    assert compiled["file"] == COMPILED_NUMPY and "onnxruntime" in compiled["libraries"]
    rows = test.iloc[:6]
    one, all_, note, read, heavy = fresh_process(path, rows, tmp_path)
    want = _members_answer(model, rows)
    np.testing.assert_allclose(one, want[:1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(all_, want, rtol=1e-5, atol=1e-5)
    assert note.startswith("on: numpy+onnxruntime (the numpy path and graph saved"), note
    assert read is False and heavy == []



def test_no_mixed_path_is_tried_where_the_whole_graph_is_built_or_no_booster_is(over_the_limit):
    model, _, _ = over_the_limit
    note = model.compile()  # both boosters in the whole graph, fast: no mixed path
    assert "numpy+onnxruntime" not in note and " onnxruntime " in note, note
    task = model.task
    frame = make_table(task, n=200, seed=3)  # a linear model beside free text: no booster
    schema, classes, part = fit_member("linear", task, frame)
    note = make_model(task, schema, classes, [Member("linear", "linear", 1.0, [part], True)]
                      ).compile()
    assert "numpy+onnxruntime" not in note and "cannot export text column" in note, note

def test_a_slow_whole_graph_is_timed_against_the_mixed_path(over_the_limit, monkeypatch):
    """Where the whole graph answers a row slower than ``SLOW_GRAPH``, the mixed path is built
    after it and the three are timed."""
    import copy

    model, _, _ = over_the_limit
    monkeypatch.setattr("mlexpert.runtime._choose.SLOW_GRAPH", 0.0)
    note = copy.copy(model).compile()
    for name in ("numpy", "numpy+onnxruntime", "onnxruntime"):
        assert f" {name} " in note.split(";")[0], note
