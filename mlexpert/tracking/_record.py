"""What a fit's run holds, as plain JSON: params, metrics with intervals, tags, child runs.

Built without MLflow, so the same record can be sent now or kept on disk and sent later
(``mlexpert runs sync``) when the server was unreachable.
"""
from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

from mlexpert._manifest import Manifest

MAX_PARAM = 500  # MLflow's limit on a parameter value (characters)


def _clean_metric(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _param(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[:MAX_PARAM]


def git_commit(cwd: str | None = None) -> str | None:
    """The commit of the git repository around ``cwd`` (None outside a repository)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def fit_record(manifest: Manifest, *, command: list[str] | None = None,
               run_name: str | None = None) -> dict[str, Any]:
    """The run record of one fit, from the model's manifest (``Model.manifest``)."""
    plan, prov = manifest.plan, manifest.provenance
    split = plan.get("split", {}) or {}
    params = {
        "target": manifest.target.name, "task": plan.get("task"), "metric": plan.get("metric"),
        "presets": plan.get("presets"), "budget_trials": plan.get("budget_trials"),
        "seed": prov.get("seed"), "time_limit": prov.get("time_limit"),
        "split": split.get("kind"), "n_splits": split.get("n_splits"),
        "groups": plan.get("groups"), "time_column": plan.get("time_column"),
        "sample_weight": plan.get("sample_weight"),
        "ignored_columns": ",".join(plan.get("ignored_columns") or []) or None,
        "rows": prov.get("rows"), "columns": prov.get("columns"),
        "features": sum(1 for c in manifest.schema.get("columns", [])
                        if c.get("role") in ("numeric", "categorical", "datetime", "text")),
        "ensemble": ",".join(f"{m['model']}:{m['weight']:.3g}" for m in manifest.ensemble),
        "source": prov.get("source"),
    }
    metrics: dict[str, float] = {}
    for name, entry in (manifest.metrics.get("cv") or {}).items():
        for key, suffix in (("value", ""), ("low", "_low"), ("high", "_high")):
            v = _clean_metric(entry.get(key))
            if v is not None:
                metrics[f"cv_{name}{suffix}"] = v
    fit_seconds = _clean_metric(prov.get("fit_seconds"))
    if fit_seconds is not None:
        metrics["fit_seconds"] = fit_seconds
    tags = {
        "mlexpert.kind": "fit",
        "mlexpert.version": manifest.mlexpert_version,
        "mlexpert.data_fingerprint": prov.get("data_fingerprint", ""),
        "mlexpert.target": manifest.target.name,
        "mlexpert.task": plan.get("task", ""),
        "mlexpert.metric": plan.get("metric", ""),
        "mlexpert.command": shlex.join(command if command is not None else sys.argv)[:5000],
        "mlflow.source.name": (command or sys.argv or [""])[0][:500],
    }
    for lib, version in manifest.libraries.items():
        tags[f"mlexpert.lib.{lib}"] = str(version)
    commit = git_commit(os.getcwd())
    if commit:
        tags["mlflow.source.git.commit"] = commit
    children = []
    for row in manifest.leaderboard:
        children.append({
            "name": str(row.get("model")),
            "params": {k: _param(row.get(k)) for k in ("model", "family", "status", "final_fit",
                                                       "note") if row.get(k) not in (None, "")},
            "metrics": {k: v for k in ("score", "score_std", "fit_seconds", "predict_ms_per_1k",
                                       "ensemble_weight", "p_vs_best", "latency_ms_per_row")
                        if (v := _clean_metric(row.get(k))) is not None},
        })
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return {
        "run_name": run_name or f"{manifest.target.name}-{plan.get('task', '')}-{stamp}",
        "params": {k: _param(v) for k, v in params.items() if v is not None},
        "metrics": metrics, "tags": tags, "children": children,
        "findings": manifest.findings,
    }
