"""Findings agree with what the audit does: once a leaking column is left out, the "learnable"
baseline is the one without it, and the score with it is only quoted, labelled (issue #23)."""
import numpy as np

import mlexpert
from mlexpert._clock import Deadline
from mlexpert.audits import audit_for_fit
from mlexpert.data import infer_schema
from tests.audits.conftest import of


def _leaky(diabetes):
    rng = np.random.default_rng(0)
    y = diabetes["target"]
    return diabetes.assign(lab=y + rng.normal(0, 0.02 * y.std(), len(y)))


def test_fit_audit_baseline_is_without_the_excluded_leak(diabetes):
    frame = _leaky(diabetes)
    features = frame.drop(columns="target")
    out = audit_for_fit(features, infer_schema(features), frame["target"], task=None,
                        deadline=Deadline.after(60.0))
    assert out.excluded == ["lab"]
    [f] = [f for f in out.findings if f.check == "learnable"]
    assert f.evidence["quick_model"] < 0.7  # diabetes without the leak: R^2 about 0.4
    assert f.evidence["quick_model_with_leaks"] > 0.95
    assert f.evidence["leaking_columns"] == ["lab"] and not f.evidence["leaks_included"]
    assert "without the leaking column(s) 'lab'" in f.message


def test_audit_baseline_matches_a_table_without_the_leak(diabetes):
    leaky = mlexpert.audit(_leaky(diabetes), target="target")
    clean = mlexpert.audit(diabetes, target="target")
    [with_leak] = of(leaky, "learnable")
    [without] = of(clean, "learnable")
    assert abs(with_leak.evidence["quick_model"] - without.evidence["quick_model"]) < 0.05


def test_no_leak_no_label(cancer):
    [f] = of(mlexpert.audit(cancer, target="target"), "learnable")
    assert "leaking" not in f.message and "leaking_columns" not in f.evidence
