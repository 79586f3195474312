"""``FastPath``: a Model's members on canonical rows through their numpy-compiled preprocessing
and models (``mlexpert.compiled``; a member's fold or seed models in one call where they walk
together), then the ensemble's own weighted average and calibrator (``ensemble.Weighting``).

Built of plain objects, a FastPath pickles apart from its Model (``portable``): a bundle stores
it beside the members, and a process that loads the bundle answers its first rows from it
without unpickling the members or importing scikit-learn (``bundle.load``)."""
from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from mlexpert._format import COMPILED_NUMPY
from mlexpert.compiled import (
    Block,
    Rows,
    Unsupported,
    compile_bag,
    compile_estimator,
    compile_transformer,
    is_plain,
)
from mlexpert.ensemble import read_payload, write_payload
from mlexpert.models import adapter_for

# what a stored FastPath may name: a process loading it imports these only (numpy, CatBoost for
# its models' column combinations, mlexpert's own layers that import neither scikit-learn nor
# a booster library); anything else (scikit-learn, LightGBM, XGBoost, scipy, pandas) keeps it
# from being stored
PORTABLE_MODULES = ("builtins", "copyreg", "_codecs", "collections", "re", "numpy", "catboost",
                    "mlexpert.compiled", "mlexpert.models", "mlexpert.ensemble",
                    "mlexpert.evaluate", "mlexpert.runtime", "mlexpert.data")
# families whose compiled model calls its own library, stored as their ONNX graph instead
AS_GRAPH = ("lightgbm", "xgboost")
# the boosters' many shallow trees: what the mixed path's graph walks (``graph``) instead of a
# call or walk per model (LightGBM's and XGBoost's ~30-330 µs each; benefits_ui's three: 1.97 ms
# of its numpy path's 4.5, the mixed path 2.2 ms in all). Forests stay numpy walks: their deep
# trees take 130-510 bytes a node in onnxruntime (lendingclub_bad's extra trees in this graph:
# harness peak RSS 653 -> 1,040 MB); CatBoost's oblivious walk (60-160 µs), linear models
# (3 µs) and the mlp stay in numpy (the mlp's graph not timed against it)
IN_GRAPH = ("lightgbm", "xgboost", "hist_gradient_boosting")


class FastPath:
    """Raw predictions (probabilities or values) of a Model's members on canonical rows."""

    _graph: Any = None  # the members walked in onnxruntime (``graph``), if any

    def __init__(self, model: Any, portable: bool = False, graph: bool = False,
                 pause: Callable[[], None] | None = None):
        """``portable``: only a path that ``portable`` can store, refused (``Unsupported``)
        before its models are compiled where a preprocessing step or a model's offset keeps a
        fitted object (free text, entity history). ``graph``: the boosters (``IN_GRAPH``)
        answer from one graph on onnxruntime (``OnnxMembers``, up to its node limit), reading
        the preprocessing's matrices; ``pause`` is called before each of their fold models is
        converted (where a background build gives way)."""
        ensemble = getattr(model, "ensemble", None)
        if ensemble is None or not ensemble.members:
            raise Unsupported("a model without members")
        transformers: dict[int, Block] = {}
        for m in ensemble.members:  # the preprocessing first: cheap, and what refuses first
            for transformer, fitted in m.parts:
                if id(transformer) not in transformers:
                    transformers[id(transformer)] = compile_transformer(transformer, model.schema)
                if portable and (not is_plain(transformers[id(transformer)]) or
                                 getattr(fitted, "offset", None) is not None):
                    raise Unsupported("a path that keeps a fitted step")
        self._members: list[tuple[int, Any]] = []  # (parts, [(keys, predict)] or None: graph)
        self._fitted = []  # each member's parts' models, for ``portable`` (not pickled)
        in_graph = self._walk_in_graph(model, pause) if graph else set()
        for j, m in enumerate(ensemble.members):
            if j in in_graph:
                self._members.append((len(m.parts), None))
                self._fitted.append([])
                continue
            keys = [id(transformer) for transformer, _ in m.parts]
            fitted = [f for _, f in m.parts]
            bag = compile_bag(fitted)  # the parts' sum, in one call
            parts = [(keys, bag)] if bag is not None else \
                [([key], compile_estimator(f)) for key, f in zip(keys, fitted, strict=True)]
            self._members.append((len(m.parts), parts))
            self._fitted.append([fitted] if bag is not None else [[f] for f in fitted])
        self._transformers = transformers
        self._weighting = ensemble.weighting()
        self._classify = model.task != "regression"

    def _walk_in_graph(self, model: Any, pause: Callable[[], None] | None) -> set[int]:
        """The members (by position) that ``OnnxMembers`` takes: boosters (``IN_GRAPH``) but
        those whose models answer as a change from an input column (``offset``), up to the
        graph's node limit."""
        from mlexpert.runtime._onnx import MAX_TREE_NODES, OnnxMembers

        members = model.ensemble.members
        eligible = [j for j, m in enumerate(members) if m.family in IN_GRAPH and
                    all(getattr(f, "offset", None) is None for _, f in m.parts)]
        self._graph = OnnxMembers([[(id(t), f) for t, f in members[j].parts] for j in eligible],
                                  model.task == "regression", MAX_TREE_NODES, pause)
        return {eligible[i] for i in self._graph.included}

    @property
    def graph_members(self) -> int:
        """How many members answer from the graph (``graph``): 0 for the plain numpy path."""
        return sum(parts is None for _, parts in self._members)

    def predict(self, rows: Rows) -> np.ndarray:
        """(n, K) class probabilities (rows sum to 1) or (n,) values, as ``Model`` computes them."""
        features = {key: block(rows) for key, block in self._transformers.items()}
        graph = iter(self._graph(features)) if self._graph is not None else None
        w = self._weighting
        raw = w.calibrate(w.average(
            next(graph) if parts is None else  # in the graph's output order
            sum(predict(*(features[key] for key in keys)) for keys, predict in parts) / n_parts
            for n_parts, parts in self._members))
        return raw / raw.sum(axis=1, keepdims=True) if self._classify else raw

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_fitted"}

    def portable(self) -> tuple[FastPath, bytes, dict[str, str]] | None:
        """A copy of this path that pickles naming nothing outside ``PORTABLE_MODULES`` —
        LightGBM and XGBoost models as their ONNX graphs (``OnnxModel``: their answers within
        the graph's 1e-5, which ``runtime.stored_form`` checks) —, its plain pickle
        (``ensemble.write_payload``, not compressed: imdb_rating's forests' 130 MB of arrays
        gunzip in ~0.5 s) and the versions of the libraries it runs on; or None where a part
        cannot be stored so (free text, entity history, a model without a plain compiled
        form). Built on each call: the bytes are not held beside the path."""
        import importlib

        from mlexpert.runtime._onnx import OnnxModel

        # a path read back from a bundle has no models beside it: it was stored as it is
        fitted_all = self.__dict__.get("_fitted") or [[[]] * len(p or ()) for _, p in
                                                       self._members]
        if not all(is_plain(block) for block in self._transformers.values()) or any(
                getattr(f, "offset", None) is not None
                for fitted in fitted_all for models in fitted for f in models):
            return None  # before any model is converted: a fitted step stays in the path
        members = []
        for (n_parts, parts), fitted in zip(self._members, fitted_all, strict=True):
            if parts is None:  # in the graph (``OnnxMembers``): stored as its graph
                members.append((n_parts, None))
                continue
            stored = []
            for (keys, predict), models in zip(parts, fitted, strict=True):
                if len(models) == 1 and adapter_for(models[0]).name in AS_GRAPH:
                    try:
                        predict = OnnxModel(models[0])
                    except Exception:  # noqa: BLE001 - no graph: the path is not stored
                        return None
                stored.append((keys, predict))
            members.append((n_parts, stored))
        copy = object.__new__(FastPath)
        copy.__dict__.update(self.__getstate__(), _members=members)
        buffer = io.BytesIO()
        try:
            write_payload(copy, buffer, compress=False)
        except (pickle.PicklingError, AttributeError, TypeError):  # a closure: not storable
            return None
        data = buffer.getvalue()
        named = _named_modules(data)
        if not all(any(m == r or m.startswith(r + ".") for r in PORTABLE_MODULES) for m in named):
            return None
        libraries = {"numpy", *(m.split(".")[0] for m in named if m.startswith("catboost"))}
        if any(m.startswith("mlexpert.runtime._onnx") for m in named):
            libraries.add("onnxruntime")
        return copy, data, {lib: importlib.import_module(lib).__version__
                            for lib in sorted(libraries)}

    @staticmethod
    def stored(data: bytes) -> FastPath:
        """The FastPath ``portable`` stored, from its (checked) bytes."""
        path = read_payload(COMPILED_NUMPY, data)
        if not isinstance(path, FastPath):
            raise Unsupported("the stored compiled path is not a FastPath")
        return path


_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}


def _named_modules(data: bytes) -> set[str]:
    """The modules whose objects the pickle ``data`` names, read from its opcodes without
    building anything (no second copy of its arrays): a GLOBAL names its module, a
    STACK_GLOBAL takes the module and name pushed last (strings, or memo reads of them)."""
    import pickletools

    named: set[str] = set()
    memo: dict[int, Any] = {}
    pushed: list[Any] = [None, None]  # the values of the last two pushes
    for op, arg, _ in pickletools.genops(data):
        if op.name in _STRINGS:
            pushed = [pushed[-1], arg]
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed = [pushed[-1], memo.get(int(arg))]
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = pushed[-1]
        elif op.name == "STACK_GLOBAL":
            named.add(str(pushed[0]))
            pushed = [None, None]
        elif op.name in ("GLOBAL", "INST"):
            named.add(str(arg).split(" ")[0])
            pushed = [None, None]
        elif op.name != "FRAME":
            pushed = [pushed[-1], None]
    return named
