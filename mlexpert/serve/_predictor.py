"""Predictor: one loaded Model ready to serve, with its identity, its fast path and its checks.

A Predictor is immutable once built; a reload builds a new one and swaps the reference, so an
in-flight request finishes on the model it started with. The one exception is a model with entity
history: ``POST /feedback`` extends its stored rows in place (``_history``), and its predictions
hold the history's lock for reading meanwhile.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.data import Role
from mlexpert.evaluate import thresholded
from mlexpert.runtime import (
    FAST_MAX_ROWS,
    VERIFY_TOLERANCE,
    FastPath,
    Rows,
    fastest,
    probe_rows,
    reference,
    rows_frame,
    verify,
)
from mlexpert.serve._history import ServedHistory, served_history
from mlexpert.serve._records import build_record_model, example_record

log = logging.getLogger("mlexpert.serve")


@dataclass
class Identity:
    """What the service says about the model it serves (in /metadata and every prediction)."""

    name: str
    version: str
    source: str


def model_identity(model: Any, source: str) -> Identity:
    """Name and version: the registry's when the manifest carries them, else the bundle's
    directory name and the first 12 hex digits of its members' SHA-256 (a content version)."""
    info = model.manifest
    registry = info.registry or {}
    name = registry.get("name") or source.rstrip("/").rsplit("/", 1)[-1] or "model"
    version = registry.get("version")
    if version is None:
        digest = model.members_sha256 or \
            info.provenance.get("data_fingerprint") or "unsaved"
        version = f"sha256:{str(digest)[:12]}"
    return Identity(name=str(name), version=str(version), source=source)


@dataclass
class Predictor:
    """A Model plus everything the service derives from it once: request model, fast path."""

    model: Any
    identity: Identity
    strict: bool = False
    fast: FastPath | None = field(default=None, init=False)
    fast_note: str = field(default="", init=False)
    history: ServedHistory | None = field(default=None, init=False)  # entity history, if any

    def __post_init__(self) -> None:
        m = self.model
        self.task: str = m.task
        self.target: str = m.target
        self.classes: list[Any] | None = m.classes
        self.threshold: float | None = m.threshold  # binary decision threshold, as predict uses
        self.features = m.schema.features
        self.feature_index = {c.name: i for i, c in enumerate(self.features)}
        self.record_model = build_record_model(m.schema, strict=self.strict)
        from pydantic import TypeAdapter

        self.one = TypeAdapter(self.record_model)
        self.many = TypeAdapter(list[self.record_model])  # type: ignore[name-defined]
        self.known = {i: frozenset(c.categories) for i, c in enumerate(self.features)
                      if c.role == Role.CATEGORICAL
                      and len(c.categories) >= (c.stats or {}).get("n_categories", 0)}
        self.example = example_record(m.schema)
        self.history = served_history(m, self.feature_index)
        self.fast, self.fast_note = self._fastest(m)

    def _fastest(self, model: Any) -> tuple[Any, str]:
        """The faster verified compiled path (``runtime.fastest``) on this service's probe rows."""
        probes, want = self._probes
        path, note = fastest(model, probes, want)
        model.use_compiled(path, note)  # small uploads through the Model reuse it
        if path is None:
            log.warning("fast path off for %s: %s; predicting through the Model",
                        self.identity.name, note)
        return path, note

    @cached_property
    def _probes(self) -> tuple[list[list[Any]], np.ndarray]:
        """Probe rows (the example record, then perturbed copies) and the Model's own answers
        for them (computed once per model)."""
        rows = probe_rows(self.model.schema,
                          self.rows([self.one.validate_python(self.example)]))
        return rows, reference(self.model, rows)

    # -- rows ------------------------------------------------------------------------------
    def rows(self, records: list[Any]) -> list[list[Any]]:
        """Validated records -> canonical rows, one value per feature in schema order."""
        return [list(r.__dict__.values()) for r in records]

    def unseen(self, rows: Rows) -> dict[str, int]:
        """Per categorical column, how many values were not among the training categories."""
        out: dict[str, int] = {}
        for i, known in self.known.items():
            n = sum(1 for r in rows if isinstance(r[i], str) and r[i] not in known)
            if n:
                out[self.features[i].name] = n
        return out

    def unseen_in_frame(self, frame: pd.DataFrame) -> dict[str, int]:
        """``unseen`` for an uploaded table (raw values, canonicalized as the schema does)."""
        from mlexpert.data import category_value

        out: dict[str, int] = {}
        for i, known in self.known.items():
            name = self.features[i].name
            if name in frame.columns:  # canonicalize each distinct value once, not each row
                counts = frame[name].value_counts(dropna=True)
                n = int(sum(k for v, k in counts.items() if category_value(v) not in known))
                if n:
                    out[name] = n
        return out

    def frame(self, rows: Rows) -> pd.DataFrame:
        """Canonical rows as the DataFrame ``Schema.prepare`` expects."""
        return rows_frame(self.model.schema, rows)

    # -- prediction ------------------------------------------------------------------------
    def predict_rows(self, rows: Rows) -> np.ndarray:
        """(n, K) probabilities or (n,) values for canonical rows."""
        if self.history is None:
            return self._predict_rows(rows)
        with self.history.lock.reading():
            return self._predict_rows(rows)

    def try_predict_rows(self, rows: Rows) -> np.ndarray | None:
        """``predict_rows`` without waiting (the event loop's inline fast path): None while a
        feedback extends this model's entity history (predict in a worker thread then)."""
        if self.history is None:
            return self._predict_rows(rows)
        if not self.history.lock.acquire_read(blocking=False):
            return None
        try:
            return self._predict_rows(rows)
        finally:
            self.history.lock.release_read()

    def _predict_rows(self, rows: Rows) -> np.ndarray:
        if self.fast is not None and len(rows) <= FAST_MAX_ROWS:
            return self.fast.predict(rows)
        return self._predict_frame(self.frame(rows))

    def predict_frame(self, frame: pd.DataFrame, source: str | None = None) -> np.ndarray:
        """The Model's own path, for batches of rows the service has validated already (its
        ``invalid`` choice is made there: what is left unreadable here is predicted as missing)."""
        if self.history is None:
            return self._predict_frame(frame, source)
        with self.history.lock.reading():
            return self._predict_frame(frame, source)

    def _predict_frame(self, frame: pd.DataFrame, source: str | None = None) -> np.ndarray:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # extra columns: ignored, as the contract says
            table = self.model.predict_table(frame, source=source, invalid="missing")
        if self.task == "regression":
            return table[self.target].to_numpy(dtype=float)
        return table[[f"proba_{c}" for c in self.classes]].to_numpy(dtype=float)

    def labels(self, raw: np.ndarray) -> list[Any]:
        """Predicted labels (classification) or values (regression) as plain Python values."""
        if self.task == "regression":
            return [float(v) for v in raw]
        return [self.classes[i] for i in thresholded(raw, self.threshold).argmax(axis=1)]

    def _verify(self, fast: Any, tolerance: float = VERIFY_TOLERANCE) -> str:
        """'' when a compiled path matches the Model on the probe rows, else the problem."""
        probes, want = self._probes
        return verify(self.model, fast, probes, want, tolerance)
