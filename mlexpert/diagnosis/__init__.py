"""Diagnosis of a training run from its curves: diverging, oscillating, stuck at chance, slow,
overfitting (and from which epoch), underfitting, a train/validation gap from the start; and of
a fitted model: learning curve, bias and variance, the dummy baseline, train/serve skew.

``diagnose(source, data=None, target=..., task=..., priors=...)`` reads the history (a CSV /
JSON / JSON Lines file, an MLflow run id, a table, a Keras ``history.history`` dict) and returns
a ``DiagnosisReport`` of sections; each check is a function ``Training -> list[Finding]`` in
``CHECKS``. Given a model (``diagnose(model_or_dir, data=..., serving=..., fitter=mlexpert.fit)``)
the sections are the model's (``_model``). Named ``diagnosis``, not ``diagnose``, so the public function is never shadowed.
"""
from mlexpert.diagnosis._chance import Chance, chance_level
from mlexpert.diagnosis._checks import CHECKS, Training
from mlexpert.diagnosis._history import History, Series, recognise
from mlexpert.diagnosis._model import DEFAULT_TIME_LIMIT, diagnose_model
from mlexpert.diagnosis._report import Bar, Bars, Chart, DiagnosisReport, Line, Mark, Section
from mlexpert.diagnosis._run import diagnose, read_history, training_section

__all__ = ["CHECKS", "DEFAULT_TIME_LIMIT", "Bar", "Bars", "Chance", "Chart", "DiagnosisReport", "History", "Line", "Mark", "Section",
           "Series", "Training", "chance_level", "diagnose", "diagnose_model", "read_history", "recognise",
           "training_section"]
