"""The sections of a fitted model's manifest that fit computes: the leaderboard, the cross-
validated metrics, the size and the one-row latency measured at the end of fit."""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert._manifest import Manifest
from mlexpert.bundle import Model
from mlexpert.evaluate import corrected_t_test, score_all
from mlexpert.search import SearchSpec, pickled_mb

INDISTINGUISHABLE_P = 0.05  # p_vs_best at or above: not significantly worse than the best


def cv_metrics(post: Any, y: np.ndarray, weights: np.ndarray | None, mask: np.ndarray,
                plan: Any, deadline: Deadline, seed: int) -> dict[str, dict[str, float]]:
    """Every metric of the task on the shipped model's out-of-fold predictions (calibrated
    cross-fitted when calibrated; labels at the decision threshold), each with a bootstrap
    interval (1,000 resamples) unless the budget ran out (then NaN)."""
    return score_all(plan.task, y, post.oof, None if weights is None else weights[mask],
                     threshold=post.threshold, n_resamples=1000, seed=seed, deadline=deadline)


def final_fit(member: Any) -> str:
    if not member.refit:
        return f"{len(member.parts)}-fold bag"
    return "all rows" if len(member.parts) == 1 else f"all rows, {len(member.parts)} seeds"


def leaderboard(result: Any, metric: Any, spec: SearchSpec) -> list[dict[str, Any]]:
    """One row per candidate (and the ensemble when it has several members), best first: CV
    score with its std over folds, fit seconds, predict ms per 1,000 rows, and the one-sided
    p-value that the best is better only by chance (same folds, corrected paired t-test)."""
    members = {m.name: m for m in result.members}
    board = [{"model": c.name, "family": c.family, "score": c.score,
              "score_std": _std(c.fold_scores) if c.score is not None else None,
              "status": c.status, "fit_seconds": round(c.fit_seconds, 3),
              "predict_ms_per_1k": round(c.predict_ms, 3) if c.fold_scores else None,
              "latency_ms_per_row": rounded(result.row_latency_ms.get(c.name)),
              "size_mb": rounded(result.size_mb.get(c.name)),
              "ensemble_weight": members[c.name].weight if c.name in members else 0.0,
              "final_fit": final_fit(members[c.name]) if c.name in members else "",
              "note": c.note, "_folds": c.fold_scores} for c in result.candidates]
    if len(result.members) > 1:
        board.append({"model": "ensemble", "family": "ensemble", "score": result.ensemble_score,
                      "score_std": _std(result.ensemble_fold_scores), "status": "ok",
                      "fit_seconds": round(sum(c.fit_seconds for c in result.candidates), 3),
                      "predict_ms_per_1k": round(result.ensemble_predict_ms, 3),
                      "latency_ms_per_row": rounded(result.row_latency_ms.get("ensemble")),
                      "size_mb": rounded(result.size_mb.get("ensemble")),
                      "ensemble_weight": 1.0, "final_fit": "",
                      "note": f"{len(result.members)} members", "_folds": result.ensemble_fold_scores})
    sign = 1 if metric.greater_is_better else -1
    board.sort(key=lambda r: (r["score"] is None, -sign * (r["score"] or 0.0)))
    best = board[0]["_folds"]
    for i, row in enumerate(board):
        folds = row.pop("_folds")
        p = corrected_t_test(sign * np.asarray(best), sign * np.asarray(folds), spec.test_fraction) \
            if i and row["score"] is not None and len(folds) == len(best) else None
        row["p_vs_best"] = None if p is None or not np.isfinite(p) else round(p, 4)
        # statistically indistinguishable from the best: not significantly worse at 5 % (one-sided)
        row["indistinguishable"] = i == 0 or (row["p_vs_best"] is not None
                                              and row["p_vs_best"] >= INDISTINGUISHABLE_P)
    return board


def rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _std(scores: list[float]) -> float | None:
    finite = [s for s in scores if np.isfinite(s)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else None


def size_section(result: Any, size_limit: float | None) -> dict[str, Any]:
    """The shipped models' pickled megabytes: estimated by the search and, with a size_limit,
    measured (a pickle of every member: milliseconds to a second, so only when asked)."""
    measured = None if size_limit is None else round(pickled_mb(result.members), 3)
    return {"estimated_mb": rounded(result.size_mb.get("ensemble")), "measured_mb": measured,
            "size_limit_mb": size_limit,
            "note": "megabytes of the members pickled (members.pkl.gz, uncompressed); measured only with "
                    "size_limit"}


def measure_latency(manifest: Manifest, members: list[Any], reference: Any, row: pd.DataFrame,
             deadline: Deadline) -> float | None:
    """One-row latency of the model these parts make (``_measured_latency_ms``), measured on
    a Model built for it: the Model fit returns is built once, from the finished manifest."""
    return _measured_latency_ms(Model(manifest, members, reference.sample), row, deadline)


def _measured_latency_ms(model: Model, row: pd.DataFrame, deadline: Deadline) -> float | None:
    """Median ms of up to 5 single-row predictions through the members (not the compiled path,
    whose build would not fit the budget) after a warm-up, within 0.25 s and the deadline;
    None when no time was left."""
    times: list[float] = []
    stop = deadline.sooner(0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the target column is extra here
        while len(times) < 6 and not stop.expired():
            t0 = time.perf_counter()
            model._labels(*model._predict_raw(row, compiled=False))
            times.append(time.perf_counter() - t0)
    return round(float(np.median(times[1:] or times)) * 1000, 3) if times else None
