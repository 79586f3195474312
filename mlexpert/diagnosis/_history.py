"""A training history: the loss, metric, learning-rate and gradient-norm series found in a log
(CSV, JSON, JSON Lines, a table, a Keras ``history.history`` dict or an MLflow run), by name.

A missing cell (not logged that epoch) and a NaN value (the loss blew up) are kept apart: only
the second is a value. Rows sharing an epoch (per-step logs) are averaged into that epoch.
"""
from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlexpert.errors import no_loss_series, unreadable_history

ROLES = ("train_loss", "val_loss", "train_metric", "val_metric", "lr", "grad_norm")
INDEX_NAMES = ("epoch", "epochs", "step", "global_step", "iteration", "iter")  # preferred first
VAL_WORDS = ("val", "valid", "validation", "eval", "evaluation", "dev", "holdout", "test")
TRAIN_WORDS = ("train", "training", "trn")
LOSS_WORDS = ("loss", "log_loss", "logloss", "nll", "cross_entropy", "crossentropy", "ce", "bce",
              "xent", "objective")
FALLBACK_LOSSES = ("mse", "mean_squared_error", "rmse", "mae")  # used when no loss is named
# canonical metric: (the spellings seen in Keras, Lightning, scikit-learn logs; higher is better)
METRICS = {
    "accuracy": (("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                  "sparse_categorical_accuracy"), True),
    "auc": (("auc", "roc_auc", "auroc"), True),
    "f1": (("f1", "f1_score"), True),
    "r2": (("r2", "r2_score"), True),
    "mae": (("mae", "mean_absolute_error"), False),
    "rmse": (("rmse", "root_mean_squared_error"), False),
}
_LEVEL_RANK = {"epoch": 0, "": 1, "step": 2}  # Lightning logs `_epoch` and `_step` twins
_MISSING = ("", "null", "none", "na", "n/a")
_MLFLOW_INF = sys.float_info.max  # MLflow's SQL stores write +-inf as the largest float


@dataclass(frozen=True)
class Series:
    """One logged quantity: its column name, its role, and (epoch, value) pairs in order."""

    name: str
    role: str
    x: np.ndarray
    y: np.ndarray
    metric: str = ""  # canonical metric name, for metric roles
    higher_is_better: bool = False


@dataclass(frozen=True)
class History:
    """The series a diagnosis reads, by role; ``columns``: every name the source held."""

    source: str
    index: str
    series: dict[str, Series]
    columns: tuple[str, ...]

    def get(self, role: str) -> Series | None:
        return self.series.get(role)

    @property
    def epochs(self) -> int:
        return max((len(s.x) for s in self.series.values()), default=0)


def _tokens(name: str) -> list[str]:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return [t for t in re.split(r"[^0-9a-zA-Z]+", text.lower()) if t]


def _parse(name: str) -> tuple[str, str, str] | None:
    """``(split, quantity, level)`` of a column name, or None for an index column."""
    tokens = _tokens(name)
    if not tokens or "_".join(tokens) in INDEX_NAMES:
        return None
    level = ""
    if len(tokens) > 1 and tokens[-1] in ("epoch", "step"):
        level, tokens = tokens[-1], tokens[:-1]
    split = "train"
    for word in VAL_WORDS:
        if word in tokens:
            split, tokens = word, [t for t in tokens if t != word]
            break
    else:
        tokens = [t for t in tokens if t not in TRAIN_WORDS]
    return split, "_".join(tokens), level


def _kind(quantity: str) -> tuple[str, int] | None:
    """The role family of a quantity and its rank among its kind (lower is preferred)."""
    parts = quantity.split("_")
    if quantity in ("lr", "learning_rate") or parts[0] == "lr" or quantity.startswith("learning_rate"):
        return "lr", len(parts)
    if ("grad" in parts or "gradient" in parts or "grads" in parts) and "norm" in parts:
        return "grad_norm", 0 if "total" in parts else len(parts)
    if quantity in LOSS_WORDS:
        return "loss", LOSS_WORDS.index(quantity)
    if parts[-1] == "loss":
        return "loss", len(LOSS_WORDS) + len(parts)
    if quantity in FALLBACK_LOSSES:
        return "loss", 100 + FALLBACK_LOSSES.index(quantity)
    for rank, (spellings, _) in enumerate(METRICS.values()):
        if quantity in spellings:
            return "metric", rank
    return None


def recognise(names: list[str]) -> dict[str, str]:
    """Role -> column name for the columns of a log (see ``ROLES``)."""
    best: dict[str, tuple[tuple, str]] = {}
    for name in names:
        parsed = _parse(name)
        kind = _kind(parsed[1]) if parsed else None
        if parsed is None or kind is None:
            continue
        split, quantity, level = parsed
        family, rank = kind
        if family in ("lr", "grad_norm"):
            role = family
        else:
            role = ("train_" if split == "train" else "val_") + family
        split_rank = 0 if split == "train" else VAL_WORDS.index(split)
        key = (rank, split_rank, _LEVEL_RANK[level], len(name))
        if role not in best or key < best[role][0]:
            best[role] = (key, name)
    roles = {role: name for role, (_, name) in best.items()}
    for a, b in (("train_metric", "val_metric"),):  # one metric, the same on both splits
        if a in roles and b in roles and _metric_of(roles[a]) != _metric_of(roles[b]):
            del roles[a]
    return roles


def _metric_of(name: str) -> str:
    parsed = _parse(name)
    for canonical, (spellings, _) in METRICS.items():
        if parsed and parsed[1] in spellings:
            return canonical
    return ""


def _index_column(names: list[str]) -> str | None:
    by_token = {"_".join(_tokens(n)): n for n in names}
    return next((by_token[i] for i in INDEX_NAMES if i in by_token), None)


def from_columns(columns: Mapping[str, list[Any]], source: str,
                 index: Mapping[str, list[Any]] | None = None) -> History:
    """A History from ``{name: [value per row]}`` (None = not logged that row), or with
    ``index`` from ``{name: [epoch or step per value]}`` (MLflow: each key its own steps)."""
    names = [str(n) for n in columns]
    roles = recognise(names)
    if "train_loss" not in roles and "val_loss" not in roles:
        raise no_loss_series(source, names)
    idx_name = _index_column(names) if index is None else "step"
    series = {}
    for role, name in roles.items():
        values = list(columns[name])
        if index is not None:
            xs = list(index[name])
        elif idx_name is not None:
            xs = list(columns[idx_name])
        else:
            xs = list(range(len(values)))
        x, y = _aggregate(xs, values)
        if len(x):
            metric = _metric_of(name) if role.endswith("metric") else ""
            series[role] = Series(name, role, x, y, metric,
                                  METRICS[metric][1] if metric else False)
    if "train_loss" not in series and "val_loss" not in series:
        raise no_loss_series(source, names)
    label = "row" if idx_name is None else ("epoch" if _tokens(idx_name)[0].startswith("epoch")
                                            else "step")
    return History(source, label, series, tuple(names))


def _aggregate(xs: list[Any], values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Logged (x, value) pairs, rows without a value or an x dropped, one mean per x."""
    sums: dict[float, list[float]] = {}
    for x, v in zip(xs, values, strict=True):
        xv, vv = _number(x), _number(v)
        if xv is None or vv is None or not math.isfinite(xv):
            continue
        sums.setdefault(xv, []).append(vv)
    order = sorted(sums)
    y = np.array([float(np.mean(sums[k])) for k in order], dtype=float)
    x = np.array(order, dtype=float)
    return (x.astype(int) if np.all(x == np.round(x)) else x), y


def _number(v: Any) -> float | None:
    """A logged value as a float (NaN and infinities kept), None when the cell is empty."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
    else:
        text = str(v).strip()
        if text.lower() in _MISSING:
            return None
        try:
            f = float(text)
        except ValueError:
            return None
    if math.isfinite(f) and abs(f) >= _MLFLOW_INF:
        return math.copysign(math.inf, f)
    return f


def read_history_file(path: Path) -> History:
    """A CSV / TSV, JSON (records, or an object of lists) or JSON Lines file, one row per epoch."""
    source = str(path)
    if not path.is_file():
        raise unreadable_history(source, "no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable_history(source, type(exc).__name__) from None
    if suffix in (".json", ".jsonl", ".ndjson"):
        return from_columns(_json_columns(text, source, lines=suffix != ".json"), source)
    if suffix in (".csv", ".tsv", ".txt", ".log"):
        return from_columns(_csv_columns(text, source, "\t" if suffix == ".tsv" else None), source)
    raise unreadable_history(source, f"unknown file type {suffix or '(none)'!r}")


def _csv_columns(text: str, source: str, sep: str | None) -> dict[str, list[Any]]:
    import csv
    import io

    if not text.strip():
        raise unreadable_history(source, "the file is empty")
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t").delimiter
        except csv.Error:
            sep = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    if len(set(header)) != len(header):
        raise unreadable_history(source, "duplicate column names in the header")
    if not body:
        raise unreadable_history(source, "a header but no rows")
    for line, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise unreadable_history(source, f"line {line} has {len(r)} fields, the header "
                                     f"{len(header)}")
    return {name: [r[i] for r in body] for i, name in enumerate(header)}


def _json_columns(text: str, source: str, *, lines: bool) -> dict[str, list[Any]]:
    try:
        if lines:
            data: Any = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise unreadable_history(source, f"invalid JSON at line {exc.lineno}") from None
    if isinstance(data, dict) and isinstance(data.get("history"), dict | list):
        data = data["history"]  # {"history": {...}} as Keras users often save it
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()) and data:
        return _padded(data, source)
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        names = list(dict.fromkeys(k for r in data for k in r))
        return {n: [r.get(n) for r in data] for n in names}
    raise unreadable_history(source, "expected a list of objects (one per epoch) or an object "
                             "of lists")


def _padded(data: dict[str, list[Any]], source: str) -> dict[str, list[Any]]:
    longest = max(len(v) for v in data.values())
    if longest == 0:
        raise unreadable_history(source, "every list is empty")
    return {str(k): list(v) + [None] * (longest - len(v)) for k, v in data.items()}


def from_table(table: Any, source: str) -> History:
    """A pandas (or anything with ``to_dict("list")``) table or a mapping of lists."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        cols = {str(c): [None if _is_na(v) else v for v in table[c].tolist()]
                for c in table.columns}
        return from_columns(cols, source)
    if isinstance(table, Mapping):
        return from_columns(_padded({str(k): list(v) for k, v in table.items()}, source), source)
    raise unreadable_history(source, f"unsupported type {type(table).__name__}")


def _is_na(v: Any) -> bool:
    """pandas' missing marker (NA / None); a float NaN is a logged value, kept."""
    return v is None or type(v).__name__ in ("NAType", "NaTType")


def from_mlflow(description: str, metrics: dict[str, list[tuple[int, float]]]) -> History:
    """A History from an MLflow run's metric histories; steps become epochs where the run
    logged an ``epoch`` metric (Lightning, Keras callbacks logging by batch)."""
    epoch_key = _index_column(list(metrics))
    to_epoch = {step: value for step, value in metrics.get(epoch_key, [])} if epoch_key else {}
    columns = {k: [v for _, v in pts] for k, pts in metrics.items() if k != epoch_key}
    index = {k: [to_epoch.get(s, s) if to_epoch else s for s, _ in pts]
             for k, pts in metrics.items() if k != epoch_key}
    history = from_columns(columns, description, index=index)
    label = "epoch" if to_epoch or _steps_are_epochs(history) else "step"
    return History(history.source, label, history.series, tuple(metrics))


def _steps_are_epochs(history: History) -> bool:
    """Steps 0, 1, 2... (or 1, 2, 3...) one per value: the run logged once per epoch."""
    s = history.get("train_loss") or history.get("val_loss")
    return s is not None and len(s.x) > 0 and int(s.x[0]) in (0, 1) and bool(np.all(np.diff(s.x) == 1))
