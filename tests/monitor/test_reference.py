"""The training reference fit stores for drift checks."""
from __future__ import annotations

import numpy as np


def test_the_prediction_reference_is_calibrated_as_the_shipped_model_is(tables, monkeypatch):
    """The stored validation-time predictions are the calibrated out-of-fold ones: the shipped
    model answers through its calibrator, so uncalibrated ones would read as prediction drift."""
    import mlexpert
    import mlexpert.evaluate._post as post_mod
    from mlexpert.evaluate import prediction_values
    from mlexpert.monitor import PREDICTION

    real, seen = post_mod.choose_calibration, {}

    def squeezed(oof, y, weight, **kw):  # a stand-in calibrator's output, easy to recognise
        cal, out, report = real(oof, y, weight, **kw)
        seen["oof"] = 0.25 + 0.5 * oof
        return cal, seen["oof"], report

    monkeypatch.setattr(post_mod, "choose_calibration", squeezed)
    model = mlexpert.fit(tables["binary"], "y", time_limit=10, seed=0, presets="fast", budget=1,
                         track=False)
    stored = model.reference_sample[PREDICTION].to_numpy(dtype=float)
    want = set(np.round(prediction_values(seen["oof"], "binary", model.classes), 9))
    assert stored.min() >= 0.25 - 1e-9 and stored.max() <= 0.75 + 1e-9
    assert set(np.round(stored, 9)) <= want
