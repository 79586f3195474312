"""The compiled path's TF-IDF for trees: the vectorizer's own counts and weights, without its
input checks, to the bit (trees split on their float32 projections)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from mlexpert.compiled._numpy import _vectorized

WORDS = ["good", "bad", "fine", "great", "poor", "okay", "nice", "awful", "[no", "title]", "#maga",
         "https://t.co/x", "Été", "ÉTÉ", "x"]
CORPUS = [" ".join(np.random.default_rng(i).choice(WORDS, size=1 + i % 9)) for i in range(200)]


@pytest.fixture(scope="module", params=[
    dict(sublinear_tf=True, dtype=np.float32, ngram_range=(1, 2), min_df=2),
    dict(sublinear_tf=False, dtype=np.float64),
    dict(use_idf=False, dtype=np.float32),
    dict(norm=None, smooth_idf=False, dtype=np.float32, max_features=8),
])
def vectorizer(request):
    return TfidfVectorizer(**request.param).fit(CORPUS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CORPUS), st.text(max_size=30),
                          st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)),
                min_size=1, max_size=4))
def test_the_counts_are_the_vectorizers_to_the_bit(vectorizer, texts):
    want, got = vectorizer.transform(texts), _vectorized(vectorizer, texts)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.toarray(), want.toarray())


def test_a_vectorizer_without_those_private_parts_answers_itself():
    class Own:
        def transform(self, texts):
            return np.array([[len(texts)]])

    assert _vectorized(Own(), ["a", "b"]).tolist() == [[2]]
