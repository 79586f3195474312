"""Every error mlexpert raises for a user mistake, in one place.

All derive from :class:`MlexpertError`, so a front end (the CLI, the service) can turn any of them
into a one-line message and exit code 1. Messages say what was expected, what was got and how to
fix it, and name the column, row, file or option concerned.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class MlexpertError(Exception):
    """Base class of every user-facing mlexpert error (bad data, bad option, bad bundle)."""


class DataError(MlexpertError):
    """The input table cannot be used as given (empty, unreadable, wrong columns, bad target)."""


class ConfigError(MlexpertError):
    """An option passed to fit/predict/evaluate is invalid."""


class SchemaError(DataError):
    """Prediction input does not match the schema recorded at fit time."""


class BundleError(MlexpertError):
    """A model bundle cannot be written or loaded safely."""


def _shorten(names: Iterable[object], limit: int = 8) -> str:
    names = [repr(str(n)) for n in names]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def closest(name: str, candidates: Iterable[object]) -> str:
    """A ' Did you mean ...?' hint naming up to three close column names, or ''."""
    cands = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in cands}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[m]) for m in matches) + "?"


def missing_column(column: str, what: str, available: Iterable[object]) -> DataError:
    available = list(available)
    return DataError(
        f"{what} column {column!r} is not in the data.{closest(column, available)} "
        f"Columns are: {_shorten(available)}."
    )


def missing_in_file(column: str, what: str, source: str, available: Iterable[object]) -> DataError:
    """A column a command needs that the file (or table) ``source`` lacks."""
    available = list(available)
    return DataError(f"{source} has no {what} column {column!r}.{closest(column, available)} "
                     f"Columns are: {_shorten(available)}.")


def unreadable_rows(source: str, why: str) -> DataError:
    """Serving rows that cannot be read: names the file (and line) and the formats expected."""
    return DataError(f"cannot read the serving rows {source}: {why}. Expected JSON Lines (one "
                     "record, a list of records or a logged request holding them per line) or "
                     "a CSV / Parquet table.")


def missing_features(missing: list[str], source: str) -> SchemaError:
    return SchemaError(
        f"{source} lacks {len(missing)} column(s) the model was trained on: {_shorten(missing)}. "
        "Add them (values may be empty) and try again."
    )


def no_features(target: str) -> DataError:
    return DataError(f"no feature columns left besides target {target!r}: add columns that "
                     "explain the target.")


def no_usable_features(columns: list) -> DataError:
    """Every column was excluded by the schema (``columns``: its ColumnInfo, role and reason)."""
    roles = ", ".join(f"{c.name!r} ({c.role}: {c.reason})" for c in columns[:8])
    return DataError(f"no usable feature columns: every column was excluded ({roles}).")


def bad_option(option: str, got: object, expected: str) -> ConfigError:
    return ConfigError(f"{option} must be {expected}, but got {got!r}.")


class TrackingError(MlexpertError):
    """The tracking store or model registry cannot do what was asked (unreachable, unknown name)."""


def tracking_unreachable(uri: str, reason: str) -> TrackingError:
    return TrackingError(
        f"cannot reach the tracking server at {uri!r} ({reason}). Start it, or pass another "
        "--tracking-uri / MLFLOW_TRACKING_URI (unset it to use the local store).")


def unknown_name(what: str, name: str, known: Iterable[object]) -> TrackingError:
    known = list(known)
    listing = f" Known: {_shorten(known)}." if known else f" There is no {what} yet."
    return TrackingError(f"no {what} named {name!r}.{closest(name, known)}{listing}")


class ExportError(MlexpertError):
    """A model (or one of its parts) cannot be exported to the requested format."""


def not_exportable(what: str, why: str, alternative: str) -> ExportError:
    """``what`` cannot go to ONNX because ``why``; ``alternative`` is the nearest thing that can."""
    return ExportError(f"cannot export {what} to ONNX: {why}. {alternative}")


def no_loss_series(source: str, columns: Iterable[object]) -> DataError:
    """A training history without a recognisable loss: names the source and what it holds."""
    columns = list(columns)
    found = _shorten(columns, limit=12) if columns else "none"
    return DataError(
        f"no loss series in {source}: found columns {found}. Name the training loss `loss` or "
        "`train_loss` and the validation loss `val_loss` (Keras, Lightning `_epoch` and "
        "`train/loss` spellings work too).")


def unreadable_history(source: str, why: str) -> DataError:
    """A history file that cannot be read as one row per epoch."""
    return DataError(f"cannot read the training history {source}: {why}. Expected a CSV, JSON "
                     "or JSON Lines file with one row per epoch (or a JSON object of lists).")
