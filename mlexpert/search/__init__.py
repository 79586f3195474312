"""The time-budget scheduler, ensemble selection and refit."""
from mlexpert.search._ensemble import greedy_ensemble
from mlexpert.search._scheduler import (
    PRESETS,
    Candidate,
    Member,
    SearchEvent,
    SearchResult,
    SearchSpec,
    run_search,
)

__all__ = ["PRESETS", "Candidate", "Member", "SearchEvent", "SearchResult", "SearchSpec",
           "greedy_ensemble", "run_search"]
