"""Model: the fitted ensemble with its schema, and the bundle directory it is saved as.

Layout of a bundle directory::

    manifest.json    format and version, library versions, target and task, schema with training
                     statistics, metric with interval, leaderboard, plan, findings, provenance,
                     and the SHA-256 of every other file
    members.pkl.gz   the fitted preprocessors and models (a gzip pickle; ``members.joblib``, a
                     joblib pickle, in format 1); see ``mlexpert.ensemble`` for how it is read
    reference.parquet  a bounded sample of the training rows and their validation predictions,
                     for drift checks (optional; its statistics are in ``manifest["reference"]``)
    compiled.onnx    the ONNX graph small predictions run on, when that was the compiled path
                     chosen before saving (optional; ``manifest["compiled"]``): a process that
                     loads the bundle builds its session from it instead of converting again
    compiled.pkl     or the numpy path, when that was chosen and pickles without scikit-learn
                     (``runtime.FastPath.portable``; a plain pickle, read for speed): the first
                     rows after ``load`` are answered from it, without unpickling the members

Saving is atomic (written to a sibling temp dir, then renamed), so an interrupted save leaves
either no bundle or a complete one. Loading checks the format version and the SHA-256 of the
members' file against the manifest *before* unpickling it, so a tampered or truncated file is
refused without running any code from it. Pickle still runs code from the file it loads: load
bundles only from places you trust, as with any pickle.
"""
from __future__ import annotations

import io
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._first_use import OnFirstUse
from mlexpert._format import (
    COMPILED,
    COMPILED_NUMPY,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    PAYLOADS,
    REFERENCE,
    check_writable,
    library_versions,
    sha256,
    verified_contents,
)
from mlexpert._hotpath import CompiledPath
from mlexpert._io import atomic_dir, dumps
from mlexpert._manifest import Manifest
from mlexpert._version import __version__
from mlexpert.data import Schema, category_text, describe_source, read_table
from mlexpert.ensemble import (
    HOT_CALLS,
    SMALL_BATCH,
    Ensemble,
    Member,
    read_payload,
    write_payload,
)
from mlexpert.errors import ConfigError, DataError, missing_column
from mlexpert.evaluate import Calibrator, Evaluation, diagnostics, score_all, thresholded
from mlexpert.findings import Finding

MEMBERS = PAYLOADS[FORMAT_VERSION]
__all__ = ["COMPILED", "COMPILED_NUMPY", "FORMAT", "FORMAT_VERSION", "HOT_CALLS", "MANIFEST", "MEMBERS", "REFERENCE",
           "SMALL_BATCH", "ExtraColumnsWarning", "Manifest", "Model", "check_writable", "library_versions",
           "load"]


class ExtraColumnsWarning(UserWarning):
    """Prediction input had columns the model does not use; they were ignored."""


class Model(CompiledPath):
    """A fitted mlexpert model: predicts from raw tables and saves to a bundle directory."""

    def __init__(self, manifest: Manifest | dict[str, Any],
                 members: list[Member] | Callable[[], list[Member]],
                 reference: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
                 stored: tuple[str, bytes] | None = None):
        """``members`` and ``reference``: the values, or functions that read them on first use
        (``load``); ``stored``: the compiled path saved with them, its file name and bytes
        (checked by ``load``)."""
        if not isinstance(manifest, Manifest):
            manifest = Manifest.from_dict(manifest)
        self._record = manifest
        self._reference_box = OnFirstUse(read=reference) if callable(reference) else \
            OnFirstUse(reference)
        self.schema = Schema.from_dict(manifest.schema)
        self.target: str = manifest.target.name
        self.task: str = manifest.target.task
        self.classes: list[Any] | None = manifest.target.classes
        self.metric: str = manifest.metric
        cal = manifest.calibration

        def ensemble(members: list[Member]) -> Ensemble:
            return Ensemble(members, self.task, Calibrator.from_dict(cal) if cal else None)

        self._ensemble_box: OnFirstUse[Ensemble] = \
            OnFirstUse(read=lambda: ensemble(members())) if callable(members) else \
            OnFirstUse(ensemble(members))
        self._init_compiled(stored)

    @property
    def ensemble(self) -> Ensemble:
        """The members and their weighted average (a loaded bundle's are unpickled here, on
        first use: small batches may be answered from its stored graph without them)."""
        return self._ensemble_box.get()

    @ensemble.setter
    def ensemble(self, value: Ensemble) -> None:
        self._ensemble_box = OnFirstUse(value)

    def _members_id(self) -> int:
        """Which members this Model holds, known without reading them (``CompiledPath``)."""
        return id(self._ensemble_box)

    @property
    def _reference(self) -> pd.DataFrame | None:
        return self._reference_box.get()

    @property
    def _members(self) -> list[Member]:  # for tests and benches that look inside
        return self.ensemble.members

    @property
    def manifest(self) -> Manifest:
        """What fit recorded, as typed fields (read-only; ``info`` is its JSON form). A model
        with other sections is a new Model: ``Model(m.manifest.with_sections(...), ...)``."""
        return self._record

    @property
    def _manifest(self) -> dict[str, Any]:  # the JSON form, for tests and benches that look inside
        return self.manifest.to_dict()

    def __getstate__(self) -> dict[str, Any]:  # the compiled path (an onnxruntime session), the
        state = dict(self.__dict__)  # lock and the thread do not pickle; a copy rebuilds them
        state.update(_small_calls=0, _compiled=None, _unverified=False, _compile_lock=None,
                     _building=None, _last_small=0.0, _label_cache=None,
                     _graph=None)  # a copy's members are not the ones the graph was saved with
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a Model pickled before its members and sample were read on first use held them plain
        boxes = {f"_{k.strip('_')}_box": OnFirstUse(state.pop(k))
                 for k in ("ensemble", "_reference") if k in state}
        self.__dict__.update({"_last_small": 0.0, "_unverified": False, **state, **boxes},
                             _compile_lock=threading.Lock())

    # -- what a user reads -------------------------------------------------------------------
    @property
    def leaderboard(self) -> pd.DataFrame:
        """Candidates with their cross-validated score, best first, and the ensemble's share;
        tuning trials pruned after their first folds (no full score) are in ``leaderboard_all``."""
        return pd.DataFrame([r for r in self.manifest.leaderboard if r.get("status") != "pruned"])

    @property
    def leaderboard_all(self) -> pd.DataFrame:
        """Every candidate tried, pruned tuning trials included."""
        return pd.DataFrame(self.manifest.leaderboard)

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Cross-validated (out-of-fold) metrics of the final ensemble, with 95 % intervals."""
        return self.manifest.metrics["cv"]

    @property
    def findings(self) -> list[Finding]:
        """What fit noticed about the data and the plan (excluded columns, suggested splits...)."""
        return [Finding.from_dict(f) for f in self.manifest.findings]

    @property
    def info(self) -> dict[str, Any]:
        """The manifest: everything recorded about this model (a copy)."""
        return json.loads(json.dumps(self.manifest.to_dict()))

    @property
    def members_sha256(self) -> str | None:
        """SHA-256 of the saved members' file, a content version (None until saved)."""
        files = self.manifest.files or {}
        return next((files[f] for f in PAYLOADS.values() if f in files), None)

    @property
    def reference_sample(self) -> pd.DataFrame | None:
        """The bounded sample of training rows kept for drift checks (None in older bundles)."""
        return self._reference

    def __repr__(self) -> str:
        m = self.metrics.get(self.metric, {})
        return (f"Model(task={self.task!r}, target={self.target!r}, metric={self.metric}="
                f"{m.get('value', float('nan')):.4f}, members={[x.name for x in self._members]})")

    # -- prediction -------------------------------------------------------------------------
    def _read(self, data: Any, source: str) -> pd.DataFrame:
        frame = read_table(data, copy=False)  # read only: prepare makes the arrays
        if len(frame) == 0:
            raise DataError(f"{source} has no rows to predict.")
        unused = {self.target, *self.manifest.plan.get("selected_out", ())}  # fit dropped these
        extra = [c for c in self.schema.extra_columns(frame) if c not in unused]
        if extra:
            warnings.warn(f"ignored {len(extra)} column(s) the model does not use: "
                          f"{', '.join(map(repr, extra[:8]))}" + (" ..." if len(extra) > 8 else ""),
                          ExtraColumnsWarning, stacklevel=4)
        return frame

    def _features(self, data: Any, source: str | None = None) -> pd.DataFrame:
        source = source or describe_source(data)
        return self.schema.prepare(self._read(data, source), source)

    def _predict_raw(self, data: Any, source: str | None = None, *, compiled: bool = True,
                     invalid: str = "raise") -> tuple[np.ndarray, pd.Index]:
        """(raw prediction, the input's index): small batches through the compiled path once
        it is built and verified (``compiled_path``), everything else through the members."""
        source = source or describe_source(data)
        frame = self._read(data, source)
        if compiled and len(frame) <= SMALL_BATCH:
            try:
                path = self._hot_path()
                if path is not None:
                    rows = list(zip(*self.schema.prepare_arrays(frame, source, invalid=invalid),
                                    strict=True))
                    try:
                        return path.predict(rows), frame.index
                    except Exception:  # noqa: BLE001 - a value the probes never showed it: the
                        pass  # members answer (validation errors came before, from prepare)
                X = self.schema.prepare(frame, source, invalid=invalid)
                return self._raw(X), X.index
            finally:
                self._last_small = time.monotonic()
        X = self.schema.prepare(frame, source, invalid=invalid)
        return self._raw(X), X.index

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        """The ensemble's calibrated prediction of prepared rows (``Ensemble.raw``)."""
        return self.ensemble.raw(X)

    @property
    def threshold(self) -> float | None:
        """Binary decision threshold chosen at fit (positive above it), or None (argmax)."""
        decision = self.manifest.decision
        return None if not decision else float(decision["threshold"])

    def _labels(self, raw: np.ndarray, index: pd.Index) -> pd.Series:
        if self.task == "regression":
            return pd.Series(raw, index=index, name=self.target)
        chosen = thresholded(raw, self.threshold).argmax(axis=1)
        return pd.Series(self._class_labels().take(chosen), index=index, name=self.target)

    def _class_labels(self) -> Any:
        """The class labels as one pandas array, typed once from all of them (bool, int, str...;
        typing each call's labels cost ~100 µs of a one-row predict)."""
        cached = self.__dict__.get("_label_cache")
        if cached is None or cached[0] is not self.classes:
            labels = pd.Series(np.asarray(self.classes, dtype=object)).infer_objects().array
            cached = self._label_cache = (self.classes, labels)
        return cached[1]

    def _proba(self, raw: np.ndarray, index: pd.Index) -> pd.DataFrame:
        return pd.DataFrame(raw / raw.sum(axis=1, keepdims=True), index=index,
                            columns=list(self.classes))

    def predict(self, data: Any, *, invalid: str = "raise") -> pd.Series:
        """Labels (classification) or values (regression), one per input row, input's index.
        ``invalid``: a value the model cannot read raises ``InvalidValues`` ('raise') or is
        predicted as missing ('missing')."""
        return self._labels(*self._predict_raw(data, invalid=invalid))

    def predict_proba(self, data: Any, *, invalid: str = "raise") -> pd.DataFrame:
        """Class probabilities: one column per class label, rows sum to 1 (classification only)."""
        if self.task == "regression":
            raise DataError("predict_proba is for classification; this model does regression. "
                            "Use predict.")
        return self._proba(*self._predict_raw(data, invalid=invalid))

    def predict_table(self, data: Any, *, source: str | None = None,
                      invalid: str = "raise") -> pd.DataFrame:
        """Batch scoring in one pass: the prediction column (named after the target) and, for
        classification, one ``proba_<class>`` column per class. ``source`` names the data in
        error messages (e.g. the file a DataFrame was read from)."""
        raw, index = self._predict_raw(data, source, invalid=invalid)
        out = self._labels(raw, index).to_frame()
        if self.task != "regression":
            proba = self._proba(raw, index)
            proba.columns = [f"proba_{c}" for c in proba.columns]
            out = pd.concat([out, proba], axis=1)
        return out

    def evaluate(self, data: Any, *, n_resamples: int = 1000, sensitive_column: str | None = None,
                 seed: int = 0) -> Evaluation:
        """Every applicable metric on labelled ``data`` with 95 % bootstrap intervals, the curves
        and confusion matrix (``diagnostics``), calibration, the decision threshold, and with
        ``sensitive_column`` the metrics per group and the fairness gaps (``groups``); a dict
        with a one-line repr (``to_dict()`` for the plain dict)."""
        frame, y, raw = self._labelled(data)
        out = Evaluation({"rows": int(len(y)), "task": self.task, "metric": self.metric,
               "threshold": self.threshold,
               "calibration": (self.manifest.calibration or {}).get("method"),
               "metrics": score_all(self.task, y, raw, threshold=self.threshold,
                                    n_resamples=n_resamples, seed=seed),
               "diagnostics": diagnostics(self.task, y, raw, self.classes, self.threshold, seed)})
        if sensitive_column is not None:
            from mlexpert.explain import group_checks

            out["groups"] = group_checks(self, frame, y, raw, sensitive_column,
                                         n_resamples=n_resamples, seed=seed)
        return out

    def explain(self, data: Any, *, class_label: Any = None, source: str | None = None) -> Any:
        """Per-row contributions of each input column (SHAP) that sum to the prediction:
        ``base_value + contributions.sum(axis=1) == prediction``. Regression: the predicted
        value. Binary: the probability of ``class_label`` (default the second class).
        Multiclass: of ``class_label``, by default each row's predicted class. See
        ``mlexpert.explain`` for how ensembles and probabilities are handled. ``source``: how
        messages name the data (default: described from ``data``)."""
        from mlexpert.explain import Explanation, contributions

        X = self._features(data, source)
        phi, base, cols = contributions(self.ensemble.members, X, self.task,
                                        len(self.classes or []), self.ensemble.calibrator)
        rows = np.arange(len(X))
        if self.task == "regression":
            k, output = np.zeros(len(X), dtype=int), "predicted value"
        elif class_label is None and self.task == "multiclass":
            k = (base + phi.sum(axis=1)).argmax(axis=1)
            output = "probability of each row's predicted class"
        else:
            label = self.classes[1] if class_label is None else class_label
            names = [str(c) for c in self.classes]
            if str(label) not in names:
                raise DataError(f"class_label {label!r} is not a class of this model; classes "
                                f"are {', '.join(map(repr, names))}.")
            k = np.full(len(X), names.index(str(label)))
            output = f"probability of class {label!r}"
        contrib = pd.DataFrame(phi[rows, :, k], index=X.index, columns=cols)
        base_value = pd.Series(base[rows, k], index=X.index)
        return Explanation(contrib, base_value, base_value + contrib.sum(axis=1), output)

    def explain_global(self, data: Any, *, n_repeats: int = 5, top: int = 3, seed: int = 0,
                       shap_rows: int = 300) -> dict[str, Any]:
        """On labelled held-out ``data``: permutation importance (loss increase of the model's
        metric, 95 % interval over ``n_repeats``), mean |SHAP| per column with the values behind
        a summary plot (``shap_rows`` rows), and partial dependence of the ``top`` columns."""
        from mlexpert.data import Role
        from mlexpert.evaluate import get_metric
        from mlexpert.explain import contributions, partial_dependence, permutation_importance

        frame, y, _ = self._labelled(data)
        X = self.schema.prepare(frame, describe_source(data)).reset_index(drop=True)
        metric = get_metric(self.metric, self.task)
        perm = permutation_importance(self._raw, X, y, metric, n_repeats=n_repeats, seed=seed)
        rng = np.random.default_rng(seed)
        sample = X.iloc[np.sort(rng.choice(len(X), min(len(X), shap_rows), replace=False))]
        phi, _, cols = contributions(self.ensemble.members, sample, self.task,
                                     len(self.classes or []), self.ensemble.calibrator)
        # binary: the positive class; multiclass: mean |contribution| over classes
        mag = np.abs(phi[:, :, 1]) if self.task == "binary" else np.abs(phi).mean(axis=2)
        order = np.argsort(-mag.mean(axis=0))
        signed = phi[:, :, 1] if self.task == "binary" else phi[:, :, 0]
        numeric = set(self.schema.names(Role.NUMERIC))
        summary = []
        for j in order:
            col = cols[j]
            values = pd.to_numeric(sample[col], errors="coerce") if col in numeric else None
            summary.append({"column": col, "mean_abs": float(mag[:, j].mean()),
                            "contributions": np.round(signed[:, j], 6).tolist()
                            if self.task != "multiclass" else None,
                            "values": None if values is None else
                            [None if pd.isna(v) else float(v) for v in values]})
        ranked = [r["column"] for r in perm] or [s["column"] for s in summary]
        pdp = [partial_dependence(self._raw, X, c, numeric=c in numeric, seed=seed)
               for c in ranked[:top]]
        return {"rows": int(len(X)), "metric": self.metric, "permutation_importance": perm,
                "shap": {"rows": int(len(sample)), "summary": summary,
                         "output": "predicted value" if self.task == "regression" else
                         "probability (positive class)" if self.task == "binary" else
                         "probability (mean over classes)"},
                "partial_dependence": pdp}

    def _labelled(self, data: Any) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """(rows with a usable target, encoded target, raw prediction) of labelled ``data``."""
        frame, y = self._targets(data, "evaluate against")
        return frame, y, self._raw(self.schema.prepare(frame, describe_source(data)))

    def _targets(self, data: Any, purpose: str) -> tuple[pd.DataFrame, np.ndarray]:
        """(rows with a usable target, the target encoded as fit encoded it) of ``data``."""
        frame = read_table(data)
        if self.target not in frame.columns:
            raise missing_column(self.target, "target", frame.columns)
        frame = frame[frame[self.target].notna()]
        if len(frame) == 0:
            raise DataError(f"target column {self.target!r} has no values to {purpose}.")
        if self.task == "regression":
            y = pd.to_numeric(frame[self.target], errors="coerce").to_numpy(float)
            ok = np.isfinite(y)
            y, frame = y[ok], frame[ok]
            if not len(y):
                raise DataError(f"target column {self.target!r} has no numbers to {purpose}; "
                                "fill it with the true values.")
            return frame, y
        index = {str(c): i for i, c in enumerate(self.classes)}
        labels = category_text(frame[self.target]).map(lambda v: index.get(v, -1)).to_numpy()
        unknown = sorted({str(v) for v, i in zip(frame[self.target], labels, strict=True) if i < 0})
        if unknown:
            raise DataError(f"target column {self.target!r} has labels the model never saw: "
                            f"{', '.join(map(repr, unknown[:5]))}. Known: "
                            f"{', '.join(map(repr, map(str, self.classes)))}.")
        return frame, labels.astype(int)

    def with_history(self, data: Any) -> Model:
        """A copy of this model whose entity history also holds the rows of ``data`` with a
        known target (fit's ``entity``): its predictions for those entities' later rows start
        from them, without refitting. Save it as a new bundle to serve it."""
        import copy

        entity = self.manifest.plan.get("entity")
        if not entity:
            raise ConfigError("this model was fitted without entity history: there is no "
                              "history to add rows to. Fit with time_column and entity "
                              "(CLI: --time-column, --entity).")
        frame, y = self._targets(data, "add to the history")
        if entity.get("relative") and (y <= 0).any():
            at = int(np.flatnonzero(y <= 0)[0])
            raise DataError(f"target column {self.target!r} has {y[at]!r} at row "
                            f"{frame.index[at]!r}: this "
                            "model follows its entities' values in proportion (fit saw only "
                            "positive ones), so history rows need positive targets.")
        from mlexpert.features import extend_history  # scikit-learn: not on load's path

        X = self.schema.prepare(frame, describe_source(data))
        members = copy.deepcopy(self.ensemble.members)
        for member in members:
            for transformer in {id(t): t for t, _ in member.parts}.values():
                extend_history(transformer, X, y)
        added = int(self.manifest.provenance.get("history_rows_added", 0)) + len(frame)
        return Model(self.manifest.with_sections(
            provenance={**self.manifest.provenance, "history_rows_added": added}),
            members, self._reference)

    # -- deployment -------------------------------------------------------------------------
    def to_onnx(self, path: str | os.PathLike) -> Path:
        """Write the whole pipeline (preprocessing, every member, the ensemble average,
        calibration and threshold) as one ONNX graph to ``path``, atomically. Inputs: one per
        feature column (see ``mlexpert.export.onnx_inputs``); metadata: schema, classes, task,
        metric, version. Raises ExportError naming the part that cannot be exported."""
        from mlexpert.export import save_onnx  # a layer above: imported on use only

        return save_onnx(self, path)

    def distill(self, data: Any, out: str | os.PathLike | None = None, *, test: Any = None,
                time_limit: float = 60.0, seed: int = 0, overwrite: bool = False,
                onnx: bool = False) -> Any:
        """One LightGBM model trained on this model's soft predictions over ``data`` (the
        training table) augmented with MUNGE samples; saved to ``out`` when given. Returns a
        ``Distilled``: ``.model`` (an ordinary Model) and ``.report`` (the accuracy lost, on
        ``test`` or a held-out fifth of ``data``, and the speed gained, with bootstrap
        intervals). ``onnx``: also write ``out/model.onnx``."""
        from mlexpert.export import distill  # a layer above: imported on use only

        return distill(self, data, out=out, test=test, time_limit=time_limit, seed=seed,
                       overwrite=overwrite, onnx=onnx)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the bundle to ``path`` atomically; refuse to replace anything but a bundle."""
        path = Path(path)
        check_writable(path, overwrite=overwrite)
        key, stored = self._key(), self._path_to_store()
        with atomic_dir(path) as tmp:
            write_payload(self.ensemble.members, tmp / MEMBERS)
            files = {MEMBERS: sha256(tmp / MEMBERS)}
            if self._reference is not None:
                self._reference.to_parquet(tmp / REFERENCE, index=False)
                files[REFERENCE] = sha256(tmp / REFERENCE)
            compiled = None
            if stored is not None:  # a process that loads the bundle skips the build
                fname, data, verified_by = stored
                (tmp / fname).write_bytes(data)
                files[fname] = sha256(tmp / fname)
                compiled = {"file": fname, "mlexpert_version": __version__, "bytes": len(data),
                            **verified_by}
            manifest = self.manifest.with_sections(
                format=FORMAT, format_version=FORMAT_VERSION, files=files, compiled=compiled,
                saved_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            (tmp / MANIFEST).write_text(dumps(manifest.to_dict(), indent=1))
        self._record = manifest
        if self._compiled is not None and self._compiled[0] == key:  # the same model, saved
            self._compiled = (self._key(), *self._compiled[1:])
        return path


def load(path: str | os.PathLike, *, registry: dict[str, Any] | None = None) -> Model:
    """Load a bundle written by :meth:`Model.save` (format 1 or 2), verifying format version
    and file hashes before reading the members. ``registry``: where it was fetched from (name,
    version, run id, URI), kept in ``info["registry"]``, in memory only."""
    path = Path(path)
    manifest, payload, contents = verified_contents(path)
    data = contents[payload]  # checked: the members are unpickled from these bytes, on use
    members = lambda: read_payload(path / payload, data)  # noqa: E731
    # Parquet holds data only (no code); its hash was checked with the others
    sample = contents.get(REFERENCE)
    reference = None if sample is None else (lambda: pd.read_parquet(io.BytesIO(sample)))
    record = Manifest.from_dict(manifest)
    if registry is not None:
        record = record.with_sections(registry=registry)
    stored = next(((f, contents[f]) for f in (COMPILED, COMPILED_NUMPY) if f in contents), None)
    return Model(record, members, reference, stored)
