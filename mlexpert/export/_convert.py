"""A whole fitted Model (schema inputs, preprocessing, every ensemble member and fold model, the
weighted average, calibration and decision threshold) as one ONNX graph with its metadata.

Outputs: classification ``label`` (string, shape (n,): the class label's text), ``label_index``
(int64) and ``probabilities`` (double, (n, K), columns in the order of the ``classes``
metadata); regression ``prediction`` (double, (n,)). They equal ``Model.predict`` and
``Model.predict_proba`` (checked by ``tests/export``).
"""
from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlexpert._version import __version__
from mlexpert.data import Role
from mlexpert.errors import BundleError, not_exportable
from mlexpert.export._features import transform
from mlexpert.export._inputs import INPUT_RULES, input_specs
from mlexpert.export._models import model_output
from mlexpert.models import Graph, counted_tree_nodes


def to_onnx(model: Any, *, pause: Callable[[], None] | None = None,
            max_tree_nodes: int | None = None) -> Any:
    """The ONNX ModelProto of a fitted mlexpert Model (raises ExportError if a part cannot go).
    ``pause``: called before each fold model and preprocessing step is converted (a build in
    the background waits there while its Model answers calls); ``max_tree_nodes``: an
    ExportError once the trees exceed this many nodes (the one-row path's memory bound)."""
    from onnx import TensorProto, helper

    g = Graph(max_tree_nodes)
    inputs: dict[str, str] = {}
    for name, role in input_specs(model.schema):
        if role == Role.TEXT:
            raise not_exportable(f"text column {name!r}", "free text (TF-IDF) is not converted",
                                 f"Refit with ignore_columns=[{name!r}] (CLI: --ignore {name}) "
                                 "to get an exportable model.")
        elem = {Role.CATEGORICAL: TensorProto.STRING,
                Role.DATETIME: TensorProto.INT64}.get(role, TensorProto.DOUBLE)
        g.inputs.append(helper.make_tensor_value_info(name, elem, [None, 1]))
        inputs[name] = name
    matrices: dict[int, str] = {}
    members = model.ensemble.members
    if max_tree_nodes is not None:  # the nodes the adapters count without reading the trees
        g.check_tree_nodes(counted_tree_nodes([f for m in members for _, f in m.parts]))
    averages: dict[int, str] = {}
    # CatBoost's members first: one that splits on column combinations cannot be converted,
    # found before the others' trees are read for nothing (lendingclub_bad's extra trees:
    # 504,000 nodes, 1.25 s and +95 MB); the sum below stays in member order
    for j in sorted(range(len(members)), key=lambda j: members[j].family != "catboost"):
        parts = []
        for transformer, fitted in members[j].parts:
            key = id(transformer)
            if pause is not None:
                pause()
            if key not in matrices:
                matrices[key] = transform(g, transformer, inputs)
            parts.append(model_output(g, members[j].family, fitted, matrices[key]))
        averages[j] = parts[0] if len(parts) == 1 else \
            g.div(_sum(g, parts), g.const(float(len(parts))))
    total = None
    for j, member in enumerate(members):
        weighted = g.mul(averages[j], g.const(float(member.weight)))
        total = weighted if total is None else g.add(total, weighted)
    # the weighted sum in member order over the total weight, as Ensemble.average computes it
    raw = g.div(total, g.const(float(model.ensemble.total_weight)))
    if model.task == "regression":
        pred = g.op("Reshape", [raw, g.const([-1], np.int64)])
        g.outputs.append(helper.make_tensor_value_info(_rename(g, pred, "prediction"),
                                                       TensorProto.DOUBLE, [None]))
    else:
        raw = _calibrate(g, raw, model.manifest.calibration, len(model.classes))
        _classification_outputs(g, raw, model.classes, model.threshold)
    return g.build("mlexpert", f"mlexpert {model.task} model predicting {model.target!r}",
                   _metadata(model))


def _sum(g: Graph, parts: list[str]) -> str:
    total = parts[0]
    for p in parts[1:]:
        total = g.add(total, p)
    return total


def _rename(g: Graph, value: str, name: str) -> str:
    g.nodes.append(__import__("onnx").helper.make_node("Identity", [value], [name]))
    return name


def _calibrate(g: Graph, raw: str, cal: dict[str, Any] | None, k: int) -> str:
    """``evaluate.Calibrator.apply`` in the graph (isotonic: piecewise linear; sigmoid: Platt)."""
    if not cal:
        return raw
    method, maps = cal["method"], cal["maps"]
    if k == 2:
        q = _calibrate_one(g, g.columns(raw, 1, 2), method, maps[0])
        return g.concat([g.sub(g.const(1.0), q), q])
    cols = [_calibrate_one(g, g.columns(raw, j, j + 1), method, m) for j, m in enumerate(maps)]
    q = g.op("Max", [g.concat(cols), g.const(1e-12)])
    return g.div(q, g.op("ReduceSum", [q, g.const([1], np.int64)], keepdims=1))


def _calibrate_one(g: Graph, p: str, method: str, m: dict[str, Any]) -> str:
    if method == "isotonic":  # np.interp: y0 + sum of slope * (clip(p, x_i, x_i+1) - x_i)
        x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
        if len(x) == 1:
            return g.add(g.mul(p, g.const(0.0)), g.const(y[0]))
        dx = np.diff(x)
        keep = dx > 0
        lo, hi = x[:-1][keep], x[1:][keep]
        slope = np.diff(y)[keep] / dx[keep]
        clipped = g.op("Min", [g.op("Max", [p, g.const(lo.reshape(1, -1))]),
                               g.const(hi.reshape(1, -1))])
        steps = g.mul(g.sub(clipped, g.const(lo.reshape(1, -1))), g.const(slope.reshape(1, -1)))
        return g.add(g.op("ReduceSum", [steps, g.const([1], np.int64)], keepdims=1),
                     g.const(y[0]))
    clipped = g.op("Min", [g.op("Max", [p, g.const(1e-7)]), g.const(1 - 1e-7)])
    logit = g.op("Log", [g.div(clipped, g.sub(g.const(1.0), clipped))])
    return g.sigmoid(g.add(g.mul(logit, g.const(float(m["a"]))), g.const(float(m["b"]))))


def _classification_outputs(g: Graph, raw: str, classes: list[Any], threshold: float | None) -> None:
    from onnx import TensorProto, helper

    proba = g.div(raw, g.op("ReduceSum", [raw, g.const([1], np.int64)], keepdims=1))
    if threshold is not None and len(classes) == 2:  # evaluate.thresholded, then argmax
        s = g.op("Clip", [g.add(g.sub(g.columns(raw, 1, 2), g.const(threshold)), g.const(0.5)),
                          g.const(0.0), g.const(1.0)])
        decided = g.concat([g.sub(g.const(1.0), s), s])
    else:
        decided = raw
    index = g.op("ArgMax", [decided], axis=1, keepdims=0)
    label = g.op("LabelEncoder", [index], domain="ai.onnx.ml",
                 keys_int64s=list(range(len(classes))), values_strings=[str(c) for c in classes],
                 default_string="")
    g.outputs += [
        helper.make_tensor_value_info(_rename(g, label, "label"), TensorProto.STRING, [None]),
        helper.make_tensor_value_info(_rename(g, index, "label_index"), TensorProto.INT64, [None]),
        helper.make_tensor_value_info(_rename(g, proba, "probabilities"), TensorProto.DOUBLE,
                                      [None, len(classes)])]


def _metadata(model: Any) -> dict[str, str]:
    return {
        "mlexpert.version": __version__,
        "mlexpert.task": model.task,
        "mlexpert.target": model.target,
        "mlexpert.metric": model.metric,
        "mlexpert.classes": json.dumps(None if model.classes is None else
                                       [str(c) for c in model.classes]),
        "mlexpert.threshold": json.dumps(model.threshold),
        "mlexpert.metrics": json.dumps(model.metrics, default=float),
        "mlexpert.members": json.dumps([{"model": m.name, "family": m.family, "weight": m.weight,
                                         "parts": len(m.parts)} for m in model.ensemble.members]),
        "mlexpert.schema": json.dumps(model.schema.to_dict(), default=str),
        "mlexpert.inputs": json.dumps({name: {"role": str(role), "type": INPUT_RULES[str(role)]}
                                       for name, role in input_specs(model.schema)}),
        "mlexpert.outputs": json.dumps(
            {"prediction": "double (n,)"} if model.task == "regression" else
            {"label": "string (n,)", "label_index": "int64 (n,), index into classes",
             "probabilities": "double (n, K), columns in the order of classes"}),
    }


def save_onnx(model: Any, path: str | os.PathLike) -> Path:
    """Convert and write ``path`` atomically (a temp file renamed into place)."""
    proto = to_onnx(model)  # conversion errors come before anything touches the disk
    path = Path(path)
    if path.is_dir():
        raise BundleError(f"{str(path)!r} is a directory; give a file path such as model.onnx.")
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(proto.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise BundleError(f"cannot write {str(path)!r}: {exc.strerror or exc}. Choose a "
                          "writable path.") from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
