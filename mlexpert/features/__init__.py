"""Leak-free preprocessing per model family: scikit-learn transformers fitted on training folds only."""
from mlexpert.features._builders import MAX_TREE_CATEGORIES, Preprocessor, build_preprocessor

__all__ = ["MAX_TREE_CATEGORIES", "Preprocessor", "build_preprocessor"]
