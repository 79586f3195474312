"""The time-budget scheduler, Optuna tuning, ensemble selection and refit."""
from mlexpert.search._ensemble import greedy_ensemble
from mlexpert.search._executor import Executor, InlineExecutor, ProcessExecutor, cpu_count
from mlexpert.search._scheduler import (
    PRESETS,
    Candidate,
    Preset,
    SearchEvent,
    SearchResult,
    SearchSpec,
    run_search,
)

__all__ = ["PRESETS", "Candidate", "Executor", "InlineExecutor", "Preset",
           "ProcessExecutor", "SearchEvent", "SearchResult", "SearchSpec", "cpu_count",
           "greedy_ensemble", "run_search"]
