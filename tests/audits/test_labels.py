"""Label issues planted as 5% flipped labels: found with useful precision and recall."""
import mlexpert
from tests.audits.conftest import flip_labels, of


def _precision_recall(report, flipped):
    [f] = of(report, "label_issues")
    found = set(f.rows)
    hits = len(found & set(flipped.tolist()))
    return f, hits / max(len(found), 1), hits / len(flipped)


def test_five_percent_flips_binary(cancer):
    frame, flipped = flip_labels(cancer, "target", 0.05)
    f, precision, recall = _precision_recall(mlexpert.audit(frame, target="target"), flipped)
    print(f"breast cancer: precision {precision:.2f} recall {recall:.2f}")
    assert f.severity == "warning"
    assert precision >= 0.85 and recall >= 0.7  # as many rows as the confident joint counts
    assert 0.02 <= f.evidence["noise_rate"] <= 0.10


def test_five_percent_flips_multiclass(digits):
    frame, flipped = flip_labels(digits, "target", 0.05)
    f, precision, recall = _precision_recall(mlexpert.audit(frame, target="target"), flipped)
    print(f"digits: precision {precision:.2f} recall {recall:.2f}")
    assert f.severity == "warning"
    assert precision >= 0.9 and recall >= 0.7


def test_clean_labels_give_no_warning(cancer):
    report = mlexpert.audit(cancer, target="target")
    assert not [f for f in of(report, "label_issues") if f.severity != "info"]


def test_fit_judges_labels_again_on_its_own_ensemble(cancer):
    """Inside fit the audit runs before the search; the label finding is then recomputed from
    the fitted ensemble's calibrated out-of-fold probabilities, which replace the audit's."""
    frame, flipped = flip_labels(cancer, "target", 0.05)
    model = mlexpert.fit(frame, "target", time_limit=20, seed=0, presets="fast", budget=2,
                         track=False)
    [f] = [f for f in model.manifest.findings if f["check"] == "label_issues"]
    assert "fitted ensemble" in f["evidence"]["probabilities"]
    found = set(f["rows"])
    hits = len(found & set(flipped.tolist()))
    print(f"breast cancer, fit: precision {hits / len(found):.2f} "
          f"recall {hits / len(flipped):.2f}")
    assert f["severity"] == "warning"
    assert hits / len(found) >= 0.8 and hits / len(flipped) >= 0.7
    assert 0.03 <= f["evidence"]["noise_rate"] <= 0.08
