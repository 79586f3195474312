"""Retraining with a promotion gate: ``retrain`` refits a champion's settings on new labelled
rows, compares the challenger with the champion on the same recent holdout (a paired bootstrap,
then guardrails: latency, calibration, group gaps), registers it with that evidence and promotes
it only when the gate passes. It fits through the ``fit`` that ``mlexpert.retrain`` injects.
Named ``retraining``, not ``retrain``: a subpackage ``retrain`` would replace the function
``mlexpert.retrain`` once imported (as ``audits`` for ``audit``)."""
from mlexpert.retraining._gate import Guardrail, Verdict, judge
from mlexpert.retraining._run import RetrainResult, retrain

__all__ = ["Guardrail", "RetrainResult", "Verdict", "judge", "retrain"]
