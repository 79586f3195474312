"""The retrain gate on scikit-learn's digits, as ``tests/retraining`` sets it up: a champion
fitted on 120 rows; the challenger refitted with its options on the next 480 rows (the newest 96
judge); the paired comparison the gate decides on. No registry (register=False).

    .venv/bin/python bench/retrain_gate.py
"""
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.datasets import load_digits  # noqa: E402

import mlexpert  # noqa: E402

warnings.simplefilter("ignore")
digits = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
digits = digits.sample(frac=1.0, random_state=0).reset_index(drop=True)
champion = mlexpert.fit(digits.iloc[:120], "digit", time_limit=10, seed=0, presets="fast",
                        budget=1, track=False)
result = mlexpert.retrain(champion, digits.iloc[120:600], register=False, time_limit=60, seed=0)
c = result.verdict.comparison
lo, hi = c.difference_interval
print(f"holdout {result.holdout_rows} rows, challenger trained on {result.training_rows}: "
      f"{c.metric} {c.champion:.3f} -> {c.challenger:.3f}, difference [{lo:+.3f}, {hi:+.3f}], "
      f"promoted {result.verdict.promote}")
