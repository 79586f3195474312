"""The service's second fast path, the exported ONNX graph: chosen when it is verified and the
faster one, and the only one for what the numpy path cannot compile (a calibrated model)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mlexpert import Model
from mlexpert.evaluate import fit_calibrator
from mlexpert.runtime import ONNX_TOLERANCE
from mlexpert.runtime._onnx import OnnxPath
from tests.conftest import TASKS
from tests.serve.conftest import tree_table
from tests.serve.test_fastpath import _predictor, _records


def _calibrated(model, task):
    """The model with a sigmoid calibrator fitted on its own training predictions (classes)."""
    frame = tree_table(task)
    raw = model.ensemble.raw(model.schema.prepare(frame.drop(columns="y")))
    y = np.searchsorted(np.asarray(model.classes, dtype=object).astype(str),
                        frame["y"].astype(str).to_numpy())
    cal = fit_calibrator("sigmoid", raw, y)
    return Model(model.manifest.with_sections(calibration=cal.to_dict()), model.ensemble.members,
                 model.reference_sample)


@pytest.mark.parametrize("task", TASKS)
def test_onnx_matches_the_model_on_any_record(tree_models, task):
    """Both paths compile and verify, a calibrated model too (the numpy path ends with the
    calibrator, the graph holds it); the ONNX graph matches the Model on any valid record
    (hypothesis)."""
    model = tree_models[task] if task == "regression" else _calibrated(tree_models[task], task)
    p = _predictor(model)
    assert p.fast is not None, p.fast_note
    assert re.match(r"on: \w+ \(one row: \w+ \d+ µs, \w+ \d+ µs; verified against the Model\)$",
                    p.fast_note), p.fast_note
    onnx = p.fast if isinstance(p.fast, OnnxPath) else OnnxPath(model)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(records=_records(model.schema))
    def check(records):
        rows = p.rows([p.one.validate_python(r) for r in records])
        got, want = onnx.predict(rows), p.predict_frame(p.frame(rows))
        np.testing.assert_allclose(got, want, rtol=ONNX_TOLERANCE, atol=ONNX_TOLERANCE)
        if task != "regression":
            assert p.labels(got) == p.labels(want)

    check()


def test_both_paths_verified_the_faster_is_named(tree_models):
    p = _predictor(tree_models["binary"])
    chosen = "onnxruntime" if isinstance(p.fast, OnnxPath) else "numpy"
    assert p.fast_note.startswith(f"on: {chosen} (one row: {chosen} ")
    assert "numpy" in p.fast_note and "onnxruntime" in p.fast_note


def test_a_text_model_has_no_onnx_path_and_says_why(fitted):
    """Free text is not exported: the note says so and the numpy path serves."""
    p = _predictor(fitted["binary"])
    assert p.fast_note.startswith("on: numpy") and "onnxruntime: not compiled" in p.fast_note
    with pytest.raises(Exception, match="text column"):
        OnnxPath(fitted["binary"])
