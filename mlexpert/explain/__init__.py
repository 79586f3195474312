"""Explanations: permutation importance, per-row SHAP contributions, partial dependence and
group (fairness) checks. Works on the fitted members and prepared rows; no bundle import."""
from mlexpert.explain._contrib import Explanation, column_map, contributions
from mlexpert.explain._groups import group_checks
from mlexpert.explain._importance import permutation_importance
from mlexpert.explain._pdp import partial_dependence

__all__ = ["Explanation", "column_map", "contributions", "group_checks", "partial_dependence",
           "permutation_importance"]
