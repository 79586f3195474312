"""Train/serve skew: rows as the service receives them checked against the training schema
(numbers sent as text, new categories, other units, constant columns, missing-rate changes), the
bundle's library versions against this environment, and the bundle's predictions on its stored
training sample against the validation-time predictions stored with it.

The distribution tests are the monitor's (``monitor.compare``: new categories, missing rate, KS,
PSI with Benjamini-Hochberg); this module reads their verdicts as skew and adds what a drift
test does not say: the value types on the wire, a unit factor and a constant column."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._format import library_versions
from mlexpert.bundle import Model
from mlexpert.data import Role, describe_source, read_table
from mlexpert.ensemble import SHIPPED
from mlexpert.errors import BundleError, unreadable_rows
from mlexpert.findings import Finding
from mlexpert.monitor import PREDICTION, compare, model_reference, prediction_values

JSON_LINES = (".jsonl", ".ndjson", ".json", ".log")
RECORD_KEYS = ("records", "record", "rows", "instances", "inputs", "input", "features", "body",
               "request", "data")  # where a logged request keeps its records
TEXT_SHARE = 0.01  # numbers sent as text in more than this share of a column's values
UNIT_DECADES = 0.9  # a median ratio of more than ~8x ...
UNIT_AGREEMENT = 0.25  # ... that the quartiles repeat within 25 %: a unit change
UNIT_FACTORS = (10, 12, 24, 60, 100, 1000, 3600, 10_000, 100_000, 1_000_000)
MIN_CONSTANT_ROWS = 10  # a column needs this many values to be called constant
REPRODUCE_MIN = 0.5  # rank correlation (or label agreement) below this: not reproduced
# the shipped model's own predictions, stored at fit, must come back within this (relative to
# values above 1): summation order alone (threads, BLAS) moves doubles by ~1e-12
REPRODUCE_TOLERANCE = 1e-9
EXAMPLES = 5


def read_serving(source: Any) -> tuple[pd.DataFrame, str, bool]:
    """(rows as received, the source named, whether values keep their JSON types). JSON Lines:
    a record, a list of records, or a logged request holding them, per line."""
    if isinstance(source, pd.DataFrame):
        return source, "the serving rows given", True
    if isinstance(source, str | os.PathLike) and str(source).lower().endswith(JSON_LINES):
        path = Path(source)
        if not path.is_file():
            raise unreadable_rows(str(path), "no such file")
        records: list[dict[str, Any]] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise unreadable_rows(f"{path} (line {number})", f"not JSON ({exc})") from None
            found = _records(value)
            if found is None:
                raise unreadable_rows(f"{path} (line {number})", "no JSON object of features")
            records += found
        if not records:
            raise unreadable_rows(str(path), "no records")
        frame = pd.DataFrame.from_records(records)
        return frame.astype(object).where(frame.notna(), None), str(path), True
    return read_table(source), describe_source(source), False


def _records(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list):
        return value if value and all(isinstance(v, dict) for v in value) else None
    if not isinstance(value, dict):
        return None
    for key in RECORD_KEYS:
        inner = value.get(key)
        if isinstance(inner, dict | list):
            found = _records(inner)
            if found is not None:
                return found
    return [value]


def _text_numbers(values: pd.Series, typed: bool) -> tuple[int, int, list[str], list[str]]:
    """(values sent as text that read as numbers, text values that do not, examples of each)."""
    if not typed and values.dtype.kind in "fiub":
        return 0, 0, [], []
    text = [v for v in values if isinstance(v, str) and v.strip()]
    if not text:
        return 0, 0, [], []
    parsed = pd.to_numeric(pd.Series(text), errors="coerce")
    good = [t for t, p in zip(text, parsed, strict=True) if pd.notna(p)]
    bad = [t for t, p in zip(text, parsed, strict=True) if pd.isna(p)]
    if not typed:  # a CSV column is all text once one value is: only the unreadable ones count
        good = []
    return len(good), len(bad), list(dict.fromkeys(good))[:EXAMPLES], \
        list(dict.fromkeys(bad))[:EXAMPLES]


def _unit_factor(stats: dict[str, Any], values: np.ndarray) -> float | None:
    """The factor serving values are off by when the median and both quartiles agree on one
    (×1000: grams for kilograms); None otherwise."""
    if len(values) < MIN_CONSTANT_ROWS:
        return None
    ratios = []
    for key, q in (("q25", 0.25), ("median", 0.5), ("q75", 0.75)):
        ref, cur = stats.get(key), float(np.quantile(values, q))
        if ref is None or ref == 0 or cur == 0 or (ref > 0) != (cur > 0):
            return None
        ratios.append(cur / ref)
    mid = ratios[1]
    if abs(math.log10(mid)) < UNIT_DECADES or any(abs(r / mid - 1) > UNIT_AGREEMENT for r in ratios):
        return None
    return mid


def _nice(factor: float) -> str:
    size = factor if factor >= 1 else 1 / factor
    named = next((f for f in UNIT_FACTORS if abs(size / f - 1) < 0.1), None)
    text = f"{named:,}" if named else f"{size:.3g}"
    return f"×{text}" if factor >= 1 else f"÷{text}"


def serving_findings(model: Model, serving: Any, seed: int) -> tuple[list[Finding], dict[str, Any],
                                                                     list[str]]:
    frame, source, typed = read_serving(serving)
    findings: list[Finding] = []
    skipped: list[str] = []
    feats = model.schema.features
    absent = [c.name for c in feats if c.name not in frame.columns]
    if absent:
        findings.append(Finding(
            check="skew_missing_column", severity="error", columns=tuple(absent),
            message=f"{len(absent)} column(s) the model uses never arrive in {source}: "
                    f"{', '.join(map(repr, absent[:8]))}; the model sees them as missing on "
                    "every row.",
            evidence={"columns": absent},
            suggestion="send every column the model was trained on (GET /schema lists them); a "
                       "column the client cannot know at prediction time should not be a feature: "
                       "refit with ignore_columns."))
        frame = frame.assign(**{c: None for c in absent})
    X = model.schema.prepare(frame, source, invalid="missing")
    flagged: set[str] = set()
    for c in feats:
        if c.name in absent:
            continue
        raw = frame[c.name]
        if c.role == Role.NUMERIC:
            good, bad, good_ex, bad_ex = _text_numbers(raw, typed)
            present = int(raw.notna().sum())
            if present and (good + bad) / present > TEXT_SHARE:
                flagged.add(c.name)
                findings.append(Finding(
                    check="skew_numbers_as_text", severity="warning", columns=(c.name,),
                    message=f"column {c.name!r} (a number in training) arrives as text in "
                            f"{source}: {good} value(s) are numbers in quotes "
                            f"({', '.join(map(repr, good_ex)) or 'none'}) and {bad} cannot be "
                            f"read as numbers ({', '.join(map(repr, bad_ex)) or 'none'}; the "
                            "model sees them as missing).",
                    evidence={"text_numbers": good, "unreadable": bad, "values": present,
                              "examples": good_ex, "unreadable_examples": bad_ex},
                    suggestion="send numbers as JSON numbers: a client that serialises them as "
                               "strings will one day send '1,5' or '12 kg', which becomes missing "
                               "silently. Fix the client's serialisation (or its CSV export)."))
            values = X[c.name].dropna().to_numpy(float)
            factor = _unit_factor(c.stats or {}, values)
            if factor is not None:
                flagged.add(c.name)
                findings.append(Finding(
                    check="skew_units", severity="warning", columns=(c.name,),
                    message=f"column {c.name!r} arrives in other units: its quartiles are "
                            f"{_nice(factor)} the training ones (median "
                            f"{float(np.median(values)):.4g} against "
                            f"{c.stats.get('median'):.4g}).",
                    evidence={"factor": factor, "serving_median": float(np.median(values)),
                              "training_median": c.stats.get("median"),
                              "training_q25": c.stats.get("q25"),
                              "training_q75": c.stats.get("q75")},
                    suggestion="convert the column to the training units before it reaches "
                               "the model (grams vs kilograms, milliseconds vs seconds, cents vs "
                               "dollars): a tree model sends every such value to one end of its "
                               "splits, and its predictions are wrong without any error."))
        present = X[c.name].dropna()
        if c.role != Role.TEXT and len(present) >= MIN_CONSTANT_ROWS and \
                present.astype(str).nunique() == 1 and _varied(c):
            flagged.add(c.name)
            findings.append(Finding(
                check="skew_constant", severity="warning", columns=(c.name,),
                message=f"column {c.name!r} is constant in {source} ({str(present.iloc[0])!r} "
                        f"on all {len(present)} values) but varied in training.",
                evidence={"value": str(present.iloc[0]), "values": int(len(present))},
                suggestion="a constant column at serving time is usually a default filled in "
                           "by the client, a broken join or a feature store that stopped "
                           "updating: trace where the value comes from."))
    findings += _monitor_findings(model, X, source, seed, flagged, skipped)
    if not any(f.severity in ("error", "warning") for f in findings):
        findings.append(Finding(
            check="no_skew", severity="info",
            message=f"the {len(frame)} serving rows in {source} match the training schema: "
                    "types, categories, units, constant columns and missing rates.",
            evidence={"rows": int(len(frame))}, suggestion="nothing to fix."))
    return findings, {"serving_rows": int(len(frame)), "serving_source": source}, skipped


def _varied(c: Any) -> bool:
    stats = c.stats or {}
    if c.role == Role.NUMERIC:
        return (stats.get("std") or 0) > 0
    if c.role == Role.CATEGORICAL:
        return (stats.get("n_categories") or 0) > 1
    return False


def _monitor_findings(model: Model, X: pd.DataFrame, source: str, seed: int, flagged: set[str],
                      skipped: list[str]) -> list[Finding]:
    """New categories and missing-rate changes as the monitor's tests call them; a column's
    other drift when no more specific finding names it."""
    try:
        reference = model_reference(model)
    except BundleError:
        skipped.append("new categories, missing rates and distributions: the bundle keeps no "
                       "training reference (fit it again with this mlexpert)")
        return []
    result = compare(reference, X, seed=seed, domain_classifier=False)
    out = []
    by_column: dict[str, list[Any]] = {}
    for t in result.columns:
        by_column.setdefault(t.column, []).append(t)
    for name, tests in by_column.items():
        ref = reference.columns[name]
        for t in tests:
            if not t.drifted:
                continue
            if t.test == "new_categories":
                values = X[name].dropna().astype(str)
                new = values[~values.isin(set(ref.counts))]
                examples = new.value_counts().index[:EXAMPLES].tolist()
                out.append(Finding(
                    check="skew_new_categories", severity="warning", columns=(name,),
                    message=f"column {name!r} arrives with categories training never saw in "
                            f"{t.statistic:.1%} of its values in {source} "
                            f"({', '.join(map(repr, examples))}).",
                    evidence={"share": t.statistic, "p_adjusted": t.p_adjusted,
                              "examples": examples, "training_categories": len(ref.counts)},
                    suggestion="check the spelling and coding on both sides (case, codes vs "
                               "names, a renamed level); the model treats an unseen category "
                               "as unknown. Map them to the training levels, or refit with "
                               "rows that hold them."))
            elif t.test == "missing_rate":
                out.append(Finding(
                    check="skew_missing_rate", severity="warning", columns=(name,),
                    message=f"column {name!r} is missing in {ref.missing_rate + t.statistic:.1%} "
                            f"of the rows in {source} against {ref.missing_rate:.1%} in training.",
                    evidence={"training": ref.missing_rate,
                              "serving": ref.missing_rate + t.statistic,
                              "effect_size": t.effect_size, "p_adjusted": t.p_adjusted},
                    suggestion="find where the value is lost (a field renamed in the request, a "
                               "null from a failed lookup); the model fills missing values the "
                               "way training taught it, which is wrong when missing means "
                               "something else now."))
        drifted = [t.test for t in tests if t.drifted and t.test not in
                   ("new_categories", "missing_rate")]
        if drifted and name not in flagged and not any(name in f.columns for f in out):
            out.append(Finding(
                check="skew_distribution", severity="info", columns=(name,),
                message=f"column {name!r} is distributed differently in {source} than in "
                        f"training ({', '.join(drifted)}).",
                evidence={"tests": {t.test: t.effect_size for t in tests if t.drifted}},
                suggestion="if the population changed this is drift, not skew (mlexpert drift "
                           "follows it over time); if the same people are scored, compare how "
                           "the value is computed in training and in the service."))
    return out


def version_findings(model: Model) -> tuple[list[Finding], dict[str, Any]]:
    """The bundle's recorded library versions against the running ones."""
    recorded = dict(model.manifest.libraries or {})
    running = library_versions()
    out = []
    for name, was in recorded.items():
        now = running.get(name)
        if now == was:
            continue
        if now is None:
            out.append(Finding(
                check="library_missing", severity="error", columns=(),
                message=f"{name} {was} was used to fit the model and is not installed here.",
                evidence={"library": name, "bundle": was, "running": None},
                suggestion=f"install {name}=={was} (mlexpert package writes pinned "
                           "requirements) before loading the model."))
            continue
        same_minor = _release(was)[:2] == _release(now)[:2]
        out.append(Finding(
            check="library_version", severity="info" if same_minor else "warning", columns=(),
            message=f"{name} is {now} here but the model was fitted with {was}.",
            evidence={"library": name, "bundle": was, "running": now},
            suggestion="a patch release rarely changes predictions; this check reproduces the "
                       "stored predictions to be sure." if same_minor else
                       f"pin {name}=={was} where the model is served (mlexpert package writes "
                       "the pinned requirements): model files and preprocessing can change "
                       "behaviour across minor releases, so predictions may differ from the "
                       "validated ones."))
    return out, {"bundle": recorded, "running": running}


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _exact_reproduction(model: Model, stored: pd.Series, now: pd.Series
                        ) -> tuple[list[Finding], dict[str, Any], list[str]]:
    """The shipped model's predictions at fit against its predictions here, row for row."""
    if model.task == "multiclass":
        a, b = stored.astype(str).to_numpy(), now.astype(str).to_numpy()
        differ = a != b
        detail: dict[str, Any] = {"labels_differing": int(differ.sum())}
    else:
        a, b = stored.to_numpy(dtype=float), now.to_numpy(dtype=float)
        gap = np.abs(a - b)
        differ = ~((gap <= REPRODUCE_TOLERANCE * np.maximum(1.0, np.abs(a)))
                   | (np.isnan(a) & np.isnan(b)))
        detail = {"max_abs_difference": float(np.nanmax(gap)) if np.isfinite(gap).any() else None}
    evidence = {"rows": int(len(a)), "rows_differing": int(differ.sum()), **detail,
                "tolerance": REPRODUCE_TOLERANCE,
                "stored": "the shipped model's predictions of the training sample, made at fit"}
    if differ.any():
        first = np.flatnonzero(differ)[:3].tolist()
        return _reproduction(False, f"the model's predictions on {int(differ.sum())} of its "
                             f"{len(a)} stored training rows differ from the ones it made at fit "
                             f"(first rows: {first}).", evidence)
    return _reproduction(True, f"the model reproduces the predictions it made at fit on its "
                         f"{len(a)} stored training rows exactly.", evidence)


def _reproduction(ok: bool, message: str, evidence: dict[str, Any]
                  ) -> tuple[list[Finding], dict[str, Any], list[str]]:
    if ok:
        return [Finding(check="predictions_reproduced", severity="info", message=message,
                        evidence=evidence, suggestion="nothing to fix.")], evidence, []
    return [Finding(
        check="predictions_not_reproduced", severity="error", message=message, evidence=evidence,
        suggestion="the model computes differently here than where it was fitted: install the "
                   "library versions the bundle records (see library_version), check that the "
                   "bundle files were not altered, and fit again if it persists.")], evidence, []


def reproduction_findings(model: Model) -> tuple[list[Finding], dict[str, Any], list[str]]:
    """The bundle's predictions on its stored training sample against those stored with it: the
    shipped model's own, made at fit, must come back exactly (within ``REPRODUCE_TOLERANCE``);
    bundles saved before they were stored have only the validation-time (out-of-fold) ones, from
    other models (the fold models, not the final refit), so agreement is measured there: rank
    correlation (binary, regression) or label agreement (multiclass)."""
    sample = model.reference_sample
    if sample is None or (SHIPPED not in sample.columns and PREDICTION not in sample.columns):
        return [], {}, ["prediction reproduction: the bundle keeps no predictions of its "
                        "training sample"]
    X = sample[[c.name for c in model.schema.features]]
    now = prediction_values(model.ensemble.raw(X), model.task, model.classes)
    if SHIPPED in sample.columns:
        return _exact_reproduction(model, sample[SHIPPED], now)
    stored = sample[PREDICTION]
    ok = stored.notna().to_numpy() & now.notna().to_numpy()
    if ok.sum() < MIN_CONSTANT_ROWS:
        return [], {}, ["prediction reproduction: fewer than 10 stored predictions"]
    if model.task == "multiclass":
        agreement = float((stored[ok].astype(str).to_numpy() == now[ok].astype(str).to_numpy())
                          .mean())
        measure, name = agreement, "label agreement"
        detail = {"label_agreement": agreement}
    else:
        a, b = stored[ok].astype(float), now[ok].astype(float)
        measure = float(a.rank().corr(b.rank())) if a.nunique() > 1 and b.nunique() > 1 else 0.0
        name = "rank correlation"
        detail = {"rank_correlation": measure,
                  "mean_abs_difference": float(np.mean(np.abs(a.to_numpy() - b.to_numpy()))),
                  "mean_stored": float(a.mean()), "mean_now": float(b.mean())}
    evidence = {"rows": int(ok.sum()), **detail, "threshold": REPRODUCE_MIN,
                "stored": "validation-time (out-of-fold) predictions of the training sample"}
    if measure < REPRODUCE_MIN:
        return _reproduction(False, f"the model's predictions on its {int(ok.sum())} stored "
                             f"training rows do not match the validation-time predictions stored "
                             f"with them: {name} {measure:.3f}, below {REPRODUCE_MIN}.", evidence)
    return _reproduction(True, f"the model reproduces its validation-time predictions on its "
                         f"{int(ok.sum())} stored training rows: {name} {measure:.3f} (the stored "
                         "ones are out-of-fold, so agreement, not equality, is expected).", evidence)
