"""Predictor: one loaded Model ready to serve, with its identity, its fast path and its checks.

A Predictor is immutable once built; a reload builds a new one and swaps the reference, so an
in-flight request finishes on the model it started with.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import median_seconds
from mlexpert.data import Role
from mlexpert.evaluate import thresholded
from mlexpert.serve._fastpath import FastPath, Rows, Unsupported
from mlexpert.serve._records import build_record_model, example_record

log = logging.getLogger("mlexpert.serve")
FAST_MAX_ROWS = 64  # above this, pandas' column-wise work beats the per-row fast path
VERIFY_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-5  # the export's parity promise (XGBoost sums its trees in float32)
ROW_PROBES = 30  # single-row calls timed per fast path when choosing between them


@dataclass
class Identity:
    """What the service says about the model it serves (in /metadata and every prediction)."""

    name: str
    version: str
    source: str


def model_identity(model: Any, source: str) -> Identity:
    """Name and version: the registry's when the manifest carries them, else the bundle's
    directory name and the first 12 hex digits of its members' SHA-256 (a content version)."""
    info = model.info
    registry = info.get("registry") or {}
    name = registry.get("name") or source.rstrip("/").rsplit("/", 1)[-1] or "model"
    version = registry.get("version")
    if version is None:
        digest = (info.get("files") or {}).get("members.joblib") or \
            (info.get("provenance") or {}).get("data_fingerprint") or "unsaved"
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

    def __post_init__(self) -> None:
        m = self.model
        self.task: str = m.task
        self.target: str = m.target
        self.classes: list[Any] | None = m.classes
        self.threshold: float | None = m.threshold  # binary decision threshold, as predict uses
        self.features = m.schema.features
        self.record_model = build_record_model(m.schema, strict=self.strict)
        from pydantic import TypeAdapter

        self.one = TypeAdapter(self.record_model)
        self.many = TypeAdapter(list[self.record_model])  # type: ignore[name-defined]
        self.known = {i: frozenset(c.categories) for i, c in enumerate(self.features)
                      if c.role == Role.CATEGORICAL
                      and len(c.categories) >= (c.stats or {}).get("n_categories", 0)}
        self.example = example_record(m.schema)
        self.fast, self.fast_note = self._fastest(m)

    def _fastest(self, model: Any) -> tuple[Any, str]:
        """The faster of the numpy fast path and the ONNX graph among those that match
        ``Model.predict_table`` on probe rows (timed on one row), and what was decided."""
        from mlexpert.serve._onnxpath import OnnxPath

        ok, problems = [], []
        for name, build, tolerance in (("numpy", FastPath, VERIFY_TOLERANCE),
                                       ("onnxruntime", OnnxPath, ONNX_TOLERANCE)):
            try:
                path = build(model)
                problem = self._verify(path, tolerance)
            except Unsupported as exc:
                path, problem = None, f"not compiled ({exc})"
            except Exception as exc:  # noqa: BLE001 - any failure only disables that path
                path, problem = None, f"failed to compile ({type(exc).__name__}: {exc})"
            if problem:
                problems.append(f"{name}: {problem}")
            else:
                ok.append((self._row_seconds(path), name, path))
        if not ok:
            note = "; ".join(problems)
            log.warning("fast path off for %s: %s; predicting through the Model",
                        self.identity.name, note)
            return None, note
        ok.sort(key=lambda t: t[0])
        timed = ", ".join(f"{n} {sec * 1e6:.0f} µs" for sec, n, _ in ok)
        return ok[0][2], (f"on: {ok[0][1]} (one row: {timed}; verified against "
                          "Model.predict_table" + "".join(f"; {p}" for p in problems) + ")")

    @cached_property
    def _probes(self) -> tuple[list[list[Any]], np.ndarray]:
        """Probe rows and the Model's own predictions for them (computed once per model)."""
        rows = self._probe_rows()
        return rows, self.predict_frame(self.frame(rows))

    def _row_seconds(self, path: Any) -> float:
        """Median seconds of one single-row prediction (after a warm-up)."""
        row = self._probes[0][:1]
        return median_seconds(lambda: path.predict(row), ROW_PROBES)

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
        cols: dict[str, Any] = {}
        for i, c in enumerate(self.features):
            values = [r[i] for r in rows]
            if c.role == Role.NUMERIC:
                cols[c.name] = np.array(values, dtype=float)
            elif c.role == Role.DATETIME:
                cols[c.name] = np.array(values, dtype="datetime64[ns]")
            else:
                cols[c.name] = pd.Series(values, dtype=object)
        return pd.DataFrame(cols)

    # -- prediction ------------------------------------------------------------------------
    def predict_rows(self, rows: Rows) -> np.ndarray:
        """(n, K) probabilities or (n,) values for canonical rows."""
        if self.fast is not None and len(rows) <= FAST_MAX_ROWS:
            return self.fast.predict(rows)
        return self.predict_frame(self.frame(rows))

    def predict_frame(self, frame: pd.DataFrame, source: str | None = None) -> np.ndarray:
        """The Model's own path, for batches (validates and coerces like ``Model.predict``)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # extra columns: ignored, as the contract says
            table = self.model.predict_table(frame, source=source)
        if self.task == "regression":
            return table[self.target].to_numpy(dtype=float)
        return table[[f"proba_{c}" for c in self.classes]].to_numpy(dtype=float)

    def labels(self, raw: np.ndarray) -> list[Any]:
        """Predicted labels (classification) or values (regression) as plain Python values."""
        if self.task == "regression":
            return [float(v) for v in raw]
        return [self.classes[i] for i in thresholded(raw, self.threshold).argmax(axis=1)]

    def _verify(self, fast: Any, tolerance: float = VERIFY_TOLERANCE) -> str:
        """'' when a fast path matches Model.predict_table on probe rows (one by one and all
        together, within ``tolerance``, the same labels), else the problem."""
        probes, want = self._probes
        got = np.concatenate([fast.predict(probes[i:i + 1]) for i in range(len(probes))])
        both = fast.predict(probes)
        err = max(float(np.max(np.abs(got - want))), float(np.max(np.abs(both - want))))
        if not np.isfinite(err) or err > tolerance:
            return f"differs from the Model by {err:.3g} on probe rows"
        if self.task != "regression" and self.labels(got) != self.labels(want):
            return "labels differ from the Model's on probe rows"
        return ""

    def _probe_rows(self) -> list[list[Any]]:
        """The example record, then rows with each value missing, unseen or at a quantile."""
        base = self.rows([self.one.validate_python(self.example)])[0]
        rng = np.random.default_rng(0)
        out = [base]
        for _ in range(24):
            row = list(base)
            for i, c in enumerate(self.features):
                u = rng.random()
                if u < 0.2:
                    row[i] = {Role.NUMERIC: np.nan, Role.CATEGORICAL: np.nan,
                              Role.DATETIME: np.datetime64("NaT", "ns"), Role.TEXT: ""}[c.role]
                elif c.role == Role.NUMERIC:
                    st = c.stats or {}
                    lo, hi = st.get("q01"), st.get("q99")
                    if lo is not None and hi is not None:
                        row[i] = float(rng.uniform(lo, hi))
                elif c.role == Role.CATEGORICAL:
                    cats = c.categories or ["x"]
                    row[i] = str(rng.choice(cats)) if u < 0.8 else "\x01unseen"
                elif c.role == Role.DATETIME and row[i] == row[i]:
                    row[i] = row[i] + np.timedelta64(int(rng.integers(0, 900)), "D")
                elif c.role == Role.TEXT:
                    row[i] = "good bad fine" if u < 0.6 else "zzz unseen words"
            out.append(row)
        return out
