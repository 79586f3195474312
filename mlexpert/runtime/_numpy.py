"""``FastPath``: a Model's members on canonical rows through their numpy-compiled preprocessing
and models (``mlexpert.compiled``; a member's fold or seed models in one call where they walk
together), weighted as the Model weighs them, then its calibrator."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.compiled import (
    Block,
    Rows,
    Unsupported,
    compile_bag,
    compile_estimator,
    compile_transformer,
)
from mlexpert.evaluate import Calibrator


class FastPath:
    """Raw predictions (probabilities or values) of a Model's members on canonical rows."""

    def __init__(self, model: Any):
        members = getattr(model, "_members", None)
        if not members:
            raise Unsupported("a model without members")
        transformers: dict[int, Block] = {}
        self._members = []
        for m in members:
            for transformer, _ in m.parts:
                if id(transformer) not in transformers:
                    transformers[id(transformer)] = compile_transformer(transformer, model.schema)
            keys = [id(transformer) for transformer, _ in m.parts]
            bag = compile_bag([fitted for _, fitted in m.parts])  # the parts' sum, in one call
            parts = [(keys, bag)] if bag is not None else \
                [([key], compile_estimator(fitted)) for key, (_, fitted) in zip(keys, m.parts,
                                                                                strict=True)]
            self._members.append((float(m.weight), len(m.parts), parts))
        self._transformers = transformers
        self._total_weight = sum(w for w, _, _ in self._members)
        self._classify = model.task != "regression"
        cal = model._manifest.get("calibration") if self._classify else None
        self._calibrator = Calibrator.from_dict(cal) if cal else None

    def predict(self, rows: Rows) -> np.ndarray:
        """(n, K) class probabilities (rows sum to 1) or (n,) values, as ``Model`` computes them."""
        features = {key: block(rows) for key, block in self._transformers.items()}
        total = None
        for weight, n_parts, parts in self._members:
            p = sum(predict(*(features[key] for key in keys)) for keys, predict in parts) / n_parts
            total = weight * p if total is None else total + weight * p
        raw = total / self._total_weight
        if self._calibrator is not None:
            raw = self._calibrator.apply(raw)
        return raw / raw.sum(axis=1, keepdims=True) if self._classify else raw
