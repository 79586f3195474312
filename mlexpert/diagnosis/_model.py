"""A fitted model diagnosed: with labelled rows, its learning curve, bias and variance and the
dummy baseline; with serving rows, train/serve skew; always, the library versions and whether it
reproduces its stored validation-time predictions."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlexpert._format import is_bundle
from mlexpert._options import seconds
from mlexpert.bundle import Model, load
from mlexpert.diagnosis._fitness import baseline_section, bias_variance_section
from mlexpert.diagnosis._learning import Fitter, learning_section
from mlexpert.diagnosis._report import DiagnosisReport, Section
from mlexpert.diagnosis._scores import read_labelled
from mlexpert.diagnosis._skew import (
    reproduction_findings,
    serving_findings,
    version_findings,
)
from mlexpert.errors import DataError, bad_option

DEFAULT_TIME_LIMIT = 60.0  # seconds for the learning curve's refits, all sizes together


def as_model(source: Any) -> tuple[Model, str] | None:
    """(the Model, how to name it) when ``source`` is one, a bundle directory or a registry
    URI (``models:/``, ``runs:/`` holding a bundle); None otherwise."""
    if isinstance(source, Model):
        return source, "the Model given"
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if Path(text).is_dir():
            if not is_bundle(Path(text)):
                raise DataError(f"{text!r} is a directory but not a model bundle (no mlexpert "
                                "manifest.json in it): give the directory mlexpert fit --out "
                                "wrote, or a training history file.")
            return load(text), f"bundle {text}"
        if text.startswith("models:/"):
            from mlexpert.tracking import load_uri

            return load_uri(text), text
    return None


def diagnose_model(model: Model, name: str, data: Any = None, *, serving: Any = None,
                   fitter: Fitter | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
                   seed: int = 0) -> DiagnosisReport:
    """The model's sections (see the module docstring)."""
    seconds("time_limit", time_limit)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise bad_option("seed", seed, "an integer")
    sections = []
    if data is not None:
        labelled = read_labelled(model, data)
        findings, charts, summary, skipped, curve = learning_section(model, labelled, fitter,
                                                                     time_limit, seed)
        sections.append(Section("learning_curve", "Learning curve", tuple(findings), charts,
                                summary, tuple(skipped)))
        findings, bars, summary, skipped = bias_variance_section(model, labelled, curve, seed)
        sections.append(Section("bias_variance", "Bias and variance", tuple(findings), (bars,),
                                summary, tuple(skipped)))
        findings, bars, summary = baseline_section(model, labelled, seed)
        sections.append(Section("baseline", "Better than random?", tuple(findings), (bars,),
                                summary))
    skew, summary, skipped = [], {}, []
    if serving is not None:
        found, summary, skipped = serving_findings(model, serving, seed)
        skew += found
    else:
        skipped.append("serving rows: none given (serving=, CLI --serving rows.jsonl)")
    found, versions = version_findings(model)
    skew += found
    found, reproduced, more = reproduction_findings(model)
    skew += found
    skipped += more
    summary = {"description": ("serving rows " + summary["serving_source"] + f" ({summary['serving_rows']} rows) against the training schema; "
                               if summary else "") + "library versions; stored predictions "
                              "reproduced.", **summary, "libraries": versions,
               "reproduction": reproduced}
    sections.append(Section("skew", "Train/serve skew", tuple(skew), (), summary,
                            tuple(skipped)))
    return DiagnosisReport(name, tuple(sections))
