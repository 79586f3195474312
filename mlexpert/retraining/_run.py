"""``retrain``: refit the champion's settings on new (and old) labelled rows, judge the challenger
against the champion on the same recent holdout, register it with its evidence, and promote it
only when the gate says so. Nothing runs by itself: a user (or their scheduler) calls it."""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import ConfigError, DataError, bad_option, missing_column
from mlexpert.retraining._gate import (
    Guardrail,
    Verdict,
    calibration_guard,
    gap_guard,
    judge,
    latency_guard,
    schema_guard,
)

MIN_HOLDOUT_ROWS = 30
# fit options a retrain takes from the champion's record of its own call (the rest: defaults)
CARRIED = ("task", "metric", "groups", "time_column", "entity", "ignore_columns", "keep_columns",
           "presets", "budget", "infer_limit", "size_limit", "calibrate", "select_columns",
           "optimize_threshold", "cost_matrix", "positive_class", "seed", "time_limit")


@dataclass
class RetrainResult:
    """What a retrain did: the challenger, the verdict, and where it went in the registry."""

    challenger: Any                      # the fitted Model
    verdict: Verdict
    champion: dict[str, Any]             # name, version or source of the champion
    holdout_rows: int
    training_rows: int
    registered: dict[str, Any] | None    # the registry's description of the new version
    promoted: bool
    options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"champion": self.champion, "holdout_rows": self.holdout_rows,
                "training_rows": self.training_rows, "options": self.options,
                "verdict": self.verdict.to_dict(), "promoted": self.promoted,
                "registered": self.registered}


def _champion(source: Any, uri: str | None) -> tuple[Any, dict[str, Any], str | None]:
    """The champion Model, how to name it, and its registered name (None: not registered).
    A bare name means ``models:/NAME@production``."""
    from mlexpert.tracking import is_model_uri, load_uri

    if hasattr(source, "manifest") and hasattr(source, "predict"):
        return source, {"source": "a Model object"}, None
    if not isinstance(source, str | Path):
        raise bad_option("champion", source, "a registered model name, models:/NAME@ALIAS, a "
                         "bundle directory or a Model")
    text = str(source)
    if Path(text).is_dir():
        from mlexpert.bundle import load

        return load(text), {"source": text}, None
    if not is_model_uri(text):
        if "/" in text or ":" in text:
            raise ConfigError(f"{text!r} is neither a bundle directory nor a registered model "
                              "(NAME or models:/NAME@ALIAS).")
        text = f"models:/{text}@production"
    model = load_uri(text, tracking_uri=uri)
    reg = model.manifest.registry or {}
    return model, {"source": text, "name": reg.get("name"), "version": reg.get("version")}, \
        reg.get("name")


def _options(champion: Any, time_limit: float | None, seed: int | None) -> dict[str, Any]:
    """The champion's own fit options (task and metric fixed to its), for the challenger."""
    call = dict(champion.manifest.provenance.get("call") or {})
    opts = {k: call[k] for k in CARRIED if k in call and call[k] is not None}
    opts["task"], opts["metric"] = champion.task, champion.manifest.metric
    if time_limit is not None:
        opts["time_limit"] = time_limit
    if seed is not None:
        opts["seed"] = seed
    if isinstance(opts.get("groups"), list):  # one value per row: not carried to new rows
        opts.pop("groups")
    return opts


def _unread(model: Any, frame: pd.DataFrame, options: dict[str, Any]) -> list[str]:
    """Columns the challenger may not read: those the champion did not read (ignored by its
    fit, or constant in its rows), so production's clients need send nothing new."""
    read = {c.name for c in model.schema.features}
    side = {options.get(k) for k in ("time_column", "groups", "entity")
            if isinstance(options.get(k), str)}
    given = list(options.get("ignore_columns") or ())
    return given + [c for c in frame.columns
                    if c not in read and c not in side and c != model.target and c not in given]


def _split(frame: pd.DataFrame, holdout: float, time_column: str | None,
           source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The most recent ``holdout`` share of rows (by ``time_column`` when the champion had
    one, else the file's order) and the rest."""
    if time_column is not None and time_column in frame.columns:
        from mlexpert.data import time_values

        order = np.argsort(time_values(frame[time_column], time_column), kind="stable")
        frame = frame.iloc[order]
    n_hold = int(round(len(frame) * holdout))
    if n_hold < MIN_HOLDOUT_ROWS or len(frame) - n_hold < MIN_HOLDOUT_ROWS:
        raise DataError(f"{source} has {len(frame):,} rows: a holdout of {holdout:.0%} leaves "
                        f"{n_hold} to judge on and {len(frame) - n_hold} to train on; both need "
                        f"at least {MIN_HOLDOUT_ROWS}. Send more rows or change --holdout.")
    return frame.iloc[:-n_hold], frame.iloc[-n_hold:]


def _encoded(model: Any, y: pd.Series, source: str) -> np.ndarray:
    """Holdout labels as the models' class indices (values for regression)."""
    if model.task == "regression":
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=float)
    index = {str(c): i for i, c in enumerate(model.classes)}
    keys = y.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise DataError(f"the holdout rows of {source} hold classes the champion does not know "
                        f"({unknown[:5]}); a gate cannot compare models on them. Fit a new model "
                        "instead, or drop those rows.")
    return keys.map(index).to_numpy(dtype=int)


def _outputs(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Class probabilities or values; columns a model does not read are expected here."""
    import warnings

    from mlexpert.bundle import ExtraColumnsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtraColumnsWarning)
        if model.task == "regression":
            return np.asarray(model.predict(X), dtype=float)
        return np.asarray(model.predict_proba(X), dtype=float)


def _guardrails(champion: Any, challenger: Any, holdout: pd.DataFrame, target: str,
                y: np.ndarray, a: np.ndarray, b: np.ndarray,
                sensitive_column: str | None) -> list[Guardrail]:
    from mlexpert.evaluate import get_metric

    out = [schema_guard([c.name for c in champion.schema.features],
                        [c.name for c in challenger.schema.features]),
           latency_guard((champion.manifest.inference or {}).get("estimated_ms_per_row"),
                         (challenger.manifest.inference or {}).get("estimated_ms_per_row"))]
    if champion.task != "regression":
        ece = get_metric("ece", champion.task)
        out.append(calibration_guard(ece.score(y, a), ece.score(y, b)))
    if sensitive_column is not None:
        if sensitive_column not in holdout.columns:
            raise missing_column(sensitive_column, "sensitive", holdout.columns)
        gap = "mean_prediction_difference" if champion.task == "regression" else \
            "demographic_parity_difference"
        ga = champion.evaluate(holdout, n_resamples=50, sensitive_column=sensitive_column)
        gb = challenger.evaluate(holdout, n_resamples=50, sensitive_column=sensitive_column)
        out.append(gap_guard(gap, ga["groups"].get(gap), gb["groups"].get(gap),
                             sensitive_column))
    return out


def retrain(champion: Any, data: Any, *, fitter: Callable[..., Any], reference: Any = None,
            holdout: float = 0.2, time_limit: float | None = None, seed: int | None = None,
            sensitive_column: str | None = None, register: bool = True,
            name: str | None = None, tracking_uri: str | None = None,
            out: str | Path | None = None) -> RetrainResult:
    """Refit ``champion`` (a registered name, ``models:/`` URI, bundle directory or Model) with
    its own settings on ``data`` (new labelled rows; plus ``reference``: the old training table,
    or True to read it again from where the champion's fit read it), judge it against the
    champion on the most recent ``holdout`` share of ``data`` (a paired bootstrap of the
    champion's metric, then the guardrails), and with ``register`` add it to the registry as a
    version of the champion's name (or ``name``) with its evidence; it moves to production only
    when the gate passes. ``out``: also save the challenger's bundle there. ``fitter``: ``fit``
    (injected by ``mlexpert.retrain``: this package sits below the fit it calls)."""
    from mlexpert.data import describe_source, read_table
    from mlexpert.evaluate import compare_paired, get_metric, thresholded

    if isinstance(holdout, bool) or not (isinstance(holdout, int | float) and 0 < holdout < 1):
        raise bad_option("holdout", holdout, "a share of the new rows between 0 and 1, e.g. 0.2")
    model, who, registered_name = _champion(champion, tracking_uri)
    name = name or registered_name
    if register and name is None:
        raise ConfigError("the champion is not a registered model, so there is no name to "
                          "register the challenger under; pass name= (CLI --name) or "
                          "register=False (--no-register).")
    source = describe_source(data)
    frame = read_table(data)
    target = model.target
    if target not in frame.columns:
        raise missing_column(target, "target", frame.columns)
    frame = frame[frame[target].notna()]
    options = _options(model, time_limit, seed)
    options["ignore_columns"] = _unread(model, frame, options)
    train, recent = _split(frame, holdout, options.get("time_column"), source)
    if reference is not None and reference is not False:
        train = pd.concat([_reference(model, reference), train], ignore_index=True)
    started = time.monotonic()
    challenger = fitter(train, target, **options)
    fit_seconds = time.monotonic() - started
    if model.task != "regression" and [str(c) for c in challenger.classes] != \
            [str(c) for c in model.classes]:
        raise DataError(f"the challenger learned classes {challenger.classes}, the champion "
                        f"{model.classes}; a gate cannot compare them. Review the new labels.")
    y = _encoded(model, recent[target], source)
    X = recent.drop(columns=[target])
    a, b = _outputs(model, X), _outputs(challenger, X)
    metric = get_metric(model.manifest.metric, model.task)
    ma, mb = (thresholded(a, model.threshold), thresholded(b, challenger.threshold)) \
        if metric.uses_labels else (a, b)
    comparison = compare_paired(metric, y, ma, mb, seed=options.get("seed", 0))
    guards = _guardrails(model, challenger, recent, target, y, a, b, sensitive_column)
    verdict = judge(comparison, guards)
    if out is not None:
        challenger.save(out)
    registered, promoted = None, False
    if register:
        registered, promoted = _register(challenger, name, verdict, tracking_uri, out)
    options = {**options, "fit_seconds": round(fit_seconds, 2)}
    return RetrainResult(challenger=challenger, verdict=verdict, champion=who,
                         holdout_rows=len(recent), training_rows=len(train),
                         registered=registered, promoted=promoted, options=options)


def _reference(model: Any, reference: Any) -> pd.DataFrame:
    """The old training rows: a table given, or (True) the file the champion's fit read, when it
    is still there and unchanged."""
    from mlexpert.data import fingerprint, read_table

    if reference is not True:
        return read_table(reference)
    prov = model.manifest.provenance
    path = prov.get("source")
    if not path or not Path(str(path)).is_file():
        raise DataError(f"the champion was fitted on {path or 'an in-memory table'}, which is not "
                        "a file here; pass the old training table (--reference PATH).")
    frame = read_table(path)
    if prov.get("data_fingerprint") and fingerprint(frame) != prov["data_fingerprint"]:
        raise DataError(f"{path} changed since the champion was fitted on it (its fingerprint "
                        "differs); pass the table it was fitted on with --reference PATH.")
    return frame


def _register(challenger: Any, name: str, verdict: Verdict, uri: str | None,
              out: str | Path | None) -> tuple[dict[str, Any], bool]:
    """Register the challenger with its evidence (tags), promote it when the gate passed."""
    from mlexpert.tracking import promote, register

    c = verdict.comparison
    evidence = {"mlexpert.gate": "passed" if verdict.promote else "refused",
                "mlexpert.gate.reason": verdict.reason[:4000],
                "mlexpert.gate.metric": c.metric,
                "mlexpert.gate.champion": f"{c.champion:.6g}",
                "mlexpert.gate.challenger": f"{c.challenger:.6g}",
                "mlexpert.gate.difference": f"{c.difference:+.6g} "
                                            f"[{c.difference_interval[0]:+.6g}, "
                                            f"{c.difference_interval[1]:+.6g}]",
                "mlexpert.gate.rows": str(c.rows)}
    for g in verdict.guardrails:
        evidence[f"mlexpert.gate.{g.name}"] = ("passed: " if g.passed else "failed: ") + g.note
    with tempfile.TemporaryDirectory(prefix="mlexpert-retrain-") as tmp:
        bundle = Path(out) if out is not None else challenger.save(Path(tmp) / "challenger")
        description = register(str(bundle), name, uri=uri, reason=f"retrain: {verdict.reason}",
                               tags=evidence)
    if not verdict.promote:
        return description, False
    # force: the gate's schema guardrail checked that the challenger reads no column the
    # champion did not (the registry's own check refuses any difference, even fewer columns)
    description = promote(name, description["version"], "production", uri=uri,
                          reason=verdict.reason, force=True)
    return description, True
