"""Vectorized bootstrap: each batch metric equals its loop twin on the same resamples, weighted
metrics agree with scikit-learn, and the intervals cover the truth at about the stated rate."""
import numpy as np
import pytest

from mlexpert.evaluate import METRICS, bootstrap_intervals, metrics_for, resample_counts

RNG = np.random.default_rng(1)
N = 160
Y2 = RNG.integers(0, 2, N)
P2 = np.clip(0.35 * Y2 + RNG.uniform(0, 0.65, N), 0, 1).round(2)  # rounded: ties
Y3 = RNG.integers(0, 3, N)
PROBA3 = RNG.dirichlet([1, 1, 1], N)
YR = RNG.normal(loc=5, size=N)
PR = YR + RNG.normal(scale=0.5, size=N)
DATA = {"binary": (Y2, np.column_stack([1 - P2, P2])), "multiclass": (Y3, PROBA3),
        "regression": (YR, PR)}
CASES = [(task, m.name) for task in DATA for m in metrics_for(task, DATA[task][0])]


@pytest.mark.parametrize("task, name", CASES, ids=[f"{t}-{n}" for t, n in CASES])
@pytest.mark.parametrize("weighted", [False, True], ids=["counts", "weights"])
def test_batch_equals_loop_on_the_same_resamples(task, name, weighted):
    y, p = DATA[task]
    metric = METRICS[name]
    counts = next(resample_counts(N, 20, seed=3, dtype=np.float64))
    W = counts * (RNG.uniform(0.5, 2.0, N) if weighted else 1.0)
    batch = metric.batch(W, y, p)
    for i in range(len(W)):
        keep = W[i] > 0
        if name == "median_ae" and not weighted:  # plain resample: the median of the rows drawn
            idx = np.repeat(np.arange(N), counts[i].astype(int))
            expected = float(np.median(np.abs(y[idx] - p[idx])))
        else:
            expected = metric.score(y[keep], p[keep], W[i][keep])
        assert batch[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (i, name)


def test_mape_only_when_the_target_never_crosses_zero():
    names = [m.name for m in metrics_for("regression", YR)]
    assert "mape" in names and "median_ae" in names
    assert "mape" not in [m.name for m in metrics_for("regression", YR - 5)]
    assert "mape" not in [m.name for m in metrics_for("regression", np.r_[0.0, YR])]


def test_interval_coverage_on_simulated_data():
    """Accuracy of a classifier that is right with probability 0.8: the 95 % interval holds the
    true 0.8 in 90-99 % of 300 simulated holdout sets."""
    rng = np.random.default_rng(0)
    hits = 0
    metric = METRICS["accuracy"]
    for s in range(300):
        y = rng.integers(0, 2, 200)
        right = rng.random(200) < 0.8
        pred = np.where(right, y, 1 - y)
        proba = np.column_stack([1 - pred, pred]).astype(float)
        lo, hi = bootstrap_intervals([metric], y, proba, n_resamples=400, seed=s)["accuracy"]
        hits += lo <= 0.8 <= hi
    assert 0.90 <= hits / 300 <= 0.99


def test_undefined_metric_gives_nan_interval():
    y = np.zeros(50, dtype=int)
    p = np.column_stack([np.full(50, 0.7), np.full(50, 0.3)])
    lo, hi = bootstrap_intervals([METRICS["roc_auc"]], y, p, n_resamples=100)["roc_auc"]
    assert np.isnan(lo) and np.isnan(hi)


def test_empty_input_gives_nan():
    out = bootstrap_intervals([METRICS["rmse"]], np.empty(0), np.empty(0), n_resamples=10)
    assert all(np.isnan(v) for v in out["rmse"])


@pytest.mark.parametrize("task", list(DATA))
def test_no_interval_is_computed_after_the_deadline(task):
    """Late is worse than missing: an expired deadline gives NaN bounds, not one more chunk;
    a generous one gives finite bounds."""
    from mlexpert._clock import Deadline

    y, p = DATA[task]
    metrics = metrics_for(task, y)
    late = bootstrap_intervals(metrics, y, p, deadline=Deadline(0.0))
    assert all(np.isnan(lo) and np.isnan(hi) for lo, hi in late.values())
    ample = bootstrap_intervals(metrics[:1], y, p, deadline=Deadline.after(600))
    assert all(np.isfinite(b) for b in ample[metrics[0].name])


class _OneChunk:
    """A deadline that lets one chunk of resamples run, then has passed."""

    def __init__(self):
        self.checks = 0

    def expired(self):
        self.checks += 1
        return self.checks > 1


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_deadline_leaves_label_metrics_their_interval_too(task):
    """Label metrics (accuracy, F1, MCC at the decision threshold) are resampled with the
    probability metrics, chunk by chunk: a deadline that cuts the bootstrap short leaves both
    with an interval (it used to leave the label metrics, bootstrapped second, with NaN)."""
    from mlexpert.evaluate import score_all

    y, p = DATA[task]
    out = score_all(task, y, p, threshold=0.4 if task == "binary" else None,
                    n_resamples=200, deadline=_OneChunk())
    labels = [m.name for m in metrics_for(task, y) if m.uses_labels]
    assert labels and all(np.isfinite([out[n]["low"], out[n]["high"]]).all() for n in out), out
    assert out["accuracy"]["low"] <= out["accuracy"]["value"] <= out["accuracy"]["high"]
