"""Time the data audit on a 100,000 x 50 table against the 6 s promise (10% of a 60 s fit).

Prints seconds for: the first audit in a fresh process (library imports included), a second
audit (warm), an audit with a 20,000-row test table, and fit's own audit (``audit_for_fit``) with
the slice of a 60 s budget it is given.

    .venv/bin/python bench/audit_time.py [ROWS] [COLUMNS]
"""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd


def make_table(n: int, n_cols: int, seed: int = 0) -> pd.DataFrame:
    """Numeric, integer, categorical columns with missing values and a binary target."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    signal = np.zeros(n)
    for j in range(n_cols):
        kind = j % 5
        if kind in (0, 1, 2):
            v = rng.normal(size=n) * (1 + j % 7)
            signal += v * (0.3 if j < 10 else 0.0) / (1 + j % 7)
            v[rng.random(n) < 0.03] = np.nan
            cols[f"num_{j}"] = v
        elif kind == 3:
            cols[f"int_{j}"] = rng.integers(0, 500, n)
        else:
            levels = np.array([f"level_{k}" for k in range(5 + 10 * (j % 4))], dtype=object)
            cols[f"cat_{j}"] = levels[rng.integers(0, len(levels), n)]
    frame = pd.DataFrame(cols)
    frame["y"] = np.where(signal + rng.normal(size=n) > 0, "yes", "no")
    return frame


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_cols = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    frame = make_table(n, n_cols)
    test = make_table(n // 5, n_cols, seed=1)
    warnings.simplefilter("ignore")
    import mlexpert

    started = time.perf_counter()
    report = mlexpert.audit(frame, target="y")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    report = mlexpert.audit(frame, target="y")
    warm = time.perf_counter() - started
    started = time.perf_counter()
    with_test = mlexpert.audit(frame, target="y", test=test)
    tested = time.perf_counter() - started

    from mlexpert._clock import Deadline
    from mlexpert.audits import audit_for_fit, fit_budget
    from mlexpert.data import infer_schema

    features = frame.drop(columns="y")
    schema = infer_schema(features)
    started = time.perf_counter()
    fitted = audit_for_fit(features, schema, frame["y"], task=None,
                           deadline=Deadline.after(fit_budget(60)), seed=0)
    in_fit = time.perf_counter() - started

    print(f"table {n} x {n_cols} (+ target); test {len(test)} rows")
    print(f"audit, first call (imports included): {cold:6.2f} s  = {cold / 60:.1%} of 60 s")
    print(f"audit, warm:                          {warm:6.2f} s  = {warm / 60:.1%} of 60 s")
    print(f"audit with --test, warm:              {tested:6.2f} s  = {tested / 60:.1%} of 60 s")
    print(f"fit-time audit (budget {fit_budget(60):.1f} s):        {in_fit:6.2f} s")
    print(f"findings: {report.counts}; with test: {with_test.counts}; in fit: "
          f"{len(fitted.findings)} (skipped: {report.skipped or '-'})")


if __name__ == "__main__":
    main()
