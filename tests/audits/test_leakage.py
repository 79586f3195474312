"""Leaks planted into real tables are found, at the right severity, naming the right column."""
import numpy as np
import pandas as pd
import pytest

import mlexpert
from tests.audits.conftest import of


def test_exact_copy_of_the_target_is_an_error(churn):
    frame = churn.assign(status_code=np.where(churn["churn"] == "Yes", "S1", "S0"))
    report = mlexpert.audit(frame, target="churn")
    [leak] = [f for f in report.of("error") if "status_code" in f.columns]
    assert leak.check in ("target_leak", "target_function")
    assert not [f for f in report.of("error") if "status_code" not in f.columns]


def test_noisy_copy_of_the_target_is_a_warning(churn):
    rng = np.random.default_rng(1)
    frame = churn.assign(score=(churn["churn"] == "Yes") + rng.normal(0, 0.5, len(churn)))
    report = mlexpert.audit(frame, target="churn")
    [f] = of(report, "suspected_leak", "score")
    assert f.severity == "warning" and f.evidence["skill"] > f.evidence["next_best_skill"] + 0.3
    assert not report.of("error")


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_regression_copies(diabetes, noise):
    rng = np.random.default_rng(2)
    y = diabetes["target"]
    frame = diabetes.assign(lab=np.log(y) + rng.normal(0, noise * np.log(y).std(), len(y)))
    report = mlexpert.audit(frame, target="target")
    found = [f for f in report.findings if "lab" in f.columns and f.severity != "info"]
    assert len(found) == 1
    assert found[0].severity == ("error" if noise == 0 else "warning")


def test_coarsened_target_is_a_deterministic_function(digits):
    frame = digits.assign(parity=np.where(digits["target"] % 2 == 0, "even", "odd"))
    report = mlexpert.audit(frame, target="target")
    [f] = of(report, "target_function", "parity")
    assert f.severity == "error" and f.evidence["target_values"] == 10


def test_post_event_date_with_a_time_column(churn):
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, len(churn)), unit="D")
    closed = start + pd.to_timedelta(rng.integers(1, 60, len(churn)), unit="D")
    frame = churn.assign(signed=start.strftime("%Y-%m-%d"), closed=closed.strftime("%Y-%m-%d"))
    report = mlexpert.audit(frame, target="churn", time_column="signed")
    [f] = of(report, "post_event_date")
    assert f.columns == ("closed",) and f.severity == "warning"
    assert f.evidence["share_later"] == 1.0


def test_duplicated_rows_across_train_and_test(churn):
    rng = np.random.default_rng(4)
    order = rng.permutation(len(churn))
    train, test = churn.iloc[order[:5600]], churn.iloc[order[5600:]]
    copied = train.sample(150, random_state=0)
    report = mlexpert.audit(train, target="churn", test=pd.concat([test, copied]))
    [f] = of(report, "train_test_duplicates")
    assert f.severity == "error"
    assert f.evidence["test_rows_in_train"] >= 150
    assert set(range(len(test), len(test) + 150)) <= set(f.rows)
    clean = mlexpert.audit(train, target="churn", test=test)
    assert not of(clean, "train_test_duplicates")


def test_groups_shared_between_train_and_test(churn):
    frame = churn.assign(household=np.arange(len(churn)) // 3)
    report = mlexpert.audit(frame.iloc[:5000], target="churn", test=frame.iloc[4000:],
                            groups="household")
    [f] = of(report, "train_test_entities", "household")
    assert f.severity == "error"


def test_row_order_identifier_is_flagged(churn):
    frame = churn.sort_values("churn").reset_index(drop=True)
    frame.insert(0, "record_id", np.arange(len(frame)))
    report = mlexpert.audit(frame, target="churn")
    assert of(report, "id_column", "record_id")
    [f] = of(report, "id_signal", "record_id")
    assert f.severity == "warning"
