"""The per-column drift tests. Each is a ``DriftTest``: a name, the roles it applies to, and
``run(reference, current) -> Outcome | None`` (None: not applicable, e.g. no values). A test's
verdict threshold is the ``Thresholds`` field of the same name; a test without a p-value names
the test whose p-value gates it. Add a test by appending it to ``TESTS``.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlexpert.data import Role
from mlexpert.monitor._reference import ColumnReference

EPS = 1e-4  # floor of a bin's share in PSI (an empty bin would make it infinite)
MIN_COUNT = 5  # reference categories rarer than this are pooled with new ones
VOCABULARY = 200  # most frequent reference tokens compared; the rest are pooled
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Current:
    """The current side of one column: its non-missing values and its row counts."""

    values: np.ndarray  # floats for numeric, strings otherwise
    rows: int
    missing: int
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Outcome:
    statistic: float
    p_value: float | None
    effect_size: float


@dataclass(frozen=True)
class DriftTest:
    """One statistical test of a column's reference vs current distribution."""

    name: str
    roles: tuple[str, ...]
    run: Callable[[ColumnReference, Current], Outcome | None]
    gate: str | None = None  # for tests without a p-value: the test whose p-value must hold
    description: str = ""


def _chi_square(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> float:
    """p-value of a 2 x k contingency test (columns with no counts dropped); ``scale`` > 1
    divides the statistic (a design effect for clustered counts)."""
    from scipy.stats import chi2

    table = np.vstack([a, b]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum()) / scale
    return float(chi2.sf(stat, table.shape[1] - 1))


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index of shares ``q`` (current) against ``p`` (reference)."""
    p = np.clip(p / p.sum(), EPS, None)
    q = np.clip(q / max(q.sum(), 1), EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


# ---- numeric ----------------------------------------------------------------------------------
EXACT_KS = 1_000  # below this many values on a side, scipy's exact KS p-value


def _ecdf_distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(KS D, Wasserstein-1) of two samples from one merge of their sorted values: both tests
    share it, and it is ~5x faster than scipy's two separate passes on 100k values."""
    a, b = np.sort(a), np.sort(b)
    both = np.sort(np.concatenate([a, b]))
    gap = np.abs(np.searchsorted(a, both, side="right") / len(a)
                 - np.searchsorted(b, both, side="right") / len(b))
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(both)))


def _distances(ref: ColumnReference, cur: Current, key: str = "ecdf") -> tuple[float, float]:
    if key not in cur.cache:
        cur.cache[key] = _ecdf_distances(np.asarray(ref.sample, float), cur.values.astype(float))
    return cur.cache[key]


def _ks_p(d: float, n: int, m: int, a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ks_2samp, kstwobign

    if min(n, m) < EXACT_KS:
        return float(ks_2samp(a, b).pvalue)
    return float(kstwobign.sf(d * np.sqrt(n * m / (n + m))))


def ks(ref: ColumnReference, cur: Current) -> Outcome | None:
    if len(ref.sample) == 0 or len(cur.values) == 0:
        return None
    d, _ = _distances(ref, cur)
    return Outcome(d, _ks_p(d, len(ref.sample), len(cur.values), ref.sample, cur.values), d)


def spread(ref: ColumnReference) -> float:
    """The reference scale effect sizes are measured in: the standard deviation, else the IQR."""
    for s in (ref.std, ref.iqr / 1.349):
        if np.isfinite(s) and s > 0:
            return float(s)
    return 1.0


def wasserstein(ref: ColumnReference, cur: Current) -> Outcome | None:
    if len(ref.sample) == 0 or len(cur.values) == 0:
        return None
    w = _distances(ref, cur)[1] / spread(ref)
    return Outcome(w, None, w)


def psi_numeric(ref: ColumnReference, cur: Current) -> Outcome | None:
    if not ref.proportions or len(cur.values) == 0:
        return None
    cuts = np.asarray(ref.edges, dtype=float)
    q = np.bincount(np.searchsorted(cuts, cur.values, side="right"), minlength=len(cuts) + 1)
    p = np.asarray(ref.proportions)
    value = _psi(p, q.astype(float))
    return Outcome(value, _chi_square(np.round(p * ref.nonmissing), q), value)


# ---- categorical ------------------------------------------------------------------------------
def _category_counts(ref: ColumnReference, cur: Current) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts over the reference's categories seen at least
    ``MIN_COUNT`` times, plus one "rare" bucket: rarer and pooled ("other") categories, and in
    the current data, categories the reference never had. Pooling keeps the chi-square valid
    (no sparse cells) and fair: a random half of a long-tailed column holds many categories
    the other half lacks, and they match the reference's own rare mass (Good-Turing)."""
    common = [c for c, k in ref.counts.items() if k >= MIN_COUNT]
    index = {c: i for i, c in enumerate(common)}
    q = np.zeros(len(common) + 1)
    for cat, k in Counter(cur.values.tolist()).items():
        q[index.get(cat, len(common))] += k
    p = np.array([ref.counts[c] for c in common] + [ref.nonmissing - sum(ref.counts[c] for c in
                                                                          common)], dtype=float)
    return np.clip(p, 0, None), q


def chi_square(ref: ColumnReference, cur: Current) -> Outcome | None:
    if not ref.counts or len(cur.values) == 0:
        return None
    p, q = _category_counts(ref, cur)
    tvd = 0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum())
    return Outcome(tvd, _chi_square(p, q), tvd)


def psi_categorical(ref: ColumnReference, cur: Current) -> Outcome | None:
    if not ref.counts or len(cur.values) == 0:
        return None
    p, q = _category_counts(ref, cur)
    value = _psi(p, q)
    return Outcome(value, _chi_square(p, q), value)


def new_categories(ref: ColumnReference, cur: Current) -> Outcome | None:
    """Share of current values in categories the reference never had; the p-value is against
    the rate of unseen categories expected from the reference itself (Good-Turing)."""
    from scipy.stats import binom

    if not ref.counts or ref.other or len(cur.values) == 0:
        return None  # reference categories truncated: "new" is unknowable
    new = int(sum(1 for v in cur.values.tolist() if v not in ref.counts))
    n = len(cur.values)
    rate = ref.singletons / max(ref.nonmissing, 1)
    p = float(binom.sf(new - 1, n, rate)) if new else 1.0
    share = new / n
    return Outcome(share, p, share)


# ---- every role -------------------------------------------------------------------------------
def missing_rate(ref: ColumnReference, cur: Current) -> Outcome | None:
    """Change of the missing rate: two-proportion z-test, Cohen's h as the effect size."""
    from scipy.stats import norm

    if cur.rows == 0 or ref.rows == 0:
        return None
    r0, r1 = ref.missing_rate, cur.missing / cur.rows
    pooled = (r0 * ref.rows + cur.missing) / (ref.rows + cur.rows)
    if pooled <= 0 or pooled >= 1:
        p = 1.0
    else:
        z = (r1 - r0) / np.sqrt(pooled * (1 - pooled) * (1 / ref.rows + 1 / cur.rows))
        p = float(2 * norm.sf(abs(z)))
    h = abs(2 * np.arcsin(np.sqrt(r1)) - 2 * np.arcsin(np.sqrt(r0)))
    return Outcome(float(r1 - r0), p, float(h))


# ---- text -------------------------------------------------------------------------------------
def _lengths(values: np.ndarray) -> np.ndarray:
    return np.fromiter((len(v) for v in values.tolist()), dtype=float, count=len(values))


def text_length(ref: ColumnReference, cur: Current) -> Outcome | None:
    if len(ref.sample) == 0 or len(cur.values) == 0:
        return None
    a, b = _lengths(ref.sample), _lengths(cur.values)
    d, _ = _ecdf_distances(a, b)
    return Outcome(d, _ks_p(d, len(a), len(b), a, b), d)


def _tokens(values: np.ndarray) -> Counter[str]:
    out: Counter[str] = Counter()
    for v in values.tolist():
        out.update(_TOKEN.findall(v.lower()))
    return out


def vocabulary(ref: ColumnReference, cur: Current) -> Outcome | None:
    """Jensen-Shannon distance between token frequencies (top reference tokens + the rest).
    The chi-square statistic is divided by the mean tokens per value: tokens of one text are
    not independent, and this keeps the p-value conservative."""
    if len(ref.sample) == 0 or len(cur.values) == 0:
        return None
    rt, ct = _tokens(ref.sample), _tokens(cur.values)
    if not rt or not ct:
        return None
    vocab = [t for t, _ in rt.most_common(VOCABULARY)]
    p = np.array([rt[t] for t in vocab] + [sum(rt.values()) - sum(rt[t] for t in vocab)], float)
    q = np.array([ct[t] for t in vocab] + [sum(ct.values()) - sum(ct[t] for t in vocab)], float)
    pp, qq = p / p.sum(), q / q.sum()
    m = (pp + qq) / 2

    def kl(a: np.ndarray) -> float:
        ok = a > 0
        return float(np.sum(a[ok] * np.log2(a[ok] / m[ok])))

    js = float(np.sqrt(max(0.5 * kl(pp) + 0.5 * kl(qq), 0.0)))
    per_text = max(sum(ct.values()) / len(cur.values), sum(rt.values()) / len(ref.sample), 1.0)
    return Outcome(js, _chi_square(p, q, scale=per_text), js)


NUMERIC, CATEGORICAL, TEXT = str(Role.NUMERIC), str(Role.CATEGORICAL), str(Role.TEXT)
ALL_ROLES = (NUMERIC, CATEGORICAL, TEXT, str(Role.DATETIME))

TESTS: tuple[DriftTest, ...] = (
    DriftTest("ks", (NUMERIC,), ks, description="Kolmogorov-Smirnov D"),
    DriftTest("wasserstein", (NUMERIC,), wasserstein, gate="ks",
              description="Wasserstein distance in reference standard deviations"),
    DriftTest("psi", (NUMERIC, CATEGORICAL), lambda r, c: (psi_numeric if r.role == NUMERIC
                                                           else psi_categorical)(r, c),
              description="population stability index (p: chi-square on the same bins)"),
    DriftTest("chi_square", (CATEGORICAL,), chi_square,
              description="chi-square; effect: total variation distance"),
    DriftTest("new_categories", (CATEGORICAL,), new_categories,
              description="share of values in categories the reference never had"),
    DriftTest("missing_rate", ALL_ROLES, missing_rate,
              description="missing-rate change; effect: Cohen's h"),
    DriftTest("text_length", (TEXT,), text_length, description="Kolmogorov-Smirnov D of lengths"),
    DriftTest("vocabulary", (TEXT,), vocabulary, description="Jensen-Shannon distance of tokens"),
)


def tests_for(role: str) -> list[DriftTest]:
    return [t for t in TESTS if role in t.roles]


def benjamini_hochberg(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (same order as ``p``)."""
    arr = np.asarray(p, dtype=float)
    n = len(arr)
    if n == 0:
        return []
    order = np.argsort(arr)
    ranked = arr[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(x) for x in out]


def as_current(values: Any, role: str) -> Current:
    """The current side of a prepared column."""
    from mlexpert.monitor._reference import missing_mask, present_values

    miss = missing_mask(values, role)
    return Current(values=present_values(values, role), rows=int(len(values)),
                   missing=int(miss.sum()))
