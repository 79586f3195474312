"""Fitted preprocessing and models compiled to plain numpy for a few canonical rows.

``Model.predict`` spends ~10 ms on a single row, almost all of it in pandas and scikit-learn's
per-call validation (docs: /work/shared/STACK.md); the model itself takes ~50 µs. This module
turns each fitted preprocessing step into plain numpy on canonical rows and calls LightGBM's
booster single-threaded (``num_threads=1``: no OpenMP start-up per row). It knows the steps
``features/`` builds; anything else raises ``Unsupported`` and the caller uses the Model. The
runtime's compiled path (``runtime.FastPath``) is checked against the Model's own path on probe
rows before use (``runtime._choose``), so a change in the features layer makes it fall back,
never answer differently; the search times these functions to estimate what one row will cost.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlexpert.data import Role, Schema

Rows = Sequence[Sequence[Any]]  # canonical rows, one value per feature in schema order
OBLIVIOUS_ROWS = 2  # rows up to which CatBoost's trees are walked in numpy (see _catboost)
DENSE_TEXT_CELLS = 1 << 18  # below this many cells TF-IDF stays dense (scipy.sparse costs ~0.3 ms)
Block = Callable[[Rows], Any]  # rows -> (n, k) float ndarray or a scipy sparse matrix


class Unsupported(Exception):
    """A step this module cannot compile; the caller then predicts through the Model."""


def _numbers(rows: Rows, idx: list[int]) -> np.ndarray:
    return np.array([[r[i] for i in idx] for r in rows], dtype=float).reshape(len(rows), len(idx))


def _compile_imputer(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    if step.strategy not in ("mean", "median", "most_frequent", "constant"):
        raise Unsupported(f"SimpleImputer(strategy={step.strategy!r})")
    if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
        raise Unsupported("SimpleImputer with a missing-value marker other than NaN")
    fill = np.asarray(step.statistics_, dtype=float)
    fill = np.where(np.isnan(fill), 0.0, fill)  # keep_empty_features: all-missing columns get 0
    if not getattr(step, "keep_empty_features", False) and np.isnan(step.statistics_).any():
        raise Unsupported("SimpleImputer dropping empty features")
    indicator = getattr(step, "indicator_", None)
    flags = None if indicator is None else np.asarray(indicator.features_, dtype=int)

    def run(x: np.ndarray) -> np.ndarray:
        miss = np.isnan(x)
        out = np.where(miss, fill, x)
        return out if flags is None else np.hstack([out, miss[:, flags].astype(float)])

    return run


def _compile_scaler(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def run(x: np.ndarray) -> np.ndarray:
        if mean is not None:
            x = x - mean
        return x / scale if scale is not None else x

    return run


def _compile_onehot(enc: Any) -> Callable[[list[list[Any]]], np.ndarray]:
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
    for j, cats in enumerate(enc.categories_):
        probes = [*cats, sentinel, np.nan]
        rows = np.array([[*base[:j], v, *base[j + 1:]] for v in probes], dtype=object)
        with warnings.catch_warnings():  # probe rows have no feature names; that is fine
            warnings.simplefilter("ignore")
            dense = enc.transform(rows)
        dense = dense.toarray() if hasattr(dense, "toarray") else np.asarray(dense)
        block = dense[:, offsets[j]:offsets[j] + widths[j]]
        hits = [int(h[0]) if len(h) else -1 for h in (np.flatnonzero(b) for b in block)]
        tables.append({str(v): h for v, h in zip(probes[:-2], hits[:-2], strict=True)
                       if not (isinstance(v, float) and np.isnan(v))})
        unknown.append(hits[-2])
        missing.append(hits[-1])
    total = int(sum(widths))

    def run(values: list[list[Any]]) -> np.ndarray:
        out = np.zeros((len(values), total))
        for r, row in enumerate(values):
            for j, v in enumerate(row):
                k = missing[j] if isinstance(v, float) else tables[j].get(v, unknown[j])
                if k >= 0:
                    out[r, offsets[j] + k] = 1.0
        return out

    return run


def _column_values(rows: Rows, idx: list[int]) -> list[list[Any]]:
    return [[r[i] for i in idx] for r in rows]


def _compile_codes(step: Any) -> Callable[[list[list[Any]]], np.ndarray]:
    tables = [{v: float(k) for k, v in enumerate(cats)} for cats in step.categories_]
    other = [float(len(cats)) for cats in step.categories_]

    def run(values: list[list[Any]]) -> np.ndarray:
        out = np.empty((len(values), len(tables)))
        for r, row in enumerate(values):
            for j, v in enumerate(row):
                out[r, j] = np.nan if isinstance(v, float) else tables[j].get(v, other[j])
        return out

    return run


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
    components = svd.components_.T if svd is not None else None

    def run(texts: list[str]) -> Any:
        base = np.log1p(np.array([[len(t), len(t.split())] for t in texts], dtype=float))
        if analyzer is None:
            return base
        if components is not None:  # the vectorizer itself (~0.25 ms): trees split on these
            # projections, so they must be its float32 values to the bit, which recounting in
            # float64 is not (tate_year: XGBoost members 0.5 years apart on '[no title]')
            return np.hstack([base, tfidf.transform(texts) @ components])
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


def _compile_step_chain(steps: list[Any], idx: list[int], roles: list[Role]) -> Block:
    """A pipeline (or one step) over the columns ``idx``: the first step reads canonical values,
    the rest are numpy array -> array."""
    from mlexpert.features._transformers import CategoryCodes, DatetimeFeatures, TextFeatures

    first, rest = steps[0], steps[1:]
    if type(first).__name__ == "FunctionTransformer" and first.func is None:
        first = "passthrough"  # a fitted ColumnTransformer stores 'passthrough' as this
    if isinstance(first, str) and first == "passthrough":
        if any(r != Role.NUMERIC for r in roles):
            raise Unsupported("passthrough of non-numeric columns")
        head: Block = lambda rows: _numbers(rows, idx)  # noqa: E731
    elif isinstance(first, DatetimeFeatures):
        def head(rows: Rows) -> np.ndarray:
            arrays = [np.array([r[i] for r in rows], dtype="datetime64[ns]") for i in idx]
            return first.transform_arrays(arrays, len(rows))
    elif isinstance(first, CategoryCodes):
        codes = _compile_codes(first)
        head = lambda rows: codes(_column_values(rows, idx))  # noqa: E731
    elif type(first).__name__ == "OneHotEncoder":
        onehot = _compile_onehot(first)
        head = lambda rows: onehot(_column_values(rows, idx))  # noqa: E731
    elif isinstance(first, TextFeatures):
        if len(idx) != 1:
            raise Unsupported("TextFeatures over several columns")
        text = _compile_text(first)
        i = idx[0]
        head = lambda rows: text([r[i] for r in rows])  # noqa: E731
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
    if not tail:
        return head

    def run(rows: Rows) -> np.ndarray:
        x = head(rows)
        for f in tail:
            x = f(x)
        return x

    return run


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

    def run(rows: Rows) -> Any:
        parts = [b(rows) for b in blocks]
        if any(hasattr(p, "tocsr") for p in parts):
            import scipy.sparse as sp

            return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")
        return np.hstack(parts) if parts else np.empty((len(rows), 0))

    return run


def _all_classes(p: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """(n, k) probabilities from an estimator's (n, len(classes)) ones: a class absent from its
    training fold gets 0, as ``Fitted.predict`` does."""
    if p.shape[1] == k and np.array_equal(classes, np.arange(k)):
        return p
    full = np.zeros((p.shape[0], k))
    full[:, classes] = p
    return full


def _catboost_rows(categorical: list[int]) -> Callable[[Any], list[list[Any]]]:
    """The float matrix as CatBoost's input in plain lists, categorical codes as ints (missing
    -1), as ``models._CatBoostInput`` builds its DataFrame: ~1 ms less per call for one row."""
    cats = list(categorical)

    def run(X: Any) -> list[list[Any]]:
        rows = np.asarray(X, dtype=float).tolist()
        for r in rows:
            for i in cats:
                v = r[i]
                r[i] = -1 if v != v else int(v)
        return rows

    return run


def _catboost_native(est: Any, classes: np.ndarray | None, k: int,
                     adapter: Any) -> Callable[[Any], np.ndarray]:
    """CatBoost's own predict on plain lists, single-threaded."""
    rows_of = _catboost_rows(adapter.categorical)
    if classes is None:
        return lambda X: np.asarray(est.predict(rows_of(X), thread_count=1), dtype=float)
    return lambda X: _all_classes(np.asarray(est.predict_proba(rows_of(X), thread_count=1),
                                             dtype=float), classes, k)


def _catboost(fitted: list[Any]) -> Callable[..., np.ndarray]:
    """The sum of CatBoost models' predictions, each on its own input (one model: its
    prediction): their trees walked together in numpy up to ``OBLIVIOUS_ROWS`` rows (CatBoost's
    own predict costs ~100-200 µs a call, whatever the rows), CatBoost itself on plain lists
    above that or when the trees do not read (splits on column combinations)."""
    adapters = [f.extra["adapter"] for f in fitted]
    classes = [None if f.task == "regression" else np.asarray(f.estimator.classes_).astype(int)
               for f in fitted]
    trees = _oblivious_trees([(f.estimator, a) for f, a in zip(fitted, adapters, strict=True)])
    k = fitted[0].n_classes
    links = [_catboost_link(c, k) for c in classes]
    each = [_catboost_native(f.estimator, c, k, a) for f, c, a in zip(fitted, classes, adapters,
                                                                        strict=True)]

    def predict(*X: Any) -> np.ndarray:
        if trees is None or len(X[0]) > OBLIVIOUS_ROWS:
            return sum(native(x) for native, x in zip(each, X, strict=True))
        raw = trees(*X)
        return sum(link(raw[:, i, :n]) for i, (link, n) in enumerate(zip(links, trees.n_targets,
                                                                          strict=True)))

    return predict


def _oblivious_trees(models: list[tuple[Any, Any]]) -> Any:
    """``ObliviousTrees`` of CatBoost models (estimator, adapter), or None when one does not
    read as trees or ``OBLIVIOUS_ROWS`` is 0 (bench/compiled_trees.py compares both ways)."""
    from mlexpert.compiled._catboost import ObliviousTrees, catboost_oblivious

    if OBLIVIOUS_ROWS <= 0:
        return None
    try:
        read = [catboost_oblivious(est, adapter.categorical, adapter) for est, adapter in models]
        return ObliviousTrees(read)
    except Unsupported:
        return None


def _catboost_link(classes: np.ndarray | None, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """Raw scores (n, targets) to what ``Fitted.predict`` returns, as CatBoost computes it:
    values, a sigmoid of one score (Logloss), a softmax of several (MultiClass)."""
    def link(raw: np.ndarray) -> np.ndarray:
        if classes is None:
            return raw[:, 0]
        if raw.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return _all_classes(np.column_stack([1.0 - p1, p1]), classes, k)
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        return _all_classes(e / e.sum(axis=1, keepdims=True), classes, k)

    return link


def _xgboost(est: Any, task: str, k: int) -> Callable[[Any], np.ndarray]:
    """XGBoost's booster called directly (``inplace_predict``, what its scikit-learn wrapper
    calls after ~150 µs of checks), over the rounds the wrapper would use: up to the best
    iteration when it early-stopped, else all."""
    booster = est.get_booster()
    try:
        rounds = (0, int(est.best_iteration) + 1)
    except AttributeError:  # not early-stopped: every round
        rounds = (0, 0)
    missing = est.missing if est.missing is not None else np.nan

    def value(X: Any) -> np.ndarray:  # float32, as the booster answers
        return booster.inplace_predict(np.asarray(X, dtype=np.float32), missing=missing,
                                       iteration_range=rounds)

    if task == "regression":
        return lambda X: np.asarray(value(X), dtype=float)
    classes = np.asarray(est.classes_).astype(int)

    def proba(X: Any) -> np.ndarray:
        p = value(X)
        if p.ndim == 1:  # 1 - p in float32, as the wrapper computes it
            p = np.column_stack([1 - p, p])
        return _all_classes(np.asarray(p, dtype=float), classes, k)

    return proba


class _Forest:
    """Scikit-learn random forests or extra trees walked for all their trees at once: one numpy
    step per level of depth for the paths still going, instead of scikit-learn's call per tree
    (~100 µs each, ~30 ms a row for 300 trees). Compares float32 features as scikit-learn does;
    missing values go where each split learned to send them. Output: the mean over trees of the
    leaves' class fractions (or values), as ``predict_proba`` / ``predict``; given several
    forests (a fold bag), the sum of their outputs, each reading its own input, in one walk."""

    def __init__(self, ests: list[Any], task: str, k: int):
        trees = [e.tree_ for est in ests for e in est.estimators_]
        sizes = np.array([t.node_count for t in trees])
        self._roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        total = int(sizes.sum())
        self._left, self._right = np.empty(total, np.intp), np.empty(total, np.intp)
        self._feature = np.empty(total, np.intp)
        self._threshold = np.empty(total, np.float64)
        self._nan_left, self._leaf = np.empty(total, bool), np.empty(total, bool)
        widths = np.cumsum([0, *(int(est.n_features_in_) for est in ests)])
        shifts = np.repeat(widths[:-1], [len(est.estimators_) for est in ests])
        for t, start, shift in zip(trees, self._roots.tolist(), shifts.tolist(), strict=True):
            end = start + t.node_count  # filled tree by tree: no temporaries the size of all
            leaf = t.children_left == -1
            own = np.arange(start, end, dtype=np.intp)
            self._left[start:end] = np.where(leaf, own, t.children_left + start)  # a leaf
            self._right[start:end] = np.where(leaf, own, t.children_right + start)  # leads to
            self._feature[start:end] = np.where(leaf, 0, t.feature + shift)  # itself
            self._threshold[start:end] = t.threshold
            self._nan_left[start:end] = t.missing_go_to_left
            self._leaf[start:end] = leaf
        values = []
        for est in ests:  # each forest's nodes: its class fractions in all k columns / its trees
            value = np.concatenate([e.tree_.value[:, 0, :] for e in est.estimators_]).astype(float)
            if task != "regression":
                value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
                value = _all_classes(value, np.asarray(est.classes_).astype(int), k)
            values.append(value / len(est.estimators_))
        self._value = np.concatenate(values)
        self._regression = task == "regression"

    def __call__(self, *X: Any) -> np.ndarray:
        parts = [np.asarray(x, dtype=np.float32) for x in X]
        x = (parts[0] if len(parts) == 1 else np.hstack(parts)).astype(np.float64)
        n, n_trees = len(x), len(self._roots)
        final = np.empty(n * n_trees, dtype=np.intp)  # each (row, tree)'s leaf
        rows, node = np.repeat(np.arange(n), n_trees), np.tile(self._roots, n)
        at = np.arange(n * n_trees)
        while len(node):  # one step down for the paths not yet at a leaf (most end well above
            v = x[rows, self._feature[node]]  # the deepest one: fewer lookups)
            go_left = (v <= self._threshold[node]) | (np.isnan(v) & self._nan_left[node])
            node = np.where(go_left, self._left[node], self._right[node])
            done = self._leaf[node]
            if done.any():
                final[at[done]] = node[done]
                going = ~done
                rows, node, at = rows[going], node[going], at[going]
        out = self._value[final.reshape(n, n_trees)].sum(axis=1)  # (rows, outputs)
        return out[:, 0] if self._regression else out


_FORESTS = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
            "ExtraTreesRegressor")


def compile_bag(fitted: list[Any]) -> Callable[..., np.ndarray] | None:
    """The SUM of several fitted models' predictions in one call, each model reading its own
    input (``bag(X_1, ..., X_n)``), where walking their trees together beats one call per model:
    scikit-learn forests, and CatBoost for one or two rows (numpy's cost per call, ~1-2 µs an
    operation at each tree level, is paid once, not per model); None for other families."""
    if len(fitted) < 2:
        return None
    names = {type(f.estimator).__name__ for f in fitted}
    first = fitted[0]
    if (len(names) == 1 and names <= set(_FORESTS)
            and all(f.extra.get("adapter") is None for f in fitted)):
        return _Forest([f.estimator for f in fitted], first.task, first.n_classes)
    if (len(names) == 1 and names <= {"CatBoostClassifier", "CatBoostRegressor"}
            and all(hasattr(f.extra.get("adapter"), "categorical") for f in fitted)):
        return _catboost(fitted)
    return None


def compile_estimator(fitted: Any) -> Callable[[Any], np.ndarray]:
    """LightGBM and XGBoost through their boosters (LightGBM on one thread), CatBoost's and
    forests' trees walked in numpy, linear models as products; any other family through
    ``Fitted.predict``."""
    est = fitted.estimator
    name = type(est).__name__
    adapter = fitted.extra.get("adapter")
    k = fitted.n_classes
    if adapter is None and name in ("LGBMClassifier", "LGBMRegressor"):
        booster = est.booster_
        if fitted.task == "regression":
            return lambda X: np.asarray(booster.predict(X, num_threads=1), dtype=float)
        classes = np.asarray(est.classes_).astype(int)

        def proba(X: Any) -> np.ndarray:
            p = np.asarray(booster.predict(X, num_threads=1), dtype=float)
            if p.ndim == 1:
                p = np.column_stack([1.0 - p, p])
            return _all_classes(p, classes, k)

        return proba
    if name in ("CatBoostClassifier", "CatBoostRegressor") and hasattr(adapter, "categorical"):
        return _catboost([fitted])
    if adapter is None and name in ("XGBClassifier", "XGBRegressor"):
        return _xgboost(est, fitted.task, k)
    if adapter is None and name in _FORESTS:
        return _Forest([est], fitted.task, k)
    if adapter is None and name == "Ridge" and np.ndim(est.coef_) == 1:
        coef, intercept = np.asarray(est.coef_, dtype=float), float(est.intercept_)
        return lambda X: np.asarray(X @ coef, dtype=float).ravel() + intercept
    if adapter is None and name == "LogisticRegression":
        coef, intercept = np.asarray(est.coef_, dtype=float), np.asarray(est.intercept_, dtype=float)
        classes = np.asarray(est.classes_).astype(int)

        def logistic(X: Any) -> np.ndarray:
            z = np.asarray(X @ coef.T, dtype=float) + intercept
            if z.shape[1] == 1:
                p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
                p = np.column_stack([1.0 - p1, p1])
            else:
                z = z - z.max(axis=1, keepdims=True)
                e = np.exp(z)
                p = e / e.sum(axis=1, keepdims=True)
            return _all_classes(p, classes, k)

        return logistic
    return fitted.predict
