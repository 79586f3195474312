"""Preprocessing for trees and linear models: shapes, categoricals, unseen values, text, dates."""
import numpy as np
import pytest
import scipy.sparse as sp

from mlexpert.data import infer_schema
from mlexpert.features import build_preprocessor
from tests.conftest import make_table


@pytest.mark.parametrize("kind", ["tree", "linear"])
def test_fit_on_train_transform_unseen(kind):
    train = make_table("binary", n=200).drop(columns="y")
    schema = infer_schema(train)
    pre = build_preprocessor(schema, kind)
    X = schema.prepare(train)
    Xt = pre.transformer.fit_transform(X)
    new = X.head(5).copy()
    new["color"] = ["purple", None, "red", "red", "zzz"]
    new.loc[new.index[0], "review"] = ""
    out = pre.transformer.transform(new)
    assert out.shape == (5, Xt.shape[1])
    dense = out.toarray() if sp.issparse(out) else out
    if kind == "linear":
        assert np.isfinite(dense).all()
    else:  # unseen categories become missing, not a crash; categorical indices point at codes
        assert pre.categorical and np.isnan(dense[0, pre.categorical[0]])


def test_tiny_text_falls_back_to_length_features():
    from mlexpert.features._transformers import TextFeatures

    out = TextFeatures().fit_transform(np.array([["a"], ["b"]], dtype=object))
    assert out.shape == (2, 2)
