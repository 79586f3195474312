"""Leak-free preprocessing per model family: scikit-learn transformers fitted on training folds only."""
from mlexpert.features._builders import (
    EMBED,
    HIGH_CARDINALITY,
    MAX_TREE_CATEGORIES,
    Kind,
    Preprocessor,
    base_kind,
    build_preprocessor,
    one_hot_blocks,
    same_preprocessing,
    wide_categoricals,
)
from mlexpert.features._embeddings import CACHE_TEXTS as EMBEDDING_CACHE_TEXTS
from mlexpert.features._embeddings import DISTRIBUTIONS as EMBEDDING_DISTRIBUTIONS
from mlexpert.features._embeddings import NEEDS as EMBEDDING_NEEDS
from mlexpert.features._embeddings import TextEmbeddings, reads_embeddings
from mlexpert.features._embeddings import available as embeddings_available
from mlexpert.features._embeddings import encode as embed_texts
from mlexpert.features._history import EntityHistory, HistorySpec, extend_history, history_part
from mlexpert.features._levels import LevelEncoding
from mlexpert.features._selection import Selection, near_duplicates, select
from mlexpert.features._transformers import (
    NUMBER_PATTERN,
    CategoryCodes,
    DatetimeFeatures,
    TextFeatures,
)

__all__ = ["EMBED", "HIGH_CARDINALITY", "MAX_TREE_CATEGORIES", "NUMBER_PATTERN", "CategoryCodes", "DatetimeFeatures",
           "EntityHistory", "HistorySpec", "Kind", "LevelEncoding", "Preprocessor", "TextFeatures", "build_preprocessor", "one_hot_blocks", "extend_history", "history_part",
           "Selection", "near_duplicates", "select",
           "EMBEDDING_CACHE_TEXTS", "EMBEDDING_DISTRIBUTIONS", "EMBEDDING_NEEDS", "TextEmbeddings",
           "base_kind", "reads_embeddings",
           "embed_texts", "embeddings_available", "same_preprocessing", "wide_categoricals"]
