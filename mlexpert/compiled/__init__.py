"""Fitted preprocessing and models compiled to plain numpy for one row or a few: what the
runtime's compiled path runs, and what the search times to estimate a candidate's latency.
Each model is compiled by its library's adapter (``models.ADAPTERS``)."""
from mlexpert.compiled._numpy import (
    Block,
    Rows,
    Unsupported,
    compile_bag,
    compile_estimator,
    compile_transformer,
)
from mlexpert.compiled._steps import is_plain

__all__ = ["Block", "Rows", "Unsupported", "compile_bag", "compile_estimator",
           "compile_transformer", "is_plain"]
