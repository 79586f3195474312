"""Preprocessing builders: one for tree families (native categoricals, or sorted codes beyond
``MAX_TREE_CATEGORIES`` levels, NaN kept, wide categoricals also as level encodings), the same
without level encodings for a library run as shipped (``native``), and one for linear families
(imputation with missing indicators, capped one-hot, scaling, TF-IDF).

Both take the canonical frame from ``Schema.prepare`` and are fitted inside each training fold.
With a ``HistorySpec`` (fit's ``entity``), the tree and linear kinds also get each row's entity
history (``EntityHistory``); ``native`` stays the table as the user gave it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlexpert.data import Role, Schema
from mlexpert.features._embeddings import TextEmbeddings
from mlexpert.features._history import PART, EntityHistory, HistorySpec
from mlexpert.features._levels import LevelEncoding
from mlexpert.features._transformers import CategoryCodes, DatetimeFeatures, TextFeatures

Kind = Literal["tree", "native", "linear", "tree_embed", "native_embed", "linear_embed"]
EMBED = "_embed"  # a kind ending in this reads free text as sentence embeddings, not TF-IDF
EMBEDDING_COMPONENTS = 32  # trees get the embeddings' leading principal components (fitted on
# the training fold), linear models all 384 dimensions, scaled
MAX_TREE_CATEGORIES = 254  # native categorical splits take this many levels (LightGBM/XGBoost/HGB
# limits); a column of more levels reaches trees as its levels' sorted order, a number (see
# CategoryCodes). The dev bench's three such tables at 60 s, single runs, against earlier runs
# with the 254 most frequent levels as categories: flights_origin log loss 0.00367 -> 0.00232,
# star_math RMSE 30.00 -> 29.91, verbagg_resp log loss 0.7501 -> 0.7446
# (bench/results/mlexpert_60_session17_order.jsonl; before: bench/RESULTS.md, sessions 14-15)
MAX_ONEHOT_CATEGORIES = 50
MIN_ONEHOT_FREQUENCY = 5
HIGH_CARDINALITY = 50  # more levels: the column is also encoded by its levels' share and target


@dataclass
class Preprocessor:
    """A fitted-or-not ColumnTransformer and, for trees, which output columns are categorical."""

    transformer: object
    categorical: list[int]


def wide_categoricals(schema: Schema) -> list[str]:
    """The categoricals of more than ``HIGH_CARDINALITY`` levels (level-encoded for trees)."""
    return [c.name for c in schema.features if c.role == Role.CATEGORICAL
            and int(c.stats.get("n_categories", 0)) > HIGH_CARDINALITY]


def ordinal_categoricals(schema: Schema) -> list[str]:
    """The categoricals of more than ``MAX_TREE_CATEGORIES`` levels: trees get them as numbers."""
    return [c.name for c in schema.features if c.role == Role.CATEGORICAL
            and int(c.stats.get("n_categories", 0)) > MAX_TREE_CATEGORIES]


def base_kind(kind: str) -> tuple[str, bool]:
    """(the kind without ``EMBED``, whether free text is embedded)."""
    embed = kind.endswith(EMBED)
    return (kind[: -len(EMBED)] if embed else kind), embed


def same_preprocessing(schema: Schema, kind: Kind, history: HistorySpec | None = None) -> Kind:
    """The kind whose fitted preprocessing ``kind`` shares: ``native`` is ``tree`` when the
    table has no wide categorical and no entity history (nothing to leave out), so it is fitted
    only once; an embedding kind (``EMBED``) is its base kind on a table without free text."""
    base, embed = base_kind(kind)
    plain = not wide_categoricals(schema) and history is None
    if base == "native" and plain:
        base = "tree"
    embed = embed and bool(schema.names(Role.TEXT))
    return base + EMBED if embed else base  # type: ignore[return-value]


def build_preprocessor(schema: Schema, kind: Kind, seed: int = 0, task: str | None = None,
                       history: HistorySpec | None = None) -> Preprocessor:
    """An unfitted preprocessing step for the given model kind. Categoricals of more than
    ``HIGH_CARDINALITY`` levels also get ``LevelEncoding`` (target means fitted out of fold when
    ``task`` is given and ``fit_transform`` gets the target), and ``history`` adds the entity
    history features (``fit_transform`` must get the target), except for the ``native`` kind:
    the table as the library takes it, what a user running its defaults would hand it. A kind
    ending in ``EMBED`` reads each free-text column as its sentence embedding
    (``TextEmbeddings``: needs the ``deep`` extra) instead of TF-IDF."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = schema.names(Role.NUMERIC)
    cat = schema.names(Role.CATEGORICAL)
    dates = schema.names(Role.DATETIME)
    texts = schema.names(Role.TEXT)
    kind, embed = base_kind(kind)  # type: ignore[assignment]
    wide = [] if kind == "native" else wide_categoricals(schema)
    parts: list[tuple] = []
    if kind in ("tree", "native"):
        if num:
            parts.append(("num", "passthrough", num))
        ordinal = ordinal_categoricals(schema)
        native = [c for c in cat if c not in ordinal]
        if native:
            parts.append(("cat", CategoryCodes(max_categories=MAX_TREE_CATEGORIES), native))
        if ordinal:
            parts.append(("order", CategoryCodes(max_categories=None, order="value"), ordinal))
        if dates:
            parts.append(("date", DatetimeFeatures(cyclic=False), dates))
        parts += [(f"text{i}", TextEmbeddings(EMBEDDING_COMPONENTS, seed=seed) if embed
                   else TextFeatures(seed=seed), [c]) for i, c in enumerate(texts)]
        if wide:
            parts.append(("levels", LevelEncoding(task=task, seed=seed, as_number=True), wide))
        if history is not None and kind == "tree":
            parts.append((PART, _history_step(history, task, seed), history.columns(num)))
        categorical = list(range(len(num), len(num) + len(native)))
        sparse_threshold = 0.0
    else:
        if num:
            parts.append(("num", make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler()), num))
        if cat:
            parts.append(("cat", OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=MIN_ONEHOT_FREQUENCY,
                max_categories=MAX_ONEHOT_CATEGORIES), cat))
        if dates:
            parts.append(("date", make_pipeline(
                DatetimeFeatures(), SimpleImputer(strategy="median", keep_empty_features=True),
                StandardScaler()), dates))
        parts += [(f"text{i}", make_pipeline(TextEmbeddings(seed=seed), StandardScaler()) if embed
                   else TextFeatures(reduce=False), [c]) for i, c in enumerate(texts)]
        if wide:
            parts.append(("levels", make_pipeline(LevelEncoding(task=task, seed=seed),
                                                  StandardScaler()), wide))
        if history is not None:
            parts.append((PART, make_pipeline(
                _history_step(history, task, seed),
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler()), history.columns(num)))
        categorical = []
        sparse_threshold = 0.3
    transformer = ColumnTransformer(parts, sparse_threshold=sparse_threshold,
                                    verbose_feature_names_out=False)
    return Preprocessor(transformer, categorical)


def one_hot_blocks(transformer: object) -> list[list[int]]:
    """The output columns of each categorical one-hot encoded by a fitted linear-kind
    ``transformer`` (its frequent levels, then the group of rare ones where there is one), in
    the schema's order; [] for the tree kinds."""
    parts = dict(getattr(transformer, "named_transformers_", {}))
    encoder = parts.get("cat")
    if encoder is None or not hasattr(encoder, "infrequent_categories_"):
        return []
    start = transformer.output_indices_["cat"].start  # type: ignore[attr-defined]
    blocks = []
    for levels, rare in zip(encoder.categories_, encoder.infrequent_categories_, strict=True):
        width = len(levels) if rare is None else len(levels) - len(rare) + 1
        blocks.append(list(range(start, start + width)))
        start += width
    return blocks


def _history_step(history: HistorySpec, task: str | None, seed: int) -> EntityHistory:
    return EntityHistory(task=task or "regression", horizon=history.horizon, seed=seed)
