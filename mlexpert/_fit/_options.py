"""FitOptions: every option of ``fit`` checked in one place, when the options are built, with
the words of ``mlexpert._options``, before any data is read. Python, the CLI and both routes
(in this process, on a Dask cluster) all go through it, so an option is refused the same way."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import mlexpert._options as check
from mlexpert.errors import ConfigError, bad_option
from mlexpert.evaluate import OBJECTIVES, check_cost_matrix
from mlexpert.search import PRESETS, Executor, SearchEvent

TASKS = ("binary", "multiclass", "regression")
# options only the in-process fit supports (and budget > 0)
LOCAL_ONLY = ("groups", "time_column", "entity", "sample_weight", "infer_limit", "size_limit",
              "optimize_threshold", "cost_matrix", "positive_class")


@dataclass(frozen=True)
class FitOptions:
    """What ``mlexpert.fit`` takes besides the data and the target (see its docstring for each
    option). Building one checks them all; ``objective`` and ``costs`` are the decision options
    as validated (a cost matrix alone means the objective "cost")."""

    time_limit: float = 60.0
    seed: int = 0
    task: str | None = None
    metric: str | None = None
    groups: Any = None
    time_column: str | None = None
    entity: str | bool | None = None
    sample_weight: Any = None
    ignore_columns: Sequence[str] = ()
    keep_columns: Sequence[str] = ()
    presets: str = "balanced"
    budget: int | None = None
    executor: Executor | str | None = None
    infer_limit: float | None = None
    size_limit: float | None = None
    progress: Callable[[SearchEvent], None] | None = None
    calibrate: bool = True
    select_columns: bool = False
    optimize_threshold: str | None = None
    cost_matrix: Any = None
    positive_class: str | int | float | bool | None = None
    data_on_cluster: bool | None = None
    objective: str | None = field(init=False, default=None)  # optimize_threshold as validated
    costs: list[list[float]] | None = field(init=False, default=None)  # cost_matrix as validated

    def __post_init__(self) -> None:
        check.seconds("time_limit", self.time_limit)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise bad_option("seed", self.seed, "an integer")
        if self.task is not None:
            check.one_of("task", self.task, TASKS)
        check.one_of("presets", self.presets, PRESETS)
        check.count("budget", self.budget, "tuning trials", optional=True)
        check.positive("infer_limit", self.infer_limit, "seconds per row", optional=True)
        check.positive("size_limit", self.size_limit, "megabytes", optional=True)
        for name in ("ignore_columns", "keep_columns"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(c, str) for c in value):
                raise bad_option(name, value, "a list of column names")
            object.__setattr__(self, name, tuple(value))
        if isinstance(self.executor, str) and not self.executor.startswith("dask://"):
            raise bad_option("executor", self.executor, "an Executor object, 'dask://local' or "
                             "'dask://tcp://host:port'")
        if self.entity is True or not isinstance(self.entity, str | bool | type(None)):
            raise bad_option("entity", self.entity, "a column name, None (inferred with "
                             "time_column) or False")
        if isinstance(self.entity, str) and self.time_column is None:
            raise bad_option("entity", self.entity, "given with time_column: an entity's "
                             "history runs over time (CLI --time-column)")
        if not isinstance(self.select_columns, bool):
            raise bad_option("select_columns", self.select_columns, "True or False")
        if not isinstance(self.calibrate, bool):
            raise bad_option("calibrate", self.calibrate, "True or False")
        if self.data_on_cluster not in (None, True, False):
            raise bad_option("data_on_cluster", self.data_on_cluster,
                             "True, False or None (auto)")
        if self.positive_class is not None and not isinstance(
                self.positive_class, str | int | float | bool):
            raise bad_option("positive_class", self.positive_class, "one value of the target")
        objective, costs = self.optimize_threshold, self.cost_matrix
        if costs is not None:
            costs = check_cost_matrix(costs)
            objective = objective or "cost"
        if objective is not None and objective not in OBJECTIVES:
            raise bad_option("optimize_threshold", objective, f"one of {', '.join(OBJECTIVES)}")
        if objective == "cost" and costs is None:
            raise bad_option("cost_matrix", None, "given with optimize_threshold='cost'")
        object.__setattr__(self, "objective", objective)
        object.__setattr__(self, "costs", costs)

    @classmethod
    def of(cls, options: dict[str, Any]) -> FitOptions:
        """FitOptions from keyword options; an unknown name is a ConfigError listing the known."""
        known = [f.name for f in fields(cls) if f.init]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise ConfigError(f"fit has no option {unknown[0]!r}; the options are "
                              f"{', '.join(known)}.")
        return cls(**options)

    @property
    def dask(self) -> bool:
        """Whether the executor is a Dask cluster (a ``dask://`` address or a DaskExecutor)."""
        return (isinstance(self.executor, str) and self.executor.startswith("dask://")) or \
            hasattr(self.executor, "client")

    def local_only(self) -> list[str]:
        """The options asked for that only the in-process fit supports."""
        asked = [k for k in LOCAL_ONLY if getattr(self, k) is not None
                 and getattr(self, k) is not False]
        return asked + (["budget"] if self.budget else [])

    def record(self) -> dict[str, Any]:
        """The options as the manifest's provenance records them: plain values only (a column
        name, not an array of one value per row; no executor or callback)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.init and f.name not in ("executor", "progress") and isinstance(
                    value, str | int | float | bool | list | tuple | type(None)):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out
