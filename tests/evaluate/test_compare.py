"""The corrected paired t-test: calibrated on equal models, decisive on a real difference."""
import numpy as np
import pytest

from mlexpert.evaluate import corrected_t_test


def test_a_consistent_gain_is_significant_and_its_reverse_is_not():
    better = [0.80, 0.82, 0.81, 0.83, 0.80]
    worse = [s - 0.02 + d for s, d in zip(better, [0.001, -0.002, 0.0, 0.002, -0.001], strict=True)]
    assert corrected_t_test(better, worse, 0.2) < 0.01
    assert corrected_t_test(worse, better, 0.2) > 0.99


def test_the_correction_makes_it_more_cautious_than_the_plain_test():
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.normal(0.8, 0.01, 10)
    b = a - 0.004 + rng.normal(0, 0.006, 10)
    plain = stats.ttest_rel(a, b, alternative="greater").pvalue
    assert corrected_t_test(a, b, 0.1) > plain


def test_equal_models_are_rarely_called_different():
    rng = np.random.default_rng(1)
    ps = [corrected_t_test(rng.normal(0, 1, 5), rng.normal(0, 1, 5), 0.2) for _ in range(400)]
    assert np.mean(np.array(ps) < 0.05) < 0.06


@pytest.mark.parametrize("a, b, expected", [
    ([0.5, 0.5], [0.5, 0.5], 1.0),  # identical: no evidence at all
    ([0.6, 0.6], [0.5, 0.5], 0.0),  # a constant gain
])
def test_degenerate_differences(a, b, expected):
    assert corrected_t_test(a, b, 0.5) == expected


def test_undefined_with_one_fold_or_nan():
    assert np.isnan(corrected_t_test([0.5], [0.4], 0.2))
    assert np.isnan(corrected_t_test([0.5, np.nan], [0.4, 0.4], 0.2))
