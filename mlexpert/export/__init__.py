"""Deployment: the whole fitted pipeline as one ONNX graph (``to_onnx``, ``save_onnx``, and
``onnx_inputs`` to feed it), and distillation of an ensemble into one small model (``distill``).

onnx is imported on use; nothing here runs at ``import mlexpert``.
"""
from mlexpert.export._convert import save_onnx, to_onnx
from mlexpert.export._distill import Distilled, distill, munge
from mlexpert.export._inputs import MISSING_CATEGORY, UNSEEN_CATEGORY, category_feed, onnx_inputs

__all__ = ["MISSING_CATEGORY", "UNSEEN_CATEGORY", "Distilled", "category_feed", "distill", "munge",
           "onnx_inputs", "save_onnx", "to_onnx"]
