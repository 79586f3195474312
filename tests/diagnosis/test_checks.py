"""Each broken training run is diagnosed for what broke it, with the epochs and numbers a reader
can check against the history itself; the healthy run only as converged."""
import math

import numpy as np
import pandas as pd
import pytest

from mlexpert.diagnosis import diagnose

EXPECTED = {  # scenario -> the checks its diagnosis must hold (and nothing of severity >= warning else)
    "healthy": {"converged"},
    "blow_up": {"diverging"},
    "huge_rate": {"diverging", "oscillating"},
    "shuffled": {"stuck_at_chance"},
    "tiny_rate": {"slow_convergence"},
    "too_small": {"underfitting"},
    "memorise": {"overfitting"},
    "val_unscaled": {"gap_from_start"},
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_run_is_diagnosed_for_what_broke_it(histories, priors, scenario):
    report = diagnose(histories[scenario], priors=priors[scenario])
    assert set(report.checks) == EXPECTED[scenario], [f.message for f in report.findings]
    for f in report.findings:
        assert f.message and f.suggestion and f.evidence and f.columns


def test_unscaled_inputs_show_as_slow_or_underfit_never_healthy(histories, priors):
    checks = diagnose(histories["unscaled"], priors=priors["unscaled"]).checks
    assert checks and set(checks) <= {"slow_convergence", "underfitting"}, checks


def test_blow_up_names_the_first_non_finite_epoch_and_the_gradient(histories, priors):
    h = histories["blow_up"]
    first = int(h.loc[~np.isfinite(h["loss"]), "epoch"].iloc[0])
    f = diagnose(h, priors=priors["blow_up"]).findings[0]
    assert f.severity == "error" and f.evidence["first_non_finite"] == first
    assert f"epoch {first}" in f.message and "gradient norm" in f.message.lower()
    assert f.evidence["gradients_exploded"] is True
    assert "learning rate" in f.suggestion


def test_oscillation_epochs_are_real_rises(histories, priors):
    h = histories["huge_rate"]
    f = next(f for f in diagnose(h, priors=priors["huge_rate"]).findings
             if f.check == "oscillating")
    loss = h.set_index("epoch")["loss"]
    for e in f.evidence["rise_epochs"]:
        assert loss[e] > loss[e - 1], e  # each named epoch rose from the one before
    assert f.evidence["share"] >= 0.2 and "batch" in f.suggestion


def test_overfitting_names_the_epoch_validation_loss_was_best(histories, priors):
    h = histories["memorise"]
    f = diagnose(h, priors=priors["memorise"]).findings[0]
    best = int(h["val_loss"].rolling(5, center=True, min_periods=1).mean().idxmin())
    assert abs(f.evidence["best_epoch"] - best) <= 3, (f.evidence, best)
    assert h["val_loss"][f.evidence["best_epoch"]] <= 1.03 * h["val_loss"].min()
    assert f"epoch {f.evidence['best_epoch']}" in f.message and "early stopping" in f.suggestion
    assert f.evidence["train_end"] < f.evidence["train_at_best"]


def test_stuck_run_reports_the_prior_log_loss(histories, priors):
    p = np.array(priors["shuffled"])
    f = diagnose(histories["shuffled"], priors=priors["shuffled"]).findings[0]
    assert math.isclose(f.evidence["chance"], float(-(p * np.log(p)).sum()), rel_tol=1e-9)
    assert "labels" in f.suggestion


def test_chance_from_labelled_data_matches_given_priors(histories, priors, datasets, tmp_path):
    X, y = datasets["cancer"]
    table = tmp_path / "labelled.csv"
    table.write_text("y\n" + "\n".join(map(str, y)) + "\n")
    report = diagnose(histories["shuffled"], data=str(table), target="y")
    assert report.checks == ["stuck_at_chance"]
    assert any("cross-check: no feature columns" in s for s in report.sections[0].skipped)
    assert math.isclose(report.findings[0].evidence["chance"],
                        diagnose(histories["shuffled"], priors=priors["shuffled"])
                        .findings[0].evidence["chance"])


def test_without_a_chance_level_stuck_is_listed_as_not_checked(histories):
    report = diagnose(histories["shuffled"].drop(columns=["accuracy", "val_accuracy"]))
    assert "stuck_at_chance" not in report.checks
    assert any(s.startswith("stuck_at_chance") for s in report.sections[0].skipped)


def test_regression_run_overfits_from_a_named_epoch(histories):
    h = histories["regression"]
    report = diagnose(h, task="regression")
    assert report.checks == ["overfitting"]
    assert report.sections[0].summary["series"]["val_metric"] == "val_r2"
    best = int(h["val_loss"].rolling(5, center=True, min_periods=1).mean().idxmin())
    assert abs(report.findings[0].evidence["best_epoch"] - best) <= 3


def test_a_diagnosis_of_the_first_epochs_only_skips_the_trends(histories, priors):
    report = diagnose(histories["healthy"].head(3), priors=priors["healthy"])
    assert any("trends" in s for s in report.sections[0].skipped)


def test_a_stuck_run_is_cross_checked_against_a_quick_model_on_the_labelled_rows(
        histories, datasets, tmp_path):
    """The run learnt from shuffled labels: on the real labels a quick model scores far above a
    dummy, so the training setup is at fault; on the shuffled ones it does not, so the data."""
    X, y = datasets["cancer"]
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    for labels, check, words in [(y, "learnable", "the fault is in the training setup"),
                                 (np.random.default_rng(0).permutation(y), "not_learnable",
                                  "may carry no signal")]:
        table = tmp_path / f"{check}.csv"
        frame.assign(y=labels).to_csv(table, index=False)
        [f] = diagnose(histories["shuffled"], data=str(table), target="y", time_limit=10).findings
        assert f.check == "stuck_at_chance" and words in f.message
        assert f.evidence["audit"]["check"] == check
        assert (f.evidence["audit"]["low"] > 0.9) == (check == "learnable")
