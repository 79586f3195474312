"""What the boosting families share: round limits, early stopping, refit rounds and the
compact search-space builder."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.models._base import Fitted

MAX_ROUNDS = 10_000
EARLY_STOP = 50


def refit_rounds(params: dict[str, Any], fitted: list[Fitted], key: str) -> dict[str, Any]:
    """``params`` with ``key`` set to the fold fits' mean best round plus 10 % (a refit sees
    more rows); unchanged when no fold early-stopped."""
    rounds = [f.best_iteration for f in fitted if f.best_iteration]
    if not rounds:
        return dict(params)
    return {**params, key: max(1, int(round(np.mean(rounds) * 1.1)))}


def space(defaults: dict[str, Any], **ranges: tuple[Any, ...]) -> dict[str, Any]:
    """Optuna distributions from compact ranges: (low, high, "log"|"int"|"intlog"|"lin") or a
    list of choices; ``defaults`` ride along under ``"_defaults"``."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, spec in ranges.items():
        if isinstance(spec, list):
            out[name] = CategoricalDistribution(spec)
            continue
        low, high, how = spec
        if how.startswith("int"):
            out[name] = IntDistribution(low, high, log=how == "intlog")
        else:
            out[name] = FloatDistribution(low, high, log=how == "log")
    out["_defaults"] = defaults
    return out
