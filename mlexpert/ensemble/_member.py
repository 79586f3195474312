"""Member: one shipped model of an ensemble, its fitted (preprocessor, model) parts averaged.

A class a bundle pickles: its name is part of the bundle format (see ``ensemble._pickle``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlexpert.models import Fitted


class Member:
    """One ensemble member as shipped: (fitted preprocessor, fitted model) pairs, averaged
    (one pair when refitted on all rows, one per fold for a bag)."""

    def __init__(self, name: str, family: str, weight: float, parts: list[tuple[Any, Fitted]],
                 refit: bool):
        self.name, self.family, self.weight, self.parts, self.refit = name, family, weight, parts, refit

    def predict(self, frame: pd.DataFrame, cache: dict[int, Any] | None = None) -> np.ndarray:
        """Raw prediction (probabilities or values) averaged over the parts; ``cache`` shares
        one transform per preprocessor between the members of one call."""
        cache = {} if cache is None else cache
        total = None
        for transformer, fitted in self.parts:
            key = id(transformer)
            if key not in cache:
                cache[key] = transformer.transform(frame)
            p = fitted.predict(cache[key])
            total = p if total is None else total + p
        return total / len(self.parts)
