"""Label issues: rows whose label is likely wrong, by confident learning (cleanlab) on the quick
model's out-of-fold probabilities, with the estimated noise rate."""
from __future__ import annotations

import numpy as np

from mlexpert.audits._context import AuditData, listed
from mlexpert.findings import Finding

MIN_PER_CLASS = 5
WARNING_RATE = 0.02  # estimated share of wrong labels from which a warning is given ...
CONFIDENT = 0.25  # ... when the flagged rows' given label gets at most this share of its class
# prior (median): the model is sure, not merely unsure (in imbalanced data a minority label's
# probability is low for every row)
WARNING_MIN_ROWS = 5


def label_issues(d: AuditData) -> list[Finding]:
    if d.task == "regression":
        return []
    oof = d.oof
    if oof is None:
        d.skipped.append("label_issues: no out-of-fold predictions (time limit or too few rows)")
        return []
    counts = np.bincount(oof.y, minlength=len(d.classes))
    present = np.flatnonzero(counts)
    if len(present) < 2 or counts[present].min() < MIN_PER_CLASS:
        d.skipped.append("label_issues: a class has fewer than 5 rows")
        return []
    import warnings

    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues

    # classes absent from the sample are dropped so that cleanlab sees labels 0..K-1
    labels = np.searchsorted(present, oof.y)
    probs = oof.pred[:, present]
    probs = np.clip(probs, 1e-6, None)
    probs = probs / probs.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = find_label_issues(labels, probs, filter_by="prune_by_noise_rate",
                                   return_indices_ranked_by="self_confidence", n_jobs=1)
        estimated = int(num_label_issues(labels, probs))
    n = len(labels)
    if len(ranked) == 0:
        return []
    given = probs[ranked, labels[ranked]]
    median_conf = float(np.median(given))
    prior = np.bincount(labels, minlength=probs.shape[1]) / n
    lift = float(np.median(given / prior[labels[ranked]]))
    rate = estimated / n
    rows = oof.rows[ranked]
    severe = (rate >= WARNING_RATE and lift <= CONFIDENT
              and len(ranked) >= WARNING_MIN_ROWS)
    suggested = [str(d.classes[present[k]]) for k in probs[ranked].argmax(axis=1)[:len(listed(rows))]]
    return [Finding(
        check="label_issues", severity="warning" if severe else "info", columns=(d.target,),
        rows=listed(rows),
        message=f"{len(ranked)} row(s) have a label the out-of-fold model finds unlikely "
                f"(estimated noise rate {rate:.1%}; median probability of the given label "
                f"{median_conf:.2f})" + ("; they look mislabelled." if severe else
                                         "; most are probably hard cases, not wrong labels."),
        evidence={"flagged": int(len(ranked)), "estimated_issues": estimated,
                  "noise_rate": round(rate, 4), "median_given_label_probability": round(median_conf, 4),
                  "median_probability_over_prior": round(lift, 4),
                  "rows_checked": int(n), "method": "cleanlab confident learning, prune_by_noise_rate",
                  "suggested_labels": suggested[:50]},
        suggestion="review the listed rows (most doubtful first) and fix wrong labels at the source; "
                   "fit never changes labels.")]


CHECKS = (label_issues,)
