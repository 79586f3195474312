"""A small ONNX graph builder: unique names, constants, and one method per operator used.

Every computed value is double precision (the bundle computes in float64); the opsets are fixed
here: the default domain 21 and ``ai.onnx.ml`` 5 (``TreeEnsemble`` with set-membership splits
and double thresholds).
"""
from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 21
ML_OPSET = 5


class Graph:
    """Nodes, initializers and inputs of one graph under construction; ``max_tree_nodes``:
    the most tree nodes its ``TreeEnsemble`` operators may hold together (None: no limit)."""

    def __init__(self, max_tree_nodes: int | None = None) -> None:
        self.max_tree_nodes = max_tree_nodes
        self.tree_nodes = 0
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    def mark(self) -> tuple[int, int, int, int, dict[tuple, str]]:
        """The graph as it is now, for ``restore``: a part that fails to convert midway (a
        member beyond the node limit, or one ONNX cannot express) leaves nothing behind."""
        return (len(self.nodes), len(self.initializers), len(self.inputs), self.tree_nodes,
                dict(self._consts))

    def restore(self, mark: tuple[int, int, int, int, dict[tuple, str]]) -> None:
        """Back to ``mark``: the nodes, constants and inputs added since are dropped."""
        nodes, initializers, inputs, self.tree_nodes, self._consts = mark
        del self.nodes[nodes:], self.initializers[initializers:], self.inputs[inputs:]

    def check_tree_nodes(self, n: int) -> None:
        """Raises ``ExportError`` where ``n`` more tree nodes would pass ``max_tree_nodes``:
        before any tree is read for the nodes the adapters count (``counted_tree_nodes``), and
        as each ``Trees`` emits."""
        if self.max_tree_nodes is not None and self.tree_nodes + n > self.max_tree_nodes:
            from mlexpert.errors import not_exportable

            raise not_exportable(f"more than {self.max_tree_nodes:,} tree nodes",
                                 f"the graph would hold {self.tree_nodes + n:,}",
                                 "Export it with `mlexpert export`, which has no such limit.")

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = None) -> str:
        """A constant tensor (deduplicated by value): an array keeps its dtype, numbers and
        lists are double unless ``dtype`` says otherwise."""
        from onnx import numpy_helper

        if dtype is None and not isinstance(value, np.ndarray):
            dtype = np.float64
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.dtype != object else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.name("c")
        self.initializers.append(numpy_helper.from_array(arr, name))
        if key is not None:
            self._consts[key] = name
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, *, n_out: int = 1,
           domain: str = "", **attrs: Any) -> Any:
        from onnx import helper

        outs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=outs[0], domain=domain or None,
                                           **attrs))
        return outs[0] if n_out == 1 else outs

    # -- shorthands -------------------------------------------------------------------------
    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self.op("Div", [a, b])

    def floor(self, a: str) -> str:
        return self.op("Floor", [a])

    def where(self, cond: str, a: str, b: str) -> str:
        return self.op("Where", [cond, a, b])

    def cast(self, a: str, to: int) -> str:
        return self.op("Cast", [a], to=to)

    def concat(self, parts: list[str], axis: int = 1) -> str:
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, axis=axis)

    def columns(self, x: str, start: int, stop: int) -> str:
        """Columns ``start:stop`` of a 2-D tensor."""
        return self.op("Slice", [x, self.const([start], np.int64), self.const([stop], np.int64),
                                 self.const([1], np.int64)])

    def sigmoid(self, a: str) -> str:
        return self.op("Sigmoid", [a])

    def softmax(self, a: str) -> str:
        return self.op("Softmax", [a], axis=1)

    def fmod(self, a: str, m: float) -> str:
        """``a mod m`` with the sign of ``m`` (Python's %), for doubles."""
        mc = self.const(m)
        return self.sub(a, self.mul(self.floor(self.div(a, mc)), mc))

    def build(self, name: str, doc: str, metadata: dict[str, str]) -> Any:
        from onnx import helper

        model = helper.make_model(helper.make_graph([], name, self.inputs, self.outputs),
                                  opset_imports=[helper.make_opsetid("", OPSET),
                                                 helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                                  producer_name="mlexpert", doc_string=doc)
        # moved into the model one by one (protobuf copies on append; make_graph and make_model
        # each copied the whole graph: three copies of a forest's nodes at once)
        for parts, into in ((self.nodes, model.graph.node),
                            (self.initializers, model.graph.initializer)):
            for i, part in enumerate(parts):
                into.append(part)
                parts[i] = None
            parts.clear()
        model.ir_version = 10
        helper.set_model_props(model, metadata)
        return model
