"""``FastPath``: a Model's members on canonical rows through their numpy-compiled preprocessing
and models (``mlexpert.compiled``; a member's fold or seed models in one call where they walk
together), then the ensemble's own weighted average and calibrator."""
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


class FastPath:
    """Raw predictions (probabilities or values) of a Model's members on canonical rows."""

    def __init__(self, model: Any):
        ensemble = getattr(model, "ensemble", None)
        if ensemble is None or not ensemble.members:
            raise Unsupported("a model without members")
        transformers: dict[int, Block] = {}
        self._members = []
        for m in ensemble.members:
            for transformer, _ in m.parts:
                if id(transformer) not in transformers:
                    transformers[id(transformer)] = compile_transformer(transformer, model.schema)
            keys = [id(transformer) for transformer, _ in m.parts]
            bag = compile_bag([fitted for _, fitted in m.parts])  # the parts' sum, in one call
            parts = [(keys, bag)] if bag is not None else \
                [([key], compile_estimator(fitted)) for key, (_, fitted) in zip(keys, m.parts,
                                                                                strict=True)]
            self._members.append((len(m.parts), parts))
        self._transformers = transformers
        self._ensemble = ensemble
        self._classify = model.task != "regression"

    def predict(self, rows: Rows) -> np.ndarray:
        """(n, K) class probabilities (rows sum to 1) or (n,) values, as ``Model`` computes them."""
        features = {key: block(rows) for key, block in self._transformers.items()}
        raw = self._ensemble.calibrate(self._ensemble.average(
            sum(predict(*(features[key] for key in keys)) for keys, predict in parts) / n_parts
            for n_parts, parts in self._members))
        return raw / raw.sum(axis=1, keepdims=True) if self._classify else raw
