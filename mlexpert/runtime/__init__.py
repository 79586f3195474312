"""Compiled prediction paths for small batches: numpy preprocessing with the raw booster
(``_numpy``) or the exported ONNX graph on onnxruntime (``_onnx``), each verified against the
Model's own path and chosen by timing (``_choose``). ``Model.predict`` and the service use them."""
from mlexpert.compiled import Rows, Unsupported
from mlexpert.runtime._choose import (
                                      FAST_MAX_ROWS,
                                      ONNX_TOLERANCE,
                                      VERIFY_TOLERANCE,
                                      compile_model,
                                      compile_stages,
                                      fastest,
                                      probe_rows,
                                      reference,
                                      rows_frame,
                                      stored_form,
                                      verify,
)
from mlexpert.runtime._numpy import FastPath
from mlexpert.runtime._onnx import OnnxPath

__all__ = ["FAST_MAX_ROWS", "ONNX_TOLERANCE", "VERIFY_TOLERANCE", "FastPath", "OnnxPath", "Rows",
           "Unsupported", "compile_model", "compile_stages", "fastest", "probe_rows", "reference",
           "rows_frame", "stored_form", "verify"]
