"""The time-budget scheduler, Optuna tuning, ensemble selection and refit."""
from mlexpert._system import cpu_count
from mlexpert.search._ensemble import greedy_ensemble
from mlexpert.search._executor import Executor, InlineExecutor, ProcessExecutor
from mlexpert.search._presets import PRESETS, Preset
from mlexpert.search._probes import pickled_mb, row_ms
from mlexpert.search._records import Candidate, SearchEvent, SearchResult, SearchSpec
from mlexpert.search._scheduler import run_search

__all__ = ["PRESETS", "Candidate", "Executor", "InlineExecutor", "Preset",
           "ProcessExecutor", "SearchEvent", "SearchResult", "SearchSpec", "cpu_count",
           "greedy_ensemble", "pickled_mb", "row_ms", "run_search"]
