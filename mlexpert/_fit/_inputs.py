"""The rows fit learns from: the target and the per-row options read and checked together,
the target encoded, rows without a target or of rare classes left out (and said), weights."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.data import Role, read_rows, time_values
from mlexpert.errors import DataError, bad_option, missing_column
from mlexpert.findings import Finding

MIN_ROWS = 10


def _column_or_values(frame: pd.DataFrame, value: Any, option: str) -> tuple[np.ndarray, str | None]:
    """Resolve an option given as a column name or as one value per row."""
    if isinstance(value, str):
        if value not in frame.columns:
            raise missing_column(value, option, frame.columns)
        return frame[value].to_numpy(), value
    values = np.asarray(value)
    if values.ndim != 1 or len(values) != len(frame):
        raise bad_option(option, f"array of shape {values.shape}",
                         f"a column name or one value per row ({len(frame)})")
    return values, None


def encode_target(y: pd.Series, task: str, positive: Any = None,
                  target: str = "the target") -> tuple[np.ndarray, list[Any] | None]:
    """(codes, classes) of a classification target, classes sorted; a binary target's
    ``positive`` class (when given) is put second, the class ``predict_proba``'s column 1, PR AUC,
    contributions and the decision threshold describe. Regression: (values, None)."""
    if task == "regression":
        if positive is not None:
            raise bad_option("positive_class", positive, "unset for a regression target")
        return y.to_numpy(dtype=float), None
    values = y.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types (e.g. 1 and "a"): compare as text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    classes = [u.item() if isinstance(u, np.generic) else u for u in uniques]
    codes = codes.astype(int)
    if positive is not None:
        if task != "binary":
            raise bad_option("positive_class", positive, f"unset for a {task} target "
                             f"({len(classes)} classes): it names the positive of two classes")
        found = [i for i, c in enumerate(classes) if c == positive or str(c) == str(positive)]
        if not found:
            raise DataError(f"positive_class {positive!r} is not a class of {target!r}; its "
                            f"classes are {classes[0]!r} and {classes[1]!r}.")
        if found[0] == 0:
            classes, codes = classes[::-1], 1 - codes
    return codes, classes


@dataclass
class Rows:
    """The target and the per-row options, kept aligned whenever rows are dropped."""

    y: pd.Series
    groups: np.ndarray | None = None
    weights: np.ndarray | None = None
    order: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> Rows:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[keep]

        return Rows(self.y[keep].reset_index(drop=True), pick(self.groups), pick(self.weights),
                     pick(self.order))


def read_glob(data: Any) -> Any:
    """A glob of CSV/Parquet files as one table (the same columns in every file); else ``data``."""

    if not isinstance(data, str) or not glob.has_magic(data) or os.path.exists(data):
        return data
    from mlexpert.distributed import partitions

    frames = []
    for path in partitions(data):
        frame = read_rows(path)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise DataError(f"file {path!r} has columns {list(frame.columns)[:8]}, unlike the "
                            f"first file's {list(frames[0].columns)[:8]}: every file matched by "
                            f"{data!r} needs the same columns.")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def side_inputs(frame: pd.DataFrame, target: str, groups: Any, sample_weight: Any,
                 time_column: str | None) -> tuple[Rows, dict[str, str | None]]:
    """The target and the per-row options as arrays, and which columns they came from."""
    y = frame[target]
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        y = y.replace([np.inf, -np.inf], np.nan)
    rows, columns = Rows(y), {"groups": None, "sample_weight": None}
    if groups is not None:
        rows.groups, columns["groups"] = _column_or_values(frame, groups, "groups")
    if sample_weight is not None:
        rows.weights, columns["sample_weight"] = _column_or_values(frame, sample_weight,
                                                                   "sample_weight")
    if time_column is not None:
        if time_column not in frame.columns:
            raise missing_column(time_column, "time", frame.columns)
        rows.order = time_values(frame[time_column], time_column)
    return rows, columns


def rows_with_target(y: pd.Series) -> tuple[np.ndarray, list[Finding]]:
    """Which rows have a target; dropping the others is said, and no target at all is an error."""
    keep = y.notna().to_numpy()
    if not keep.any():
        raise DataError(f"target column {y.name!r} has no values: every row is missing. "
                        "Check the column name and the file.")
    if keep.all():
        return keep, []
    n_drop = int((~keep).sum())
    return keep, [Finding(
        check="target_missing", severity="warning", columns=(str(y.name),),
        message=f"{n_drop} row(s) with a missing target were dropped.",
        evidence={"rows_dropped": n_drop, "rows_kept": int(keep.sum())},
        suggestion="fill in the target for those rows if they should count.")]


def check_rows(rows: Rows, columns: dict[str, str | None]) -> None:
    if rows.weights is not None:
        rows.weights = _check_weights(rows.weights, columns["sample_weight"])
    if rows.groups is not None and pd.isna(rows.groups).any():
        name = f" column {columns['groups']!r}" if columns["groups"] else ""
        raise DataError(f"groups{name} has missing values; every row needs a group.")
    if len(rows.y) < MIN_ROWS:
        raise DataError(f"only {len(rows.y)} row(s) have a target; mlexpert needs at least "
                        f"{MIN_ROWS} to cross-validate a model. Add rows.")


def classes_with_two_rows(y: pd.Series, target: str) -> tuple[np.ndarray, Finding | None]:
    """Rows whose class has at least two examples (one example cannot be cross-validated)."""
    text = y.astype(str)
    counts = text.value_counts()
    rare = counts[counts < 2]
    if rare.empty:
        return np.ones(len(y), dtype=bool), None
    return ~text.isin(rare.index).to_numpy(), Finding(
        check="rare_class", severity="warning", columns=(target,),
        message=f"class(es) {', '.join(map(repr, rare.index[:5]))} have a single row and "
                "were dropped: one example cannot be cross-validated.",
        evidence={"classes": {str(k): int(v) for k, v in rare.items()}},
        suggestion="collect more examples of those classes or merge them.")


def balanced_weights(y: np.ndarray, weights: np.ndarray | None,
                      plan: Any) -> tuple[np.ndarray | None, list[Finding]]:
    # None: train with the user's weights as they are
    """For metrics that count every class equally (balanced accuracy, macro F1), weight rows by
    inverse class frequency when the classes are imbalanced (largest over smallest > 2)."""
    if plan.task == "regression" or plan.metric.name not in ("balanced_accuracy", "f1_macro"):
        return None, []
    counts = np.bincount(y)
    counts = counts[counts > 0]
    if counts.max() / counts.min() <= 2:
        return None, []
    per_row = (len(y) / (len(counts) * np.bincount(y).astype(float)))[y]
    base = np.ones(len(y)) if weights is None else weights
    return base * per_row, [Finding(
        check="class_weights", severity="info", columns=(),
        message=f"classes are imbalanced ({int(counts.max())} vs {int(counts.min())} rows) and "
                f"{plan.metric.name} counts each class equally: rows are weighted by inverse "
                "class frequency during training.",
        evidence={"largest_class": int(counts.max()), "smallest_class": int(counts.min())},
        suggestion="pass metric='log_loss' or 'roc_auc' (CLI --metric log_loss) to train on "
                   "the natural class balance.")]


def _check_weights(values: np.ndarray, column: str | None) -> np.ndarray:
    what = f"sample_weight column {column!r}" if column else "sample_weight"
    try:
        w = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} must hold numbers.") from None
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"{what} must be finite, non-negative and not all zero.")
    return w


def inf_findings(features: pd.DataFrame, schema: Any) -> list[Finding]:
    out = []
    for name in schema.names(Role.NUMERIC):
        col = features[name]
        if pd.api.types.is_float_dtype(col.dtype):
            n_inf = int(np.isinf(col.to_numpy()).sum())
            if n_inf:
                out.append(Finding(
                    check="infinite_values", severity="warning", columns=(name,),
                    message=f"column {name!r} has {n_inf} infinite value(s); they are treated as "
                            "missing.", evidence={"count": n_inf},
                    suggestion="replace them at the source if they encode something (e.g. a cap)."))
    return out
