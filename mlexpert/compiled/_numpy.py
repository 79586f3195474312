"""Fitted preprocessing and models compiled to plain numpy for a few canonical rows.

``Model.predict`` spends ~10 ms on a single row, almost all of it in pandas and scikit-learn's
per-call validation (docs: /work/shared/STACK.md); the model itself takes ~50 µs. This module
turns each fitted preprocessing step into plain numpy on canonical rows, and each fitted model
into what its library's adapter compiles (``models.ADAPTERS``). It knows the steps
``features/`` builds; anything else raises ``Unsupported`` and the caller uses the Model. The
runtime's compiled path (``runtime.FastPath``) is checked against the Model's own path on probe
rows before use (``runtime._choose``), so a change in the features layer makes it fall back,
never answer differently; the search times these functions to estimate what one row will cost.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.compiled._steps import (
    Chain,
    Codes,
    Columns,
    Dates,
    Impute,
    Levels,
    Numbers,
    OneHot,
    Rows,
    Scale,
)
from mlexpert.data import Role, Schema
from mlexpert.models import Unsupported, adapter_for, bag_adapter

DENSE_TEXT_CELLS = 1 << 18  # below this many cells TF-IDF stays dense (scipy.sparse costs ~0.3 ms)
Block = Callable[[Rows], Any]  # rows -> (n, k) float ndarray or a scipy sparse matrix


def _compile_imputer(step: Any) -> Impute:
    if step.strategy not in ("mean", "median", "most_frequent", "constant"):
        raise Unsupported(f"SimpleImputer(strategy={step.strategy!r})")
    if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
        raise Unsupported("SimpleImputer with a missing-value marker other than NaN")
    fill = np.asarray(step.statistics_, dtype=float)
    fill = np.where(np.isnan(fill), 0.0, fill)  # keep_empty_features: all-missing columns get 0
    if not getattr(step, "keep_empty_features", False) and np.isnan(step.statistics_).any():
        raise Unsupported("SimpleImputer dropping empty features")
    indicator = getattr(step, "indicator_", None)
    return Impute(fill, None if indicator is None else np.asarray(indicator.features_, dtype=int))


def _compile_scaler(step: Any) -> Scale:
    return Scale(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)


def _compile_onehot(enc: Any, idx: list[int]) -> OneHot:
    """Per column, a dict from canonical category to output column, found by transforming probe
    rows through the encoder itself (so infrequent and unknown handling match it exactly)."""
    if enc.drop_idx_ is not None:
        raise Unsupported("OneHotEncoder(drop=...)")
    widths = [int(w) for w in enc._n_features_outs]
    offsets = np.cumsum([0, *widths[:-1]])
    base = [cats[0] for cats in enc.categories_]
    sentinel = "\x00mlexpert-unseen\x00"
    tables: list[dict[str, int]] = []
    unknown: list[int] = []
    missing: list[int] = []
    # every column's probes in one transform (row i holds each column's i-th probe, or its
    # first category once its probes run out): one call per column cost O(columns^2), 108 s
    # for 948 categorical columns
    probes = [[*cats, sentinel, np.nan] for cats in enc.categories_]
    height = max(len(p) for p in probes)
    rows = np.array([[p[i] if i < len(p) else base[j] for j, p in enumerate(probes)]
                     for i in range(height)], dtype=object)
    with warnings.catch_warnings():  # probe rows have no feature names; that is fine
        warnings.simplefilter("ignore")
        encoded = enc.transform(rows)
    for j, column in enumerate(probes):
        block = encoded[:len(column), offsets[j]:offsets[j] + widths[j]]
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        hits = [int(h[0]) if len(h) else -1 for h in (np.flatnonzero(b) for b in block)]
        tables.append({str(v): h for v, h in zip(column[:-2], hits[:-2], strict=True)
                       if not (isinstance(v, float) and np.isnan(v))})
        unknown.append(hits[-2])
        missing.append(hits[-1])
    return OneHot(idx, tables, unknown, missing, [int(o) for o in offsets], int(sum(widths)))


def _compile_codes(step: Any, idx: list[int]) -> Codes:
    from mlexpert.features import NUMBER_PATTERN

    return Codes(idx, [{v: float(k) for k, v in enumerate(cats)} for cats in step.categories_],
                 step.by_value, list(getattr(step, "numbers_", [])), NUMBER_PATTERN)


def _compile_levels(step: Any, idx: list[int]) -> Levels:
    lookups, tables, missing = [], [], []
    for j in range(len(idx)):
        keys, rows, unseen, missing_row = step.lookup_table(j)
        lookups.append({k: i for i, k in enumerate(keys)})
        tables.append(np.vstack([rows, unseen[None, :]]))
        missing.append(missing_row)
    return Levels(idx, lookups, tables, missing)


def _compile_text(step: Any) -> Callable[[list[str]], Any]:
    """TextFeatures: log length and word count, then TF-IDF counted with the vectorizer's own
    analyzer (sublinear tf, idf, l2 norm) or, for trees, the vectorizer's own TF-IDF through the
    SVD projection."""
    import scipy.sparse as sp

    tfidf, svd = step.tfidf_, step.svd_
    if tfidf is not None and (tfidf.binary or tfidf.norm not in ("l2", None)):
        raise Unsupported("TfidfVectorizer options")
    analyzer = tfidf.build_analyzer() if tfidf is not None else None
    vocab = tfidf.vocabulary_ if tfidf is not None else {}
    idf = tfidf.idf_ if tfidf is not None and tfidf.use_idf else None
    width = len(vocab)
    # C order once: scipy's sparse @ dense copies an F-ordered operand (components_.T) to C
    # order on every call (vocabulary x components floats; 3.3 of trump_tweet_source's 17 ms per
    # row under the profiler), and computes on the same C-ordered values either way
    components = np.ascontiguousarray(svd.components_.T) if svd is not None else None

    def run(texts: list[str]) -> Any:
        base = np.log1p(np.array([[len(t), len(t.split())] for t in texts], dtype=float))
        if analyzer is None:
            return base
        if components is not None:  # the vectorizer's own counts: trees split on these
            # projections, so they must be its float32 values to the bit, which recounting in
            # float64 is not (tate_year: XGBoost members 0.5 years apart on '[no title]')
            return np.hstack([base, _vectorized(tfidf, texts) @ components])
        data, indices, indptr = [], [], [0]
        for t in texts:
            counts: dict[int, int] = {}
            for token in analyzer(t):
                j = vocab.get(token)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            cols = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
            v = np.array([counts[j] for j in cols], dtype=float)
            if tfidf.sublinear_tf:
                v = np.log(v) + 1.0
            if idf is not None:
                v = v * idf[cols]
            if tfidf.norm == "l2" and len(v):
                v = v / np.sqrt(np.sum(v * v))
            data.append(v)
            indices.append(cols)
            indptr.append(indptr[-1] + len(cols))
        if len(texts) * width <= DENSE_TEXT_CELLS:
            dense = np.zeros((len(texts), width), dtype=tfidf.dtype)
            for r, (cols, v) in enumerate(zip(indices, data, strict=True)):
                dense[r, cols] = v
            return np.hstack([base, dense])
        m = sp.csr_matrix((np.concatenate(data).astype(tfidf.dtype) if data else np.zeros(0),
                           np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
                           np.array(indptr)), shape=(len(texts), width))
        return sp.hstack([sp.csr_matrix(base), m], format="csr")

    return run


def _vectorized(tfidf: Any, texts: list[str]) -> Any:
    """``tfidf.transform(texts)``: its own counting (``_count_vocab``), then the steps of its
    ``TfidfTransformer`` in the same order and types (sublinear tf, idf, l2 norm), without
    the input checks around them (a one-text call 230 -> 45 µs, the same matrix to the bit:
    trump_tweet_source's path counts a tweet six times, once per fold's vocabulary); the
    vectorizer's own call where its private parts are not these."""
    try:
        from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

        _, X = tfidf._count_vocab(texts, fixed_vocab=True)
        weights = tfidf._tfidf
    except (AttributeError, ImportError, TypeError):
        from sklearn import config_context

        with config_context(skip_parameter_validation=True, assume_finite=True):
            return tfidf.transform(texts)
    X = X.astype(tfidf.dtype, copy=False)
    if weights.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    if hasattr(weights, "idf_"):
        X.data *= weights.idf_[X.indices]
    if weights.norm == "l2":
        inplace_csr_row_normalize_l2(X)
    return X


def _compile_step_chain(steps: list[Any], idx: list[int], roles: list[Role]) -> Block:
    """A pipeline (or one step) over the columns ``idx``: the first step reads canonical values,
    the rest are numpy array -> array."""
    from mlexpert.features import (
        CategoryCodes,
        DatetimeFeatures,
        EntityHistory,
        LevelEncoding,
        TextEmbeddings,
        TextFeatures,
    )

    first, rest = steps[0], steps[1:]
    if type(first).__name__ == "FunctionTransformer" and first.func is None:
        first = "passthrough"  # a fitted ColumnTransformer stores 'passthrough' as this
    if isinstance(first, str) and first == "passthrough":
        if any(r != Role.NUMERIC for r in roles):
            raise Unsupported("passthrough of non-numeric columns")
        head: Block = Numbers(idx)
    elif isinstance(first, DatetimeFeatures):
        head = Dates(idx, [first.parts(c) for c in first.columns_])
    elif isinstance(first, CategoryCodes):
        head = _compile_codes(first, idx)
    elif isinstance(first, LevelEncoding):
        head = _compile_levels(first, idx)
    elif isinstance(first, EntityHistory):  # reads the entity's stored rows: its own transform
        names = list(first.columns_)
        head = lambda rows: first.transform(pd.DataFrame(  # noqa: E731
            {n: [r[i] for r in rows] for n, i in zip(names, idx, strict=True)}))
    elif type(first).__name__ == "OneHotEncoder":
        head = _compile_onehot(first, idx)
    elif isinstance(first, TextFeatures):
        if len(idx) != 1:
            raise Unsupported("TextFeatures over several columns")
        text = _compile_text(first)
        i = idx[0]
        head = lambda rows: text([r[i] for r in rows])  # noqa: E731
    elif isinstance(first, TextEmbeddings):  # the model's forward pass (cached texts skip it):
        # its own call on the texts, no pandas
        if len(idx) != 1:
            raise Unsupported("TextEmbeddings over several columns")
        i = idx[0]
        head = lambda rows: first.transform_texts([r[i] for r in rows])  # noqa: E731
    elif type(first).__name__ in ("SimpleImputer", "StandardScaler"):
        if any(r != Role.NUMERIC for r in roles):
            raise Unsupported("numeric step over non-numeric columns")
        steps = ["passthrough", *steps]
        return _compile_step_chain(steps, idx, roles)
    else:
        raise Unsupported(type(first).__name__)
    tail = []
    for step in rest:
        name = type(step).__name__
        if name == "SimpleImputer":
            tail.append(_compile_imputer(step))
        elif name == "StandardScaler":
            tail.append(_compile_scaler(step))
        else:
            raise Unsupported(f"{name} inside a pipeline")
    return Chain(head, tail) if tail else head


def compile_transformer(ct: Any, schema: Schema) -> Block:
    """A fitted ColumnTransformer from ``features.build_preprocessor`` as numpy on canonical rows."""
    if type(ct).__name__ != "ColumnTransformer":
        raise Unsupported(type(ct).__name__)
    feats = schema.features
    position = {c.name: i for i, c in enumerate(feats)}
    roles = {c.name: c.role for c in feats}
    blocks: list[Block] = []
    for name, step, cols in ct.transformers_:
        if step == "drop" or (name == "remainder" and len(cols) == 0):
            continue
        cols = list(cols)
        if any(not isinstance(c, str) or c not in position for c in cols):
            raise Unsupported(f"transformer {name!r} reads columns outside the schema")
        steps = [s for _, s in step.steps] if type(step).__name__ == "Pipeline" else [step]
        blocks.append(_compile_step_chain(steps, [position[c] for c in cols],
                                          [roles[c] for c in cols]))
    return Columns(blocks)


def compile_bag(fitted: list[Any]) -> Callable[..., np.ndarray] | None:
    """The SUM of several fitted models' predictions in one call, each model reading its own
    input (``bag(X_1, ..., X_n)``), where their adapter walks their trees together (forests,
    CatBoost for one or two rows: numpy's cost per call, ~1-2 µs an operation at each tree
    level, is paid once, not per model); None where it does not (one call per model then)."""
    if len(fitted) < 2 or any(getattr(f, "offset", None) is not None for f in fitted):
        return None
    try:
        return bag_adapter(fitted).need("compile_bag")(fitted)
    except Unsupported:
        return None


def compile_estimator(fitted: Any) -> Callable[[Any], np.ndarray]:
    """A fitted model as its adapter compiles it (LightGBM and XGBoost through their boosters,
    CatBoost's and forests' trees walked in numpy, linear models as products); any model its
    adapter does not compile through ``Fitted.predict``."""
    try:
        fast = adapter_for(fitted).need("compile")(fitted)
    except Unsupported:
        return fitted.predict
    if getattr(fitted, "offset", None) is None:
        return fast
    return lambda X: fitted.from_change(fast(X), X)  # a change from an input column
