"""The shipped model's own predictions on its reference sample, stored with the sample at fit
so that a later environment can check it reproduces them exactly (``mlexpert diagnose``)."""
from __future__ import annotations

from typing import Any

from mlexpert.evaluate import prediction_values

SHIPPED = "__mlexpert_shipped_prediction__"  # the reference sample's column of the model's own


def with_shipped_predictions(model: Any) -> Any:
    """``model`` (a ``bundle.Model``) with its own predictions on its reference sample stored
    beside the sample (``SHIPPED``). Called by fit, and by distill for the student (on its own
    copy of the sample)."""
    sample = model.reference_sample
    if sample is not None and len(sample):
        X = sample[[c.name for c in model.schema.features]]
        sample[SHIPPED] = prediction_values(model.ensemble.raw(X), model.task,
                                            model.classes).to_numpy()
    return model
