"""The parity check shared by the export tests: ONNX outputs against the native model."""
from __future__ import annotations

import numpy as np

from mlexpert.export import onnx_inputs, to_onnx


def run_onnx(model, frame, session_options=None):
    import onnxruntime as ort

    sess = ort.InferenceSession(to_onnx(model).SerializeToString(), session_options)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, onnx_inputs(frame, model)), strict=True))


def assert_parity(model, frame, session_options=None) -> None:
    """The graph reads an unreadable value as missing: the model is asked to do the same."""
    out = run_onnx(model, frame, session_options)
    if model.task == "regression":
        native = model.predict(frame, invalid="missing").to_numpy(float)
        # XGBoost sums its trees in float32: ~1e-6 apart from the double sum near zero
        np.testing.assert_allclose(out["prediction"], native, rtol=1e-5, atol=1e-5)
        return
    labels = model.predict(frame, invalid="missing").astype(str).to_numpy()
    mismatch = np.flatnonzero(out["label"] != labels)
    assert not len(mismatch), (mismatch, out["label"][mismatch], labels[mismatch])
    proba = model.predict_proba(frame, invalid="missing").to_numpy()
    np.testing.assert_allclose(out["probabilities"], proba, atol=1e-5, rtol=0)


def converted_tree_nodes(fits) -> int:
    """The tree nodes the ONNX conversion of ``fits`` adds to one graph, counted by converting
    them (what ``counted_tree_nodes`` must tell without converting)."""
    from mlexpert.models import Graph, adapter_for

    g = Graph()
    for i, fitted in enumerate(fits):
        adapter_for(fitted).need("onnx")(g, fitted, f"x{i}")
    return g.tree_nodes


def trees_session(trees, n_features: int, session_options=None):
    """An onnxruntime session of ``Trees`` alone: input ``x`` (n, n_features) to raw scores."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from mlexpert.models import Graph

    g = Graph()
    g.inputs.append(helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, n_features]))
    width = trees.n_targets
    out = trees.emit(g, "x")
    g.outputs.append(helper.make_tensor_value_info(out, TensorProto.DOUBLE, [None, width]))
    return ort.InferenceSession(g.build("t", "", {}).SerializeToString(), session_options,
                                providers=["CPUExecutionProvider"])
