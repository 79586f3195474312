"""The compiled one-hot step: the encoder's own answers for every level, unseen and missing
value, read with one probe transform for all columns (one per column cost minutes on 948)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder

from mlexpert.compiled._numpy import _compile_onehot


def test_every_column_is_probed_in_one_transform_and_matches_the_encoder(monkeypatch):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{j}": rng.choice([f"v{k}" for k in range(2 + j % 7)], size=300)
                          .astype(object) for j in range(40)})
    frame.iloc[::17, 3] = np.nan
    enc = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                        max_categories=4).fit(frame)
    calls = []
    original = OneHotEncoder.transform
    monkeypatch.setattr(OneHotEncoder, "transform",
                        lambda self, X: calls.append(len(X)) or original(self, X))
    run = _compile_onehot(enc, list(range(frame.shape[1])))
    assert len(calls) == 1
    monkeypatch.setattr(OneHotEncoder, "transform", original)
    rows = frame.sample(50, random_state=1).to_numpy(dtype=object).tolist()
    rows[0][5] = "never seen"
    rows[1][3] = np.nan
    want = enc.transform(pd.DataFrame(rows, columns=frame.columns)).toarray()
    np.testing.assert_array_equal(run(rows), want)
