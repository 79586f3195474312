"""Quality and target checks on real tables with planted problems; no false alarms on clean ones."""
import numpy as np
import pytest

import mlexpert
from tests.audits.conftest import of


def test_planted_quality_problems(churn):
    frame = churn.copy()
    rng = np.random.default_rng(5)
    frame["customer_key"] = [f"C{i:05d}" for i in range(len(frame))]
    frame["region"] = "EU"
    rows = rng.choice(len(frame), 40, replace=False)
    frame.loc[rows, "monthly_charges"] = -999
    frame["income"] = rng.normal(50, 10, len(frame)).round(1).astype(str)
    frame.loc[rows[:5], "income"] = "unknown?"
    frame = frame.astype({"income": object})
    report = mlexpert.audit(frame, target="churn")
    assert of(report, "id_column", "customer_key")
    assert of(report, "constant_column", "region")
    [p] = of(report, "placeholder_values", "monthly_charges")
    assert p.severity == "warning" and set(p.rows) == set(rows.tolist())
    [t] = of(report, "numbers_as_text", "income")
    assert t.severity == "warning" and set(t.rows) == set(rows[:5].tolist())
    assert not report.of("error")


def test_imbalance_and_rare_classes(digits):
    keep = (digits["target"] != 3) | (np.arange(len(digits)) % 60 == 0)
    report = mlexpert.audit(digits[keep], target="target")
    [rare] = of(report, "rare_class")
    assert rare.evidence["classes"] == {"3": int((digits[keep]["target"] == 3).sum())}
    assert of(report, "class_imbalance")


def test_skewed_regression_target(diabetes):
    report = mlexpert.audit(diabetes.assign(target=np.exp(diabetes["target"] / 40)), target="target")
    [f] = of(report, "target_skew")
    assert "log" in f.suggestion


def test_unlearnable_target_is_said(cancer):
    noise = np.random.default_rng(6).permutation(cancer["target"].to_numpy())
    report = mlexpert.audit(cancer.assign(target=noise), target="target")
    assert of(report, "not_learnable") and not of(report, "learnable")
    assert mlexpert.audit(cancer, target="target").counts["error"] == 0


@pytest.mark.parametrize("name", ["cancer", "diabetes", "churn"])
def test_clean_real_tables_raise_no_error(name, request):
    frame = request.getfixturevalue(name)
    target = "churn" if name == "churn" else "target"
    report = mlexpert.audit(frame, target=target)
    assert not report.of("error"), [f.message for f in report.of("error")]
    assert len(report.of("warning")) <= 1
    assert report.skipped == []
