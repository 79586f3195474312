"""``diagnose``: read a training history from wherever it lives, run the curve checks and build
the report's training section (findings, curves with chance lines and marks, summary)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlexpert.diagnosis._chance import Chance, chance_level
from mlexpert.diagnosis._checks import CHECKS, SUPPRESSES, Training, converged
from mlexpert.diagnosis._curves import MIN_EPOCHS
from mlexpert.diagnosis._history import (
    History,
    from_mlflow,
    from_table,
    read_history_file,
)
from mlexpert.diagnosis._learning import Fitter
from mlexpert.diagnosis._model import DEFAULT_TIME_LIMIT, as_model, diagnose_model
from mlexpert.diagnosis._report import Chart, DiagnosisReport, Line, Mark, Section
from mlexpert.errors import DataError, bad_option, unreadable_history

AUDIT_SECONDS = 15.0  # at most this long for the audit's quick model on the labelled rows
_RUN_ID = re.compile(r"^(runs:/)?[0-9a-f]{32}(/.*)?$")
_FILE_TYPES = (".csv", ".tsv", ".txt", ".log", ".json", ".jsonl", ".ndjson")


def diagnose(source: Any, data: Any = None, *, target: str | None = None,
             task: str | None = None, priors: Any = None,
             tracking_uri: str | None = None, serving: Any = None,
             fitter: Fitter | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
             seed: int = 0) -> DiagnosisReport:
    """Diagnose a training run from its history, or a fitted model.

    A run: ``source`` is a CSV / JSON / JSON Lines path, an MLflow run id (or ``runs:/ID``), a
    table, a dict of lists (Keras ``history.history``) or a ``History``; ``data`` + ``target``
    (labelled rows), ``priors`` or ``task`` give the chance level.

    A model: ``source`` is a Model, a bundle directory or a ``models:/`` URI; ``data`` labelled
    rows (learning curve, bias and variance, the dummy baseline), ``serving`` rows as the
    service receives them (skew); ``fitter`` (``mlexpert.fit``) refits the shipped
    configuration for the learning curve within ``time_limit`` seconds. Returns a
    DiagnosisReport."""
    model = as_model(source)
    if model is not None:
        if priors is not None or task is not None or tracking_uri is not None:
            raise bad_option("priors, task and tracking_uri", "given",
                             "left out for a model (they describe a training run's history)")
        if target is not None and target != model[0].target:
            raise bad_option("target", target, f"the model's target {model[0].target!r} or None")
        return diagnose_model(model[0], model[1], data, serving=serving, fitter=fitter,
                              time_limit=time_limit, seed=seed)
    if serving is not None:
        raise bad_option("serving", "given", "used with a model (a bundle directory or Model), "
                         "not a training history")
    chance = chance_level(task, priors, data, target)  # option errors before any reading
    history = read_history(source, tracking_uri=tracking_uri)
    section = training_section(history, chance)
    if data is not None and target is not None and "stuck_at_chance" in \
            [f.check for f in section.findings]:
        section = _cross_checked(section, data, target, min(time_limit, AUDIT_SECONDS), seed)
    return DiagnosisReport(history.source, (section,))


def _cross_checked(section: Section, data: Any, target: str, seconds: float, seed: int
                   ) -> Section:
    """A run stuck at chance, told apart by a quick model on the labelled rows (the audit's
    learnability check): features that carry signal put the fault in the training setup;
    features no model learns from put it in the data."""
    from mlexpert.audits import audit

    try:
        report = audit(data, target=target, time_limit=seconds, seed=seed)
    except DataError as exc:  # labels alone (given for the chance level): nothing to learn from
        return replace(section, skipped=(*section.skipped, f"stuck_at_chance cross-check: {exc}"))
    found = [f for f in report.findings if f.check in ("learnable", "not_learnable")]
    if not found:
        return replace(section, skipped=(*section.skipped, "stuck_at_chance cross-check: the "
                                         "audit's quick model did not run (time or rows)"))
    quick = found[0]
    ev = quick.evidence
    score = f"{ev['metric']} {ev['quick_model']:.3f} against a dummy's {ev['dummy']:g}"
    if quick.check == "learnable":
        more = (f" Yet a quick model on the labelled rows scores {score}: the features carry "
                "signal, so the fault is in the training setup (labels out of line with their "
                "rows, dead units, vanishing gradients, too small a learning rate).")
    else:
        more = (f" A quick model on the labelled rows does no better ({score}): the features "
                "may carry no signal for this target; check the target column and the features "
                "before the network.")
    findings = tuple(
        replace(f, message=f.message + more, evidence={**f.evidence, "audit": {
            "check": quick.check, **{k: ev[k] for k in ("metric", "quick_model", "low", "high",
                                                        "dummy", "rows")}}})
        if f.check == "stuck_at_chance" else f for f in section.findings)
    return replace(section, findings=findings)


def read_history(source: Any, *, tracking_uri: str | None = None) -> History:
    """The History behind ``source`` (see ``diagnose``)."""
    if isinstance(source, History):
        return source
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        path = Path(text)
        if path.is_file() or path.suffix.lower() in _FILE_TYPES:
            return read_history_file(path)
        if _RUN_ID.match(text.strip()):
            from mlexpert.tracking import metric_histories

            return from_mlflow(*metric_histories(text, uri=tracking_uri))
        raise unreadable_history(repr(text), "no such file, and not an MLflow run id (32 hex "
                                 "characters or runs:/RUN_ID)")
    if isinstance(source, Mapping) or (hasattr(source, "columns") and hasattr(source, "to_dict")):
        return from_table(source, f"a {type(source).__name__} of {len(source)} columns"
                          if isinstance(source, Mapping) else "the given table")
    raise bad_option("source", type(source).__name__,
                     "a history file (CSV, JSON, JSON Lines), an MLflow run id, a table or a "
                     "dict of lists")


def training_section(history: History, chance: Chance) -> Section:
    """The checks over the training curves, as the report's ``training`` section."""
    t = Training.of(history, chance)
    findings = [f for check in CHECKS for f in check(t)]
    quiet = {name for f in findings for name in SUPPRESSES.get(f.check, ())}
    findings = [f for f in findings if f.check not in quiet]
    if not any(f.severity in ("error", "warning") for f in findings):
        findings.append(converged(t))
    return Section("training", "Training curves", tuple(findings), _charts(t, findings),
                   _summary(t), _skipped(t))


def _skipped(t: Training) -> tuple[str, ...]:
    out = []
    if "val_loss" not in t.curves and "val_metric" not in t.curves:
        out.append("overfitting and gap_from_start: no validation series in the log")
    s = t.history.get("val_metric") or t.history.get("train_metric")
    if t.chance.loss is None and (s is None or t.chance.metric(s.metric) is None):
        out.append("stuck_at_chance: the chance level is unknown (give the task and class "
                   "priors, or labelled data and its target)")
    c = t.loss()
    if c is not None and c.n < MIN_EPOCHS:
        out.append(f"trends (oscillating, slow_convergence, overfitting, underfitting): only "
                   f"{c.n} finite points, {MIN_EPOCHS} needed")
    return tuple(out)


def _line(t: Training, role: str, kind: str) -> Line | None:
    s = t.history.get(role)
    if s is None:
        return None
    return Line(s.name, tuple(s.x.tolist()), tuple(float(v) for v in s.y), kind)


def _charts(t: Training, findings: list) -> tuple[Chart, ...]:
    marks = []
    for f in findings:
        ev = f.evidence
        if f.check == "overfitting":
            marks.append(Mark(float(ev["best_epoch"]), f"best {t.unit} {ev['best_epoch']}"))
        elif f.check == "diverging" and "first_non_finite" in ev:
            marks.append(Mark(float(ev["first_non_finite"]), f"{ev['value']} at {ev['first_non_finite']}"))
        elif f.check == "diverging":
            marks.append(Mark(float(ev["peak_at"]), "peak"))
    charts = []
    lines = [ln for ln in (_line(t, "train_loss", "train"), _line(t, "val_loss", "val")) if ln]
    xs = [x for ln in lines for x in ln.x]
    if t.chance.loss is not None and xs:
        lines.append(Line("chance (prior log loss)", (min(xs), max(xs)),
                          (t.chance.loss, t.chance.loss), "chance"))
    charts.append(Chart("loss", "Loss", f"{t.unit}", tuple(lines), tuple(marks)))
    metric = t.history.get("val_metric") or t.history.get("train_metric")
    if metric is not None:
        lines = [ln for ln in (_line(t, "train_metric", "train"), _line(t, "val_metric", "val"))
                 if ln]
        level = t.chance.metric(metric.metric)
        if level is not None:
            xs = [x for ln in lines for x in ln.x]
            lines.append(Line(f"chance ({metric.metric})", (min(xs), max(xs)), (level, level),
                              "chance"))
        charts.append(Chart("metric", metric.metric.capitalize(), t.unit, tuple(lines),
                            tuple(m for m in marks if m.label.startswith("best"))))
    for role, kind, title in (("lr", "lr", "Learning rate"), ("grad_norm", "grad", "Gradient norm")):
        line = _line(t, role, kind)
        if line is not None:
            charts.append(Chart(role, title, t.unit, (line,)))
    return tuple(charts)


def _summary(t: Training) -> dict[str, Any]:
    h = t.history
    last = {role: float(s.y[-1]) for role, s in h.series.items() if len(s.y)}
    out: dict[str, Any] = {
        "description": f"{h.epochs} {t.unit}s; series: "
                       + ", ".join(f"{role} = {s.name!r}" for role, s in h.series.items())
                       + f"; chance: {t.chance.basis}.",
        "epochs": h.epochs, "index": h.index,
        "series": {role: s.name for role, s in h.series.items()}, "last": last,
        "chance": t.chance.to_dict(), "columns": list(h.columns)}
    v = t.curves.get("val_loss")
    if v is not None and v.n:
        k = int(v.smooth.argmin())
        out.update(best_val_loss=float(v.raw[k]), best_epoch=v.x[k].item())
    return out
