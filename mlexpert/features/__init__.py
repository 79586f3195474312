"""Leak-free preprocessing per model family: scikit-learn transformers fitted on training folds only."""
from mlexpert.features._builders import (
    HIGH_CARDINALITY,
    MAX_TREE_CATEGORIES,
    Preprocessor,
    build_preprocessor,
)
from mlexpert.features._levels import LevelEncoding
from mlexpert.features._transformers import CategoryCodes, DatetimeFeatures, TextFeatures

__all__ = ["HIGH_CARDINALITY", "MAX_TREE_CATEGORIES", "CategoryCodes", "DatetimeFeatures",
           "LevelEncoding", "Preprocessor", "TextFeatures", "build_preprocessor"]
