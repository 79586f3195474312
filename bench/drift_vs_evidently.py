"""mlexpert's drift verdicts next to Evidently's DataDriftPreset on the same pairs of tables.

Evidently is not a dependency: it runs in its own environment. Three steps:

    .venv/bin/python bench/drift_vs_evidently.py pairs DIR [TASK ...]   # tables + mlexpert verdicts
    /path/to/evidently-venv/bin/python bench/drift_vs_evidently.py evidently DIR
    .venv/bin/python bench/drift_vs_evidently.py compare DIR

Pairs: random halves of each task's rows (no drift: the right answer is "no") and the planted
changes of ``drift_calibration.py`` at 1,000 current rows (the right answer is "drift", in
the planted column). Evidently's defaults: a column drifts by KS / chi-square p < 0.05 up to
1,000 rows, else Wasserstein / Jensen-Shannon distance >= 0.1; the dataset drifts when at least
half of the columns do.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = 3


def make_pairs(out: Path, ids: list[str]) -> None:
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(HERE.parents[1] / "shared" / "bench"))
    sys.path.insert(0, str(HERE))
    from drift_calibration import halves, plants, resample
    from tasks import TASKS, load_task  # noqa: PLC0415

    from mlexpert.data import infer_schema
    from mlexpert.monitor import drift

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for tid in ids or [t["id"] for t in TASKS]:
        train, test, target, _, _ = load_task(tid)
        pool = pd.concat([train, test], ignore_index=True).drop(columns=[target])
        cases = [(f"{tid}/split{s}", *halves(pool, s), None, None) for s in range(SEEDS)]
        ref, cur = halves(pool, 0)
        for name, (col, plant) in plants(ref, infer_schema(ref)).items():
            changed = plant(resample(cur, 1_000, 7), np.random.default_rng(7))
            cases.append((f"{tid}/{name}", ref, changed, name, col))
        for key, r, c, change, col in cases:
            for name in c.columns:  # Parquet wants one type per column: text where mixed
                if c[name].dtype == object or r[name].dtype == object:
                    r, c = (f.assign(**{name: f[name].map(lambda v: v if pd.isna(v) else str(v))
                                        .astype(object)}) for f in (r, c))
            stem = key.replace("/", "__").replace(" ", "_").replace("%", "pct").replace("+", "p")
            r.to_parquet(out / f"{stem}.ref.parquet")
            c.to_parquet(out / f"{stem}.cur.parquet")
            result = drift(r, c, seed=0)
            rows.append({"pair": key, "stem": stem, "change": change, "column": col,
                         "mlexpert": result.drift_detected,
                         "mlexpert_columns": result.drifted_columns})
            print(key, result.drift_detected, result.drifted_columns[:3], flush=True)
    (out / "mlexpert.json").write_text(json.dumps(rows, indent=1))


def run_evidently(out: Path) -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    rows = json.loads((out / "mlexpert.json").read_text())
    for row in rows:
        ref = pd.read_parquet(out / f"{row['stem']}.ref.parquet")
        cur = pd.read_parquet(out / f"{row['stem']}.cur.parquet")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = Report([DataDriftPreset()]).run(cur, ref).dict()
        drifted, share = [], None
        for m in result["metrics"]:
            config, value = m.get("config", {}), m.get("value")
            if str(config.get("type", "")).endswith("DriftedColumnsCount"):
                share = value["share"]
            elif str(config.get("type", "")).endswith("ValueDrift") and value is not None:
                is_p = "p_value" in str(config.get("method", ""))
                threshold = float(config.get("threshold", 0.05 if is_p else 0.1))
                if (value < threshold) if is_p else (value >= threshold):
                    drifted.append(config["column"])
        row["evidently"] = share is not None and share >= 0.5
        row["evidently_share"] = share
        row["evidently_columns"] = drifted
        print(row["pair"], row["evidently"], share, drifted[:3], flush=True)
    (out / "evidently.json").write_text(json.dumps(rows, indent=1))


def compare(out: Path) -> None:
    rows = json.loads((out / "evidently.json").read_text())
    print("| pair | truth | mlexpert | Evidently (dataset, >= 50% columns) | Evidently drifted "
          "columns | mlexpert drifted columns |")
    print("|---|---|---|---|---|---|")
    tally = {"mlexpert": 0, "evidently": 0, "evidently_any_column": 0}
    for r in rows:
        truth = r["change"] is not None
        tally["mlexpert"] += r["mlexpert"] == truth
        tally["evidently"] += r["evidently"] == truth
        tally["evidently_any_column"] += bool(r["evidently_columns"]) == truth
        print(f"| {r['pair']} | {'drift in ' + r['column'] if truth else 'none'} | "
              f"{'drift' if r['mlexpert'] else 'none'} | {'drift' if r['evidently'] else 'none'} "
              f"({r['evidently_share']:.2f}) | {', '.join(r['evidently_columns'][:4]) or '-'} | "
              f"{', '.join(r['mlexpert_columns'][:4]) or '-'} |")
    n = len(rows)
    print(f"\nright verdicts out of {n}: mlexpert {tally['mlexpert']}, Evidently dataset drift "
          f"{tally['evidently']}, Evidently 'any column drifted' {tally['evidently_any_column']}")


if __name__ == "__main__":
    step, folder = sys.argv[1], Path(sys.argv[2])
    {"pairs": lambda: make_pairs(folder, sys.argv[3:]), "evidently": lambda: run_evidently(folder),
     "compare": lambda: compare(folder)}[step]()
