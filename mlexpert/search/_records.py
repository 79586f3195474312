"""The search's records: what it is asked (``SearchSpec``), what it reports while it runs
(``SearchEvent``), each configuration tried (``Candidate``) and what it returns
(``SearchResult``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from mlexpert._clock import Deadline
from mlexpert._system import cpu_count
from mlexpert.ensemble import Member
from mlexpert.evaluate import Metric
from mlexpert.features import HistorySpec, Kind, Selection
from mlexpert.models import FAMILIES, Fitted, preprocessing
from mlexpert.search._executor import Executor


class Note(NamedTuple):
    """A decision of the search the user should hear about, and what to do about it."""

    message: str
    suggestion: str

@dataclass
class SearchSpec:
    """What the search needs beyond the data: the plan, the budget and the knobs."""

    task: str
    n_classes: int
    metric: Metric
    folds: list[tuple[np.ndarray, np.ndarray]]
    deadline: Deadline
    seed: int = 0
    preset: str = "balanced"
    sample_weight: np.ndarray | None = None  # scores candidates (and trains them, unless...)
    train_weight: np.ndarray | None = None  # ...given: then models train with this instead
    n_threads: int = field(default_factory=cpu_count)
    finish_seconds: float = 0.5  # held back for ensembling, intervals and building the model
    trials: int | None = None  # tuning trials after the portfolio; None: as many as time allows
    executor: Executor | None = None  # where fold fits run; None: in this process
    infer_limit_ms: float | None = None  # most milliseconds one row may take at batch size 1
    size_limit_mb: float | None = None  # most megabytes the shipped models may take pickled
    row_overhead_ms: float = 0.0  # per one-row call before any model: validation and coercion
    out_of_bag: bool = False  # rows independent (no groups, no time order): a family that can
    # may score one fit on all rows by its out-of-bag predictions instead of K fold fits
    history: HistorySpec | None = None  # entity history features (fit's ``entity``)
    select_columns: bool = False  # feature selection inside each fold (wide tables)

    @property
    def test_fraction(self) -> float:
        """Mean share of rows a fold validates on (what the corrected t-test needs)."""
        return float(np.mean([len(va) / (len(tr) + len(va)) for tr, va in self.folds]))

    @property
    def fit_weight(self) -> np.ndarray | None:
        return self.sample_weight if self.train_weight is None else self.train_weight


@dataclass
class SearchEvent:
    """Progress for a display: what happens now, the best so far, the time left."""

    kind: str  # "candidate_start" | "candidate_done" | "refit" | "done"
    message: str
    done: int
    total: int
    best_model: str | None
    best_score: float | None
    seconds_left: float


@dataclass
class Candidate:
    """One configuration tried under cross-validation."""

    name: str
    family: str
    params: dict[str, Any]
    trial: int | None = None  # the Optuna trial number; None for the portfolio
    status: str = "pending"  # ok | stopped early | pruned | failed | skipped
    note: str = ""
    score: float | None = None
    fold_scores: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_ms: float = 0.0  # milliseconds to predict 1,000 rows, preprocessing included
    oof: np.ndarray | None = None
    fold_fits: list[Fitted] = field(default_factory=list)
    fold_seconds: list[float] = field(default_factory=list)
    prep_seconds: float = 0.0  # mean seconds to fit the preprocessing of one fold
    row_ms: float = 0.0  # milliseconds for the model alone to predict one row (batch size 1)
    size_mb: float = 0.0  # megabytes of one fold model, pickled (a refit is about the same)
    whole: tuple[Any, Fitted] | None = None  # (preprocessor, model) fitted on all rows and
    # scored out of bag: the member as shipped, no refit (a large estimator held
    # ``_packed.Packed``, as large fold models are)

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "stopped early") and self.oof is not None

    @property
    def kind(self) -> Kind:
        """The preprocessing it is fitted on (``models.preprocessing``)."""
        return preprocessing(FAMILIES[self.family], self.params)


@dataclass
class SearchResult:
    """Every candidate as tried, the chosen members, and the shipped model's out-of-fold
    predictions (``oof_mask`` marks the rows that have one: all except under a time split)."""

    candidates: list[Candidate]
    members: list[Member]
    ensemble_score: float
    oof: np.ndarray
    oof_mask: np.ndarray
    ensemble_fold_scores: list[float] = field(default_factory=list)
    ensemble_predict_ms: float = 0.0
    notes: list[Note] = field(default_factory=list)  # decisions the user should hear about
    row_latency_ms: dict[str, float] = field(default_factory=dict)  # estimated, batch size 1,
    # per candidate name (as if refitted) and "ensemble" (as shipped)
    size_mb: dict[str, float] = field(default_factory=dict)  # estimated pickled megabytes, the
    # same keys
    floor: str | None = None  # why a default model was shipped instead of the search's choice
    selections: dict[Any, Selection] = field(default_factory=dict)  # per fold key and "all":
    # the columns feature selection kept and why it dropped the others
