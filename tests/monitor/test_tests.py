"""The drift tests: one conformance battery every DriftTest passes, Benjamini-Hochberg, few
false alarms on unchanged data at large n, and planted shifts found and named."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.data import Role, infer_schema
from mlexpert.errors import ConfigError
from mlexpert.monitor import TESTS, Thresholds, build_reference, compare
from mlexpert.monitor._tests import as_current, benjamini_hochberg

WORDS = np.array(["good", "bad", "fine", "great", "poor", "okay", "nice", "awful", "late", "fast"])


def table(n: int, seed: int, *, shift: float = 0.0, new_category: float = 0.0,
          missing: float = 0.1, words: np.ndarray = WORDS) -> pd.DataFrame:
    """Numeric (normal, skewed, integer), categorical and text columns; planted changes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) + shift
    skew = rng.lognormal(size=n)
    count = rng.poisson(3, size=n).astype(float)
    count[rng.random(n) < missing] = np.nan
    colour = rng.choice(["red", "green", "blue", "yellow"], p=[0.4, 0.3, 0.2, 0.1], size=n)
    colour = colour.astype(object)
    colour[rng.random(n) < new_category] = "purple"
    tokens = words[rng.integers(0, len(words), size=(n, 8))].tolist()
    text = [" ".join(t[:k]) for t, k in zip(tokens, rng.integers(3, 9, size=n), strict=True)]
    return pd.DataFrame({"x": x, "skew": skew, "count": count, "colour": colour, "text": text})


def run(ref: pd.DataFrame, cur: pd.DataFrame, **kw):
    schema = infer_schema(ref)
    reference = build_reference(schema, schema.prepare(ref), seed=0)
    return compare(reference, schema.prepare(cur), **kw)


# ---- the conformance battery every test passes ------------------------------------------------
def _column_pair(role: str, changed: bool, n: int = 3000):
    rng = np.random.default_rng(1)
    if role == Role.NUMERIC:
        a, b = rng.normal(size=n), rng.normal(loc=1.0 if changed else 0.0, size=n)
        b[: int(n * (0.4 if changed else 0.1))] = np.nan
        a[: n // 10] = np.nan
    elif role == Role.CATEGORICAL:
        a = rng.choice(list("abcd"), size=n).astype(object)
        b = rng.choice(list("abcz") if changed else list("abcd"), p=[0.1, 0.1, 0.1, 0.7]
                       if changed else None, size=n).astype(object)
        a[: n // 10] = None
        b[: int(n * (0.4 if changed else 0.1))] = None
    elif role == Role.TEXT:
        a = np.array([" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)],
                     dtype=object)
        vocab = np.array(["alpha", "beta", "gamma", "delta"]) if changed else WORDS
        b = np.array([" ".join(rng.choice(vocab, size=rng.integers(3, 20 if changed else 9)))
                      for _ in range(n)], dtype=object)
        a[: n // 10] = None
        b[: int(n * (0.4 if changed else 0.1))] = None
    else:
        a = pd.Series(pd.date_range("2020-01-01", periods=n, freq="h"))
        b = a.copy()
        b[: int(n * (0.4 if changed else 0.0))] = pd.NaT
        return pd.DataFrame({"c": a, "k": np.arange(n) % 7}), pd.DataFrame({"c": b, "k": 0})
    return pd.DataFrame({"c": a}), pd.DataFrame({"c": b})


CASES = [(t, r) for t in TESTS for r in t.roles]


@pytest.mark.parametrize(("test", "role"), CASES, ids=[f"{t.name}-{r}" for t, r in CASES])
def test_every_drift_test_conforms(test, role):
    ref, same = _column_pair(role, changed=False)
    _, moved = _column_pair(role, changed=True)
    schema = infer_schema(ref)
    assert schema.columns[0].role == role
    reference = build_reference(schema, schema.prepare(ref), seed=0).columns["c"]
    threshold = getattr(Thresholds(), test.name)  # every test has a threshold of its name
    quiet = test.run(reference, as_current(schema.prepare(same)["c"], role))
    loud = test.run(reference, as_current(schema.prepare(moved)["c"], role))
    for out in (quiet, loud):
        assert out is not None
        assert math.isfinite(out.statistic) and math.isfinite(out.effect_size)
        assert out.effect_size >= 0
        assert out.p_value is None or 0 <= out.p_value <= 1
        assert (out.p_value is None) == (test.gate is not None)
    assert quiet.effect_size < threshold  # unchanged data stays below the threshold
    assert loud.effect_size >= threshold and loud.effect_size > quiet.effect_size
    if loud.p_value is not None:
        assert loud.p_value < 1e-6
    empty = as_current(schema.prepare(same.iloc[:0])["c"], role)
    assert test.run(reference, empty) is None or test.name == "missing_rate"


def test_benjamini_hochberg_matches_the_textbook_example():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    # sorted: .005 .01 .03 .04 .2 -> *5/rank: .025 .025 .05 .05 .2 (monotone from the top)
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])
    assert benjamini_hochberg([]) == []


# ---- false alarms and power -------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_unchanged_data_at_large_n_does_not_alarm(seed):
    ref = table(20_000, seed)
    cur = table(100_000, seed + 1000)
    result = run(ref, cur, seed=seed)
    assert not result.drift_detected, [t.to_dict() for t in result.columns if t.drifted]
    assert result.drift_share == 0.0
    assert result.domain_classifier["low"] < 0.55


def test_false_alarm_rate_over_many_seeds_at_moderate_n():
    alarms = 0
    for seed in range(20):
        result = run(table(1_000, seed), table(1_000, seed + 500), seed=seed,
                     domain_classifier=False)
        alarms += result.drift_detected
    assert alarms <= 1, alarms  # at most 5 %


@pytest.mark.parametrize(("change", "column", "test"), [
    (dict(shift=0.5), "x", "wasserstein"),
    (dict(new_category=0.1), "colour", "new_categories"),
    (dict(missing=0.2), "count", "missing_rate"),
    (dict(words=np.array(["alpha", "beta", "gamma", "delta", "good", "bad"])), "text",
     "vocabulary"),
], ids=["mean-shift-0.5sd", "new-category-10pct", "missing-doubled", "new-vocabulary"])
@pytest.mark.parametrize("n", [1_000, 10_000])
def test_planted_shifts_are_found_and_named(change, column, test, n):
    result = run(table(5_000, 1), table(n, 2, **change), seed=0, domain_classifier=False)
    assert result.drift_detected
    assert result.drifted_columns == [column]
    assert any(t.column == column and t.test == test and t.drifted for t in result.columns)


def test_small_mean_shift_is_found_at_10k_rows():
    result = run(table(5_000, 1), table(10_000, 2, shift=0.2), domain_classifier=False)
    assert result.drifted_columns == ["x"]


# ---- options ----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["alpha", "ks", "psi", "drift_share", "domain_auc"]),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                 st.booleans(), st.none()))
def test_thresholds_reject_nonsense(field, value):
    ok = isinstance(value, float) and math.isfinite(value) and value >= 0 and (
        field != "alpha" or 0 < value < 1)
    if ok:
        assert getattr(Thresholds(**{field: value}), field) == value
    else:
        with pytest.raises(ConfigError, match=field):
            Thresholds(**{field: value})


def test_stricter_thresholds_change_the_verdict():
    ref, cur = table(3_000, 1), table(3_000, 2, shift=0.3)
    assert run(ref, cur, domain_classifier=False).drift_detected
    lenient = Thresholds(ks=0.9, wasserstein=5.0, psi=5.0)
    assert not run(ref, cur, thresholds=lenient, domain_classifier=False).drift_detected


@pytest.mark.parametrize(("n", "m"), [(40, 60), (5_000, 20_000)])
def test_shared_ecdf_pass_matches_scipy(n, m):
    from scipy.stats import ks_2samp, wasserstein_distance

    from mlexpert.monitor._tests import _ecdf_distances

    rng = np.random.default_rng(n)
    a, b = np.round(rng.normal(size=n), 1), np.round(rng.normal(0.2, 1.3, size=m), 1)  # ties
    d, w = _ecdf_distances(a, b)
    assert d == pytest.approx(ks_2samp(a, b).statistic)
    assert w == pytest.approx(wasserstein_distance(a, b))


def test_repeated_rows_do_not_fool_the_domain_classifier():
    """Current rows resampled with repetition (repeated requests) from the same distribution:
    the domain classifier must not learn the repeats."""
    cur = table(3_000, 1)
    repeated = cur.iloc[np.random.default_rng(0).integers(0, 1_500, 5_000)]
    domain = run(table(3_000, 0), repeated).domain_classifier
    assert domain["low"] < 0.55 and not domain["drifted"], domain
