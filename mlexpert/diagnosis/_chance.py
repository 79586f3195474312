"""The chance level of a task: the log loss of always predicting the class priors and the
accuracy of always answering the majority class, which a model that learned nothing reaches."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlexpert.errors import DataError, bad_option, missing_column

TASKS = ("binary", "multiclass", "regression")
MAX_CLASSES = 50  # a target with more distinct values than this is taken as regression


@dataclass(frozen=True)
class Chance:
    """What learning nothing scores; None where it is not known."""

    task: str | None = None
    priors: dict[str, float] = field(default_factory=dict)
    loss: float | None = None       # log loss of the priors (nats)
    accuracy: float | None = None   # the majority class's share
    basis: str = "unknown (pass the task and class priors, or labelled data)"

    def metric(self, name: str) -> float | None:
        """Chance value of a canonical metric (accuracy, auc, r2); None when not known."""
        if name == "accuracy":
            return self.accuracy
        if name == "auc" and self.task in ("binary", "multiclass"):
            return 0.5
        if name == "r2" and self.task == "regression":
            return 0.0
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "priors": dict(self.priors), "loss": self.loss,
                "accuracy": self.accuracy, "basis": self.basis}


def chance_level(task: str | None = None, priors: Any = None, data: Any = None,
                 target: str | None = None) -> Chance:
    """From ``priors`` (shares or counts: a mapping class -> share, a sequence, or text
    "0.7,0.3" / "no=0.7,yes=0.3"), else from ``target`` in ``data``, else from ``task`` alone
    (binary: balanced classes assumed)."""
    if task is not None and task not in TASKS:
        raise bad_option("task", task, "binary, multiclass or regression")
    if (data is None) != (target is None):
        raise bad_option("data" if data is None else "target", None,
                         "given together with " + ("target" if data is None else "data"))
    basis = "class priors given"
    if data is not None:
        if priors is not None:
            raise bad_option("priors", priors, "left out when data and target are given")
        priors, task, basis = _from_data(data, str(target), task)
    if priors is None:
        if task == "binary":
            return _levels(task, {"0": 0.5, "1": 0.5},
                           "balanced classes assumed (pass priors or labelled data for the real "
                           "ones)")
        return Chance(task=task) if task else Chance()
    shares = _shares(priors)
    if task is None:
        task = "binary" if len(shares) == 2 else "multiclass"
    if task == "regression":
        raise bad_option("priors", priors, "left out for a regression task")
    if task == "binary" and len(shares) != 2:
        raise bad_option("priors", priors, "two class shares for a binary task")
    return _levels(task, shares, basis)


def _levels(task: str, shares: dict[str, float], basis: str) -> Chance:
    loss = -sum(p * math.log(p) for p in shares.values() if p > 0)
    return Chance(task, shares, loss, max(shares.values()), basis)


def _shares(priors: Any) -> dict[str, float]:
    if isinstance(priors, str):
        parts = [p.strip() for p in priors.split(",") if p.strip()]
        if all("=" in p for p in parts):
            priors = {k.strip(): v for k, v in (p.split("=", 1) for p in parts)}
        else:
            priors = parts
    if isinstance(priors, Mapping):
        items = [(str(k), v) for k, v in priors.items()]
    elif isinstance(priors, Sequence):
        items = [(str(i), v) for i, v in enumerate(priors)]
    else:
        raise bad_option("priors", priors, "class shares such as 0.7,0.3 or no=0.7,yes=0.3")
    try:
        values = [float(v) for _, v in items]
    except (TypeError, ValueError):
        raise bad_option("priors", priors,
                         "numbers (shares or counts) such as 0.7,0.3 or no=0.7,yes=0.3") from None
    if len(values) < 2 or any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise bad_option("priors", priors, "at least two non-negative shares with a positive sum")
    total = sum(values)
    return {k: v / total for (k, _), v in zip(items, values, strict=True)}


def _from_data(data: Any, target: str, task: str | None) -> tuple[Any, str, str]:
    """Priors (None for regression), task and basis from a labelled table."""
    from mlexpert.data import describe_source, read_rows

    table = read_rows(data)
    if target not in table.columns:
        raise missing_column(target, "target", table.columns)
    y = table[target].dropna()
    if y.empty:
        raise DataError(f"target {target!r} in {describe_source(data)} has no values.")
    counts = y.value_counts()
    numeric = y.dtype.kind in "fc" and not (y == y.round()).all()
    if task is None:
        task = ("regression" if numeric or len(counts) > MAX_CLASSES else
                "binary" if len(counts) == 2 else "multiclass")
    basis = f"class shares of {target!r} in {describe_source(data)} ({len(y)} rows)"
    if task == "regression":
        return None, task, basis
    return {str(k): int(v) for k, v in counts.items()}, task, basis
