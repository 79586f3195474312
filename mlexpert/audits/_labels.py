"""Label issues: rows whose label is likely wrong, by confident learning (cleanlab) on the best
out-of-fold probabilities the audit has (its quick trees averaged with a logistic regression, on
the columns fit keeps), with the estimated noise rate.

How many rows are flagged is cleanlab's confident-joint estimate of the number of wrong labels;
which rows, the lowest normalised margins (given label's probability minus the best other one).
Inside fit the audit runs before the search and skips this check: once the search is done fit
judges the labels on its own ensemble's out-of-fold probabilities (``label_finding``)."""
from __future__ import annotations

import numpy as np

from mlexpert.audits._context import AuditData, Oof, linear_oof, listed
from mlexpert.audits._leakage import leaking_columns
from mlexpert.findings import Finding

MIN_PER_CLASS = 5
WARNING_RATE = 0.02  # estimated share of wrong labels from which a warning is given ...
CONFIDENT = 0.25  # ... when the flagged rows' given label gets at most this share of its class
# prior (median): the model is sure, not merely unsure (in imbalanced data a minority label's
# probability is low for every row)
WARNING_MIN_ROWS = 5
METHOD = ("cleanlab confident learning: confident-joint count (off-diagonal), rows ranked by "
          "normalised margin")


def label_probabilities(d: AuditData) -> tuple[Oof | None, str]:
    """The out-of-fold probabilities label checks use, and what they come from."""
    oof = d.oof_without(leaking_columns(d)) if d.oof is not None else None
    if oof is None:
        return None, ""
    if d.deadline.expired():
        return oof, "quick LightGBM, 3 folds"
    lin = linear_oof(d.X[:, [j for j, c in enumerate(d.model_columns) if c not in
                             leaking_columns(d)]], oof.y, oof.pred.shape[1], d.seed, d.deadline)
    if lin is None:
        return oof, "quick LightGBM, 3 folds"
    return (Oof((oof.pred + lin) / 2, oof.rows, oof.y, oof.seconds),
            "quick LightGBM and logistic regression averaged, 3 folds")


def label_issues(d: AuditData) -> list[Finding]:
    if d.task == "regression":
        return []
    oof, source = label_probabilities(d)
    if oof is None:
        d.skipped.append("label_issues: no out-of-fold predictions (time limit or too few rows)")
        return []
    finding = label_finding(oof.y, oof.pred, oof.rows, d.classes, d.target, source)
    if finding is None:
        d.skipped.append("label_issues: a class has fewer than 5 rows")
        return []
    return [finding] if finding.evidence["flagged"] else []


def label_finding(y: np.ndarray, pred: np.ndarray, rows: np.ndarray, classes: list, target: str,
                  source: str) -> Finding | None:
    """The label-issues finding from out-of-fold probabilities ``pred`` (n, K) of class indices
    ``y`` on table positions ``rows``; None when a class has too few rows to judge (a finding
    with ``flagged`` 0 when none looks wrong). ``source`` says which model's probabilities: fit
    calls this again with its own ensemble's, the best it has."""
    counts = np.bincount(y, minlength=len(classes))
    present = np.flatnonzero(counts)
    if len(present) < 2 or counts[present].min() < MIN_PER_CLASS:
        return None
    import warnings

    from cleanlab.count import num_label_issues
    from cleanlab.rank import get_label_quality_scores

    # classes absent from the sample are dropped so that cleanlab sees labels 0..K-1
    labels = np.searchsorted(present, y)
    probs = pred[:, present]
    probs = np.clip(probs, 1e-6, None)
    probs = probs / probs.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimated = int(num_label_issues(labels, probs, estimation_method="off_diagonal"))
        margin = get_label_quality_scores(labels, probs, method="normalized_margin")
    ranked = np.argsort(margin, kind="stable")[:estimated]
    n = len(labels)
    given = probs[ranked, labels[ranked]] if len(ranked) else np.ones(1)
    median_conf = float(np.median(given))
    prior = np.bincount(labels, minlength=probs.shape[1]) / n
    lift = float(np.median(given / prior[labels[ranked]])) if len(ranked) else 1.0
    rate = estimated / n
    flagged = np.asarray(rows)[ranked]
    severe = (rate >= WARNING_RATE and lift <= CONFIDENT
              and len(ranked) >= WARNING_MIN_ROWS)
    suggested = [str(classes[present[k]])
                 for k in probs[ranked].argmax(axis=1)[:len(listed(flagged))]]
    return Finding(
        check="label_issues", severity="warning" if severe else "info", columns=(target,),
        rows=listed(flagged),
        message=f"{len(ranked)} row(s) have a label the out-of-fold model finds unlikely "
                f"(estimated noise rate {rate:.1%}; median probability of the given label "
                f"{median_conf:.2f})" + ("; they look mislabelled." if severe else
                                         "; most are probably hard cases, not wrong labels."),
        evidence={"flagged": int(len(ranked)), "estimated_issues": estimated,
                  "noise_rate": round(rate, 4), "median_given_label_probability": round(median_conf, 4),
                  "median_probability_over_prior": round(lift, 4),
                  "rows_checked": int(n), "method": METHOD, "probabilities": source,
                  "suggested_labels": suggested[:50]},
        suggestion="review the listed rows (most doubtful first) and fix wrong labels at the source; "
                   "fit never changes labels.")


CHECKS = (label_issues,)
