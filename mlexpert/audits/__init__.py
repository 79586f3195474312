"""The data audit: checks that each return Findings (severity, columns, rows, evidence,
suggestion), grouped by concern: quality, target, leakage, labels, shift, split (the group and
time hints, fit's as well).

``audit`` checks a table (and optionally a test table) before modelling; ``audit_for_fit`` is the
part fit runs on its training table, within a small slice of its time budget.
"""
from mlexpert.audits._context import binary_auc, quick_oof
from mlexpert.audits._labels import label_finding
from mlexpert.audits._report import AuditReport
from mlexpert.audits._run import GROUPS, FitAudit, audit, audit_for_fit, fit_budget

__all__ = ["GROUPS", "AuditReport", "FitAudit", "audit", "audit_for_fit", "binary_auc", "fit_budget", "label_finding",
           "quick_oof"]
