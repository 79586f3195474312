"""The model's exported ONNX graph on onnxruntime, fed from canonical rows: the second fast path.

The numpy fast path (``_numpy``) compiles preprocessing and the boosters and linear models;
other families go through their Python predict. The ONNX graph holds the whole pipeline
(``mlexpert.export``) and onnxruntime runs it in tens of µs, but not every model exports (free
text, CatBoost's column combinations). ``_choose`` builds both, checks each against the Model's
own path and keeps the faster. onnxruntime runs on one thread: requests are one to a few rows,
and a second OpenMP pool next to LightGBM's slows both (docs: /work/shared/STACK.md).
"""
from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mlexpert.compiled import Rows, Unsupported
from mlexpert.data import Role
from mlexpert.export import category_feed

# the one-row graph is not built beyond this many tree nodes: onnxruntime holds 130-510 bytes
# a node (imdb_rating's 1.93M: 638 MB) and converting takes as much again at its peak.
# verbagg_resp's forests (1.39M nodes): +600 MB converting, +270-540 MB in onnxruntime, 1.6-2.6
# ms a row against the numpy path's 1.8 on varied rows; star_math's boosters (303k nodes): 1.9
# ms against 4.5; imdb_rating: 0.7 ms (the bench) against 1.7 (a memory bound, not a speed rule)
MAX_TREE_NODES = 600_000
EXIT_WAIT = 60.0  # seconds the interpreter's exit waits at most for onnxruntime calls under way
_exiting = threading.Event()
_calls = [0]  # onnxruntime calls under way, guarded by _idle
_idle = threading.Condition()


@contextlib.contextmanager
def _native() -> Iterator[None]:
    """Around each onnxruntime call: a background build still inside onnxruntime's C++ when the
    interpreter finalizes aborts the process (exit status 134, "terminate called without an
    active exception"), so exit waits for the calls under way and refuses new ones."""
    with _idle:
        if _exiting.is_set():
            raise Unsupported("the process is exiting")
        _calls[0] += 1
    try:
        yield
    finally:
        with _idle:
            _calls[0] -= 1
            _idle.notify_all()


@atexit.register
def _wait_at_exit() -> None:
    _exiting.set()
    with _idle:
        _idle.wait_for(lambda: _calls[0] == 0, timeout=EXIT_WAIT)


def session(graph: bytes) -> Any:
    """An onnxruntime session of a serialized graph, on one thread, on the CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    with _native():
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


class OnnxModel:
    """One fitted model's prediction (what ``Fitted.predict`` returns) from its feature matrix,
    as the graph of its adapter's ONNX conversion on onnxruntime: a stored compiled path holds
    LightGBM and XGBoost models this way, whose boosters need their libraries (which import
    scikit-learn: ~0.6 s) where their trees as a graph need onnxruntime only (~0.15 s)."""

    def __init__(self, fitted: Any):
        from onnx import TensorProto, helper

        from mlexpert.models import Graph, adapter_for

        convert = adapter_for(fitted).need("onnx")
        g = Graph()
        g.inputs.append(helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, None]))
        out = convert(g, fitted, "x")
        g.nodes.append(helper.make_node("Identity", [out], ["y"]))
        g.outputs.append(helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, None]))
        self.graph = g.build("mlexpert-member", "one fitted model", {}).SerializeToString()
        self.regression = fitted.task == "regression"
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"graph": self.graph, "regression": self.regression, "_session": None}

    def __call__(self, X: Any) -> np.ndarray:
        if self._session is None:
            self._session = session(self.graph)
        with _native():
            out = self._session.run(["y"], {"x": np.asarray(X, dtype=np.float64)})[0]
        return out[:, 0] if self.regression else out


class OnnxMembers:
    """Several members' predictions as one graph on onnxruntime, each member the mean of its
    parts (fold or seed models), each part reading the matrix its preprocessing made (the
    caller computes those: ``FastPath``). For a path the whole graph cannot hold (free text,
    entity history, CatBoost's column combinations, more than the node limit): its trees walked
    in onnxruntime instead of one library call per model (a booster call: ~30-330 µs a
    row). A member that fails to convert, or would take the graph beyond ``max_tree_nodes``,
    is left out: ``included`` lists the members (by position in ``members``) it answers for;
    ``pause`` is called before each part is converted (where a background build gives way)."""

    def __init__(self, members: list[list[tuple[Any, Any]]], regression: bool,
                 max_tree_nodes: int | None = None, pause: Callable[[], None] | None = None):
        """``members``: per member, its parts as (the key of its input matrix, fitted model)."""
        from onnx import TensorProto, helper

        from mlexpert.models import Graph, adapter_for, counted_tree_nodes

        g = Graph(max_tree_nodes)
        inputs: dict[Any, str] = {}
        self.included: list[int] = []
        for j, parts in enumerate(members):
            mark, added = g.mark(), []
            try:
                if max_tree_nodes is not None:  # over the limit: left out before its trees are read
                    g.check_tree_nodes(counted_tree_nodes([fitted for _, fitted in parts]))
                outs = []
                for key, fitted in parts:
                    if pause is not None:  # before each fold model, as ``to_onnx``
                        pause()
                    if key not in inputs:
                        inputs[key] = f"x{len(inputs)}"
                        added.append(key)
                        g.inputs.append(helper.make_tensor_value_info(
                            inputs[key], TensorProto.DOUBLE, [None, None]))
                    outs.append(adapter_for(fitted).need("onnx")(g, fitted, inputs[key]))
            except Exception:  # noqa: BLE001 - this member stays with the caller
                g.restore(mark)
                for key in added:
                    del inputs[key]
                continue
            total = outs[0]
            for out in outs[1:]:
                total = g.add(total, out)
            if len(outs) > 1:  # the parts' mean, as the members' path takes it
                total = g.div(total, g.const(float(len(outs))))
            name = f"m{len(self.included)}"
            g.nodes.append(helper.make_node("Identity", [total], [name]))
            g.outputs.append(helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None, None]))
            self.included.append(j)
        if not self.included:
            raise Unsupported("no member converts to ONNX")
        self.graph = g.build("mlexpert-members", "members of an ensemble", {}).SerializeToString()
        self.keys = list(inputs)  # input i reads the matrix of keys[i]
        self.regression = regression
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_session": None}

    def __call__(self, features: dict[Any, Any]) -> list[np.ndarray]:
        """The included members' predictions, in member order, from the matrices by key."""
        if self._session is None:
            self._session = session(self.graph)
        feed = {f"x{i}": np.asarray(features[key].toarray() if hasattr(features[key], "toarray")
                                    else features[key], dtype=np.float64)
                for i, key in enumerate(self.keys)}
        with _native():
            outs = self._session.run(None, feed)
        return [out[:, 0] for out in outs] if self.regression else outs


class OnnxPath:
    """Raw predictions (probabilities or values) of the exported graph on canonical rows."""

    def __init__(self, model: Any, pause: Callable[[], None] | None = None,
                 graph: bytes | None = None):
        """``graph``: the serialized graph to run (default: the one stored with the bundle, else
        converted from the members)."""
        from mlexpert.errors import ExportError
        from mlexpert.export import to_onnx

        graph = graph or model.stored_graph()  # saved with the bundle: no conversion
        if graph is None:
            try:
                graph = to_onnx(model, pause=pause,
                                max_tree_nodes=MAX_TREE_NODES).SerializeToString()
            except ExportError as exc:
                raise Unsupported(str(exc).split(":")[0]) from None
        self._session = session(graph)
        self.graph = graph  # serialized, for ``Model.save`` to store (star_math's: 20 MB)
        self._inputs = [(c.name, c.role) for c in model.schema.features]
        self._output = ["prediction" if model.task == "regression" else "probabilities"]

    def predict(self, rows: Rows) -> np.ndarray:
        """(n, K) class probabilities or (n,) values, as ``Model.predict_table`` computes them."""
        feed: dict[str, np.ndarray] = {}
        for i, (name, role) in enumerate(self._inputs):
            values = [r[i] for r in rows]
            if role == Role.NUMERIC:
                feed[name] = np.array(values, dtype=np.float64).reshape(-1, 1)
            elif role == Role.CATEGORICAL:
                feed[name] = category_feed(values)
            else:  # datetime: ns since the epoch, NaT as the smallest int64
                feed[name] = np.array(values, dtype="datetime64[ns]").view(np.int64).reshape(-1, 1)
        with _native():
            out = self._session.run(self._output, feed)[0]
        return np.asarray(out, dtype=float)
