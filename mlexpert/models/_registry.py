"""The one registry of model libraries: each family's adapter by name, and the adapter of a
fitted model (by the family it records, else by its estimator's type)."""
from __future__ import annotations

from typing import Any

from mlexpert.errors import bad_option
from mlexpert.models._adapter import Adapter, Unsupported
from mlexpert.models._base import Family
from mlexpert.models._catboost import ADAPTER as CATBOOST
from mlexpert.models._forest import EXTRA_TREES, RANDOM_FOREST
from mlexpert.models._hgb import ADAPTER as HIST_GRADIENT_BOOSTING
from mlexpert.models._lightgbm import ADAPTER as LIGHTGBM
from mlexpert.models._linear import ADAPTER as LINEAR
from mlexpert.models._mlp import ADAPTER as MLP
from mlexpert.models._xgboost import ADAPTER as XGBOOST

# the order the search and its reports list the families in
ADAPTERS: dict[str, Adapter] = {a.name: a for a in (
    LIGHTGBM, XGBOOST, CATBOOST, HIST_GRADIENT_BOOSTING, LINEAR, RANDOM_FOREST, EXTRA_TREES,
    MLP)}
FAMILIES: dict[str, Family] = {name: a.family for name, a in ADAPTERS.items()}


def get_family(name: str) -> Family:
    """The registered family ``name``; a ConfigError lists the valid names."""
    if name not in FAMILIES:
        raise bad_option("model family", name, f"one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def adapter_for(fitted: Any) -> Adapter:
    """The adapter of a ``Fitted``: the family it records, else (a ``Fitted`` from an old bundle,
    or one built outside a family such as a distilled student) the one owning its estimator;
    ``Unsupported`` when none does."""
    name = getattr(fitted, "family", None)
    if name in ADAPTERS:
        return ADAPTERS[name]
    for adapter in ADAPTERS.values():
        if adapter.owns(fitted.estimator):
            return adapter
    raise Unsupported(f"no model library adapter for {type(fitted.estimator).__name__}")


def bag_adapter(fitted: list[Any]) -> Adapter:
    """The one adapter of several fitted models; ``Unsupported`` when they have several."""
    adapters = {id(a): a for a in (adapter_for(f) for f in fitted)}
    if len(adapters) != 1:
        raise Unsupported("models of several families")
    return next(iter(adapters.values()))


def counted_tree_nodes(fits: list[Any]) -> int:
    """The tree nodes the ONNX conversion of ``fits`` adds, as far as their adapters count them
    without reading the trees (``tree_nodes``; the others: 0): a lower bound to check the node
    limit against before converting anything."""
    total = 0
    for fitted in fits:
        count = adapter_for(fitted).tree_nodes
        total += 0 if count is None else count(fitted)
    return total
