"""Model families behind one small interface, and the registry that names them.

Family modules import their libraries inside ``fit``, so this registry is cheap to import.
"""
from mlexpert.errors import bad_option
from mlexpert.models._base import Family, FitRequest, Fitted
from mlexpert.models._boosting import CatBoostFamily, LightGBMFamily, XGBoostFamily
from mlexpert.models._forest import ExtraTreesFamily, RandomForestFamily
from mlexpert.models._linear import LinearFamily

FAMILIES: dict[str, Family] = {f.name: f for f in (
    LightGBMFamily(), XGBoostFamily(), CatBoostFamily(), LinearFamily(), RandomForestFamily(),
    ExtraTreesFamily())}


def get_family(name: str) -> Family:
    """The registered family ``name``; a ConfigError lists the valid names."""
    if name not in FAMILIES:
        raise bad_option("model family", name, f"one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["FAMILIES", "Family", "FitRequest", "Fitted", "get_family"]
