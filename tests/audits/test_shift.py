"""Shift: a test set selected by a feature is told apart from training; a random one is not."""
import numpy as np

import mlexpert
from tests.audits.conftest import of


def test_shifted_test_set_is_an_error_naming_the_column(churn):
    cut = churn["tenure"].quantile(0.6)
    report = mlexpert.audit(churn[churn["tenure"] <= cut], target="churn",
                            test=churn[churn["tenure"] > cut])
    [f] = of(report, "shift")
    assert f.severity == "error" and f.columns[0] == "tenure"
    assert f.evidence["adversarial_auc"] > 0.9


def test_random_split_has_no_shift(churn):
    order = np.random.default_rng(0).permutation(len(churn))
    report = mlexpert.audit(churn.iloc[order[:5000]], target="churn", test=churn.iloc[order[5000:]])
    [f] = of(report, "shift")
    assert f.severity == "info" and f.evidence["adversarial_auc"] < 0.6
