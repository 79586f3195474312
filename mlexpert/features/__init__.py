"""Leak-free preprocessing per model family: scikit-learn transformers fitted on training folds only."""
from mlexpert.features._builders import (
    HIGH_CARDINALITY,
    MAX_TREE_CATEGORIES,
    Kind,
    Preprocessor,
    build_preprocessor,
    same_preprocessing,
)
from mlexpert.features._history import EntityHistory, HistorySpec, extend_history, history_part
from mlexpert.features._levels import LevelEncoding
from mlexpert.features._selection import Selection, near_duplicates, select
from mlexpert.features._transformers import (
    NUMBER_PATTERN,
    CategoryCodes,
    DatetimeFeatures,
    TextFeatures,
)

__all__ = ["HIGH_CARDINALITY", "MAX_TREE_CATEGORIES", "NUMBER_PATTERN", "CategoryCodes", "DatetimeFeatures",
           "EntityHistory", "HistorySpec", "Kind", "LevelEncoding", "Preprocessor", "TextFeatures", "build_preprocessor", "extend_history", "history_part",
           "Selection", "near_duplicates", "select",
           "same_preprocessing"]
