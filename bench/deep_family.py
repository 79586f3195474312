"""What the deep extra adds (issue #24): each task of the shared dev suite fitted with
``presets="best"`` (or ``--preset``) twice at the same budget and seed, with the ``mlp`` family
(as the preset tries it: balanced where its cost fits the time limit) and the sentence embedding candidates, then
without them (the mlp left out of the portfolio and ``MLEXPERT_TEXT_EMBEDDINGS=0``, each fit in
its own process). Prints, per task, the test
score of each (the harness's metric), the paired difference in mean per-row loss with a 95 %
bootstrap interval over the test rows, the out-of-fold score the fit reported for what it
shipped, the deep members' ensemble weights, fit seconds and the
one-row latency (median of 50 calls after compile()).

    .venv/bin/python bench/deep_family.py [--budget 300] [--preset best] olive_area ...
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from paired_budgets import SHARED_BENCH, row_losses  # noqa: E402  (puts the shared bench on sys.path)

DEEP_FAMILIES = ("mlp",)
DEEP_CONFIGS = ("lightgbm_embeddings", "linear_embeddings")


def _score(model, X, y, metric: str, losses: np.ndarray) -> float:
    """The harness's metric on the test rows (from the per-row losses where it is their mean)."""
    if metric == "log_loss":
        return float(losses.mean())
    if metric == "rmse":
        return float(np.sqrt(losses.mean()))
    from sklearn.metrics import roc_auc_score

    proba = model.predict_proba(X)
    positive = proba.columns[-1]
    return float(roc_auc_score(y.astype(str) == str(positive), proba[positive]))


def one_fit(task: str, budget: int, deep: bool, preset: str, out: Path) -> None:
    """Fit ``task`` once (in this process) and write its per-row test losses and figures."""
    from tasks import TASKS_BY_ID, load_task

    import mlexpert
    from mlexpert._clock import median_seconds
    from mlexpert.search import _presets

    chosen = _presets.PRESETS[preset]
    if not deep:  # as shipped otherwise (balanced: the mlp where its cost fits the time)
        _presets.PRESETS[preset] = dataclasses.replace(chosen, affordable=(), portfolio=tuple(
            n for n in chosen.portfolio if n not in DEEP_FAMILIES))
    if not deep:
        os.environ[_presets.EMBEDDINGS_ENV] = "0"
    train, test, target, task_type, metric = load_task(task)
    X, y = test.drop(columns=[target]), test[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.monotonic()
        model = mlexpert.fit(train, target=target, time_limit=budget, seed=0, task=task_type,
                             metric=metric, presets=preset,
                             **TASKS_BY_ID[task].get("fit_hints", {}))  # as the harness does
        fit_s = time.monotonic() - t0
        losses = row_losses(model, X, y, task_type)
        score = _score(model, X, y, metric, losses)
        model.compile()
        row = X.head(1)
        latency = median_seconds(lambda: model.predict(row), 50) * 1e3
    board = model.leaderboard
    deep_rows = board[board["family"].isin(DEEP_FAMILIES) | board["model"].isin(DEEP_CONFIGS)]
    out.write_text(json.dumps({
        "losses": losses.tolist(), "score": score, "fit_s": fit_s, "latency_ms": latency,
        "oof": ((model.manifest.metrics or {}).get("cv", {}).get(metric) or {}).get("value"),
        "deep": [{"model": r.model, "score": r.score, "status": r.status,
                  "weight": float(r.ensemble_weight or 0.0)} for r in deep_rows.itertuples()],
        "notes": [f.message for f in model.findings
                  if "embeddings" in f.message or "mlp" in f.message],
    }))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--one", nargs=3, metavar=("TASK", "DEEP", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("tasks", nargs="*")
    args = parser.parse_args()
    if args.one:
        task, deep, out = args.one
        one_fit(task, args.budget, deep == "1", args.preset, Path(out))
        return
    for task in args.tasks:
        got = {}
        for deep in (True, False):
            out = Path(f"/tmp/deep_family_{task}_{int(deep)}.json")
            subprocess.run([sys.executable, __file__, "--budget", str(args.budget), "--preset",
                            args.preset, "--one", task, "1" if deep else "0", str(out)], check=True)
            got[deep] = json.loads(out.read_text())
        d = np.array(got[True]["losses"]) - np.array(got[False]["losses"])  # < 0: deep helps
        rng = np.random.default_rng(0)
        boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(2000)]
        lo, hi = np.quantile(boots, [0.025, 0.975])
        w, wo = got[True], got[False]
        deep = ", ".join(f"{r['model']} {r['status']} w{r['weight']:.2f}" for r in w["deep"]) or "none tried"
        oof = "" if w.get("oof") is None or wo.get("oof") is None else \
            f" (out of fold {w['oof']:.4f} / {wo['oof']:.4f})"
        print(f"{task} @ {args.budget} s, {args.preset}: score with {w['score']:.4f} / without {wo['score']:.4f}{oof}; "
              f"per-row loss with - without {d.mean():+.4g} [{lo:+.4g}, {hi:+.4g}]; "
              f"fit {w['fit_s']:.0f} / {wo['fit_s']:.0f} s; one row {w['latency_ms']:.2f} / "
              f"{wo['latency_ms']:.2f} ms; deep: {deep}", *w["notes"], sep="\n  ", flush=True)


if __name__ == "__main__":
    assert SHARED_BENCH
    main()
