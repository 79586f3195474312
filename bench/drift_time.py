"""Time a drift check on 100,000 current rows x 50 columns against a 100,000-row reference.

Prints seconds for: building the reference (what ``fit`` adds), the first check in a fresh
process (imports included), a warm check, the check without the domain classifier, and
``Schema.prepare`` of the current rows alone as the baseline measured in the same run.

    .venv/bin/python bench/drift_time.py [ROWS] [COLUMNS]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd


def make_table(n: int, n_cols: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Numeric (with missing values), integer and categorical columns; ``shift`` moves num_0."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for j in range(n_cols):
        kind = j % 5
        if kind in (0, 1, 2):
            v = rng.normal(size=n) * (1 + j % 7) + (shift if j == 0 else 0.0)
            v[rng.random(n) < 0.03] = np.nan
            cols[f"num_{j}"] = v
        elif kind == 3:
            cols[f"int_{j}"] = rng.integers(0, 500, n)
        else:
            levels = np.array([f"level_{k}" for k in range(5 + 10 * (j % 4))], dtype=object)
            cols[f"cat_{j}"] = levels[rng.integers(0, len(levels), n)]
    return pd.DataFrame(cols)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_cols = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    ref, cur = make_table(rows, n_cols, 0), make_table(rows, n_cols, 1, shift=0.5)

    from mlexpert.data import infer_schema
    from mlexpert.monitor import build_reference, compare

    schema = infer_schema(ref)
    t = time.perf_counter()
    X_ref = schema.prepare(ref)
    prepare_s = time.perf_counter() - t
    t = time.perf_counter()
    reference = build_reference(schema, X_ref)
    build_s = time.perf_counter() - t

    def check(domain: bool) -> tuple[float, object]:
        t = time.perf_counter()
        X = schema.prepare(cur)
        result = compare(reference, X, domain_classifier=domain)
        return time.perf_counter() - t, result

    first, result = check(True)
    warm, _ = check(True)
    no_domain, _ = check(False)
    print(f"{rows:,} rows x {n_cols} columns (current vs reference of {rows:,} rows, "
          f"{len(reference.sample):,} sampled)")
    print(f"  Schema.prepare of the current rows (baseline): {prepare_s:6.2f} s")
    print(f"  build_reference (added to fit):                {build_s:6.2f} s "
          f"({build_s / prepare_s:.1f}x prepare)")
    print(f"  drift check, first (imports included):         {first:6.2f} s")
    print(f"  drift check, warm:                             {warm:6.2f} s "
          f"({warm / prepare_s:.1f}x prepare)")
    print(f"  drift check, warm, no domain classifier:       {no_domain:6.2f} s")
    print(f"  verdict: drift={result.drift_detected}, drifted columns={result.drifted_columns}, "
          f"domain AUC={result.domain_classifier['auc']:.3f}")


if __name__ == "__main__":
    main()
