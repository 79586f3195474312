"""Leak-free preprocessing per model family: scikit-learn transformers fitted on training folds only."""
from mlexpert.features._builders import Preprocessor, build_preprocessor

__all__ = ["Preprocessor", "build_preprocessor"]
