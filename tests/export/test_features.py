"""The preprocessing graph alone, bit for bit against the fitted scikit-learn steps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlexpert.data import Role, infer_schema
from mlexpert.export import onnx_inputs
from mlexpert.features import build_preprocessor


def _graph_matrix(schema, transformer, frame):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from mlexpert.export._features import transform
    from mlexpert.models import Graph

    g = Graph()
    inputs = {}
    for c in schema.features:
        elem = {Role.CATEGORICAL: TensorProto.STRING,
                Role.DATETIME: TensorProto.INT64}.get(c.role, TensorProto.DOUBLE)
        g.inputs.append(helper.make_tensor_value_info(c.name, elem, [None, 1]))
        inputs[c.name] = c.name
    out = transform(g, transformer, inputs)
    g.nodes.append(helper.make_node("Identity", [out], ["Y"]))
    g.outputs.append(helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, None]))
    sess = ort.InferenceSession(g.build("t", "", {}).SerializeToString())
    return sess.run(None, onnx_inputs(frame, schema))[0]


@pytest.mark.parametrize("kind", ["tree", "linear"])
def test_calendar_parts_equal_bit_for_bit(kind):
    rng = np.random.default_rng(0)
    seconds = rng.integers(pd.Timestamp("1678-01-01").value // 10**9,
                           pd.Timestamp("2261-12-31").value // 10**9, 3000)
    special = pd.to_datetime(["2000-02-29", "1900-02-28", "1900-03-01", "2100-12-31 23:59:59",
                              "1970-01-01", "1969-12-31 23:00", "2024-02-29 12:30", "1678-01-01",
                              "2261-12-31 23:00"], format="mixed").astype("int64") // 10**9
    when = pd.to_datetime(np.concatenate([seconds, special]), unit="s").to_series(
        index=range(len(seconds) + len(special)))
    when[::50] = pd.NaT
    frame = pd.DataFrame({"when": when, "x": rng.normal(size=len(when))})
    schema = infer_schema(frame)
    pre = build_preprocessor(schema, kind)
    native = pre.transformer.fit_transform(schema.prepare(frame))
    native = native.toarray() if hasattr(native, "toarray") else native
    graph = _graph_matrix(schema, pre.transformer, frame)
    assert graph.shape == native.shape
    same = (graph == native) | (np.isnan(graph) & np.isnan(native))
    bad = np.argwhere(~same)
    assert not len(bad), [(r, c, graph[r, c], native[r, c]) for r, c in bad[:5]]


def test_one_hot_with_infrequent_levels_and_missing():
    rng = np.random.default_rng(1)
    levels = np.array(["a", "b", "c"] * 30 + ["rare1", "rare2", None] * 2, dtype=object)
    frame = pd.DataFrame({"cat": rng.permutation(levels), "x": rng.normal(size=len(levels))})
    schema = infer_schema(frame)
    pre = build_preprocessor(schema, "linear")
    pre.transformer.fit(schema.prepare(frame))
    probe = pd.DataFrame({"cat": ["a", "rare1", None, "unseen", "c"], "x": [0, 1, np.nan, 2, 3]})
    native = pre.transformer.transform(schema.prepare(probe))
    native = native.toarray() if hasattr(native, "toarray") else native
    np.testing.assert_array_equal(_graph_matrix(schema, pre.transformer, probe), native)
